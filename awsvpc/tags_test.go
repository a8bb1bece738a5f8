package awsvpc_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

func TestTagValue(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 300)
	tests := []struct{ in, want string }{
		{"available", "available"},
		{"2026-12-06T03:25:28Z", "2026-12-06T03:25:28Z"},
		{"a+b-c=d.e_f:g/h@i", "a+b-c=d.e_f:g/h@i"},
		{`Atlas: "No dns entries found", (check subnets); fix it!`, "Atlas: No dns entries found check subnets fix it"},
		{"  two\n\tlines  ", "two lines"},
		{"Zürich 東京", "Zürich 東京"},
		{long, strings.Repeat("é", 253) + "..."},
	}
	for _, tt := range tests {
		got := awsvpc.TagValue(tt.in)
		if got != tt.want {
			t.Errorf("TagValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if n := utf8.RuneCountInString(got); n > awsvpc.MaxTagValueLen {
			t.Errorf("TagValue(%q) has %d characters, more than %d", tt.in, n, awsvpc.MaxTagValueLen)
		}
	}
}

// endpointTags reads the endpoint's tags from moto.
func endpointTags(t *testing.T, cfg aws.Config, id string) map[string]string {
	t.Helper()
	tags, err := motoserver.EndpointTags(context.Background(), cfg, id)
	if err != nil {
		t.Fatal(err)
	}
	return tags
}

func TestTagEndpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := sharedConfig(t)
	client := ec2.NewFromConfig(cfg)
	e := &awsvpc.Endpoints{EC2: client, Tags: client}
	seed := func(t *testing.T) string {
		s, err := motoserver.Seed(ctx, cfg, motoserver.SeedInput{ServiceName: atlasService})
		if err != nil {
			t.Fatal(err)
		}
		return s.EndpointID
	}

	t.Run("sets and overwrites, keeps other tags", func(t *testing.T) {
		t.Parallel()
		id := seed(t)
		if _, err := client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("db")}}}); err != nil {
			t.Fatal(err)
		}
		if err := e.TagEndpoint(ctx, id, map[string]string{"atlas-registrar:status": "pending", "atlas-registrar:message": "x"}); err != nil {
			t.Fatal(err)
		}
		if err := e.TagEndpoint(ctx, id, map[string]string{"atlas-registrar:status": "available", "atlas-registrar:message": "ok (done)"}); err != nil {
			t.Fatal(err)
		}
		got := endpointTags(t, cfg, id)
		want := map[string]string{"Name": "db", "atlas-registrar:status": "available", "atlas-registrar:message": "ok done"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("tags = %v, want %v", got, want)
		}
	})

	t.Run("a full endpoint is ErrTagLimit", func(t *testing.T) {
		t.Parallel()
		id := seed(t)
		var full []ec2types.Tag
		for i := range 50 {
			full = append(full, ec2types.Tag{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String("v")})
		}
		if _, err := client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: full}); err != nil {
			t.Fatal(err)
		}
		err := e.TagEndpoint(ctx, id, map[string]string{"atlas-registrar:status": "available"})
		if !errors.Is(err, awsvpc.ErrTagLimit) {
			t.Fatalf("err = %v, want ErrTagLimit", err)
		}
		if _, ok := endpointTags(t, cfg, id)["atlas-registrar:status"]; ok {
			t.Error("a tag was added to a full endpoint")
		}
	})

	t.Run("bad keys are refused before EC2", func(t *testing.T) {
		t.Parallel()
		calls := 0
		refuse := &awsvpc.Endpoints{Tags: createTagsFunc(func(context.Context, *ec2.CreateTagsInput, ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
			calls++
			return &ec2.CreateTagsOutput{}, nil
		})}
		for _, tags := range []map[string]string{
			{"": "v"}, {"aws:status": "v"}, {"AWS:x": "v"}, {strings.Repeat("k", 129): "v"}, {"a,b": "v"}, {},
		} {
			if err := refuse.TagEndpoint(ctx, "vpce-0123456789abcdef0", tags); err == nil {
				t.Errorf("tags %v accepted", tags)
			}
		}
		if err := refuse.TagEndpoint(ctx, "", map[string]string{"k": "v"}); err == nil {
			t.Error("an empty endpoint id accepted")
		}
		if calls != 0 {
			t.Errorf("CreateTags called %d times", calls)
		}
		if err := (&awsvpc.Endpoints{}).TagEndpoint(ctx, "vpce-0123456789abcdef0", map[string]string{"k": "v"}); err == nil {
			t.Error("tagging without a client succeeded")
		}
	})
}

// createTagsFunc is an EC2TagsAPI made of one function.
type createTagsFunc func(context.Context, *ec2.CreateTagsInput, ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)

func (f createTagsFunc) CreateTags(ctx context.Context, in *ec2.CreateTagsInput, optFns ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	return f(ctx, in, optFns...)
}
