package awsvpc

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// EC2TagsAPI is the part of *ec2.Client that TagEndpoint uses.
type EC2TagsAPI interface {
	CreateTags(ctx context.Context, in *ec2.CreateTagsInput, optFns ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
}

var _ EC2TagsAPI = (*ec2.Client)(nil)

// ErrTagLimit means the endpoint already holds as many tags as EC2 allows
// (50), so new keys cannot be added (TagLimitExceeded).
var ErrTagLimit = errors.New("the resource holds the most tags EC2 allows")

// codeTagLimit is EC2's error code for a resource that has no room for more tags.
const codeTagLimit = "TagLimitExceeded"

// Limits of an EC2 tag.
const (
	MaxTagKeyLen   = 128
	MaxTagValueLen = 256
)

// TagValue makes s a tag value that any AWS service accepts: letters,
// digits and spaces, and + - = . _ : / @ (EC2 itself allows more, but a
// value that other tools copy elsewhere should fit everywhere); any other
// character becomes a space, runs of spaces become one, and the value is
// cut to MaxTagValueLen characters, ending in "..." when cut.
func TagValue(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.TrimSpace(s) {
		if !tagRune(r) {
			r = ' '
		}
		if r == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteRune(r)
	}
	v := strings.TrimSpace(b.String())
	if utf8.RuneCountInString(v) <= MaxTagValueLen {
		return v
	}
	runes := []rune(v)
	return strings.TrimSpace(string(runes[:MaxTagValueLen-3])) + "..."
}

// tagRune reports a character allowed in a tag key or value everywhere.
func tagRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || strings.ContainsRune("+-=._:/@", r)
}

// TagEndpoint sets tags on the VPC endpoint id, overwriting those keys and
// leaving every other tag as it is. Values go through TagValue. A key that is
// empty, too long, starts with the reserved "aws:" or has a character
// TagValue would change is refused before EC2 is called. An endpoint with no
// room for more tags gives an error matching ErrTagLimit.
func (e *Endpoints) TagEndpoint(ctx context.Context, id string, tags map[string]string) error {
	if e.Tags == nil {
		return fmt.Errorf("tag vpc endpoint %s: no EC2 client for tags", id)
	}
	if id == "" || len(tags) == 0 {
		return fmt.Errorf("tag vpc endpoint %q: want an endpoint id and at least one tag", id)
	}
	in := &ec2.CreateTagsInput{Resources: []string{id}}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if k == "" || utf8.RuneCountInString(k) > MaxTagKeyLen || strings.HasPrefix(strings.ToLower(k), "aws:") || strings.IndexFunc(k, func(r rune) bool { return !tagRune(r) }) >= 0 {
			return fmt.Errorf("tag vpc endpoint %s: key %q is not a valid tag key (1 to %d letters, digits, spaces and + - = . _ : / @, not starting with aws:)", id, k, MaxTagKeyLen)
		}
		in.Tags = append(in.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(TagValue(tags[k]))})
	}
	if _, err := e.Tags.CreateTags(ctx, in); err != nil {
		if apiErrorCode(err) == codeTagLimit {
			return fmt.Errorf("tag vpc endpoint %s: %w: %w", id, ErrTagLimit, err)
		}
		return fmt.Errorf("tag vpc endpoint %s: %w", id, err)
	}
	return nil
}
