package handler

import (
	"regexp"
	"strings"
	"testing"
)

// secretIDPattern is the expression validSecretID replaces. It stays here as
// the definition of the accepted set: the new check must accept exactly what
// it accepts.
var secretIDPattern = regexp.MustCompile(`^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}$`)

const testARNPrefix = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"

func TestValidSecretIDMatchesPattern(t *testing.T) {
	t.Parallel()
	name512 := strings.Repeat("a", 512)
	tests := []struct {
		name string
		id   string
		want bool
	}{
		{"short name", "a", true},
		{"name with every allowed punctuation", "atlas/reg_1+x=y.z@w-v", true},
		{"name of 512", name512, true},
		{"name of 513", name512 + "a", false},
		{"name of 512 with ARN prefix", testARNPrefix + name512, true},
		{"name of 513 with ARN prefix", testARNPrefix + name512 + "a", false},
		{"empty", "", false},
		{"space", "my secret", false},
		{"non-ASCII letter", "atlas/régistrar", false},
		{"invalid UTF-8", "atlas\xff", false},
		{"newline at end", "atlas\n", false},
		{"NUL", "atlas\x00", false},
		{"colon in name", "atlas:registrar", false},
		{"ARN", testARNPrefix + "atlas/registrar-AbCdEf", true},
		{"ARN, China partition", "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x", true},
		{"ARN, GovCloud partition", "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x", true},
		{"ARN, empty name", testARNPrefix, false},
		{"ARN, name with colon", testARNPrefix + "a:b", false},
		{"ARN, upper-case partition", "arn:AWS:secretsmanager:us-east-1:123456789012:secret:x", false},
		{"ARN, other partition word", "arn:awz:secretsmanager:us-east-1:123456789012:secret:x", false},
		{"ARN, partition with digit", "arn:aws1:secretsmanager:us-east-1:123456789012:secret:x", false},
		{"ARN, other service", "arn:aws:ssm:us-east-1:123456789012:secret:x", false},
		{"ARN, empty region", "arn:aws:secretsmanager::123456789012:secret:x", false},
		{"ARN, upper-case region", "arn:aws:secretsmanager:US-EAST-1:123456789012:secret:x", false},
		{"ARN, 11-digit account", "arn:aws:secretsmanager:us-east-1:12345678901:secret:x", false},
		{"ARN, 13-digit account", "arn:aws:secretsmanager:us-east-1:1234567890123:secret:x", false},
		{"ARN, letter in account", "arn:aws:secretsmanager:us-east-1:12345678901a:secret:x", false},
		{"ARN, other resource type", "arn:aws:secretsmanager:us-east-1:123456789012:secrets:x", false},
		{"ARN, extra field", "arn:aws:secretsmanager:us-east-1:123456789012:extra:secret:x", false},
		{"ARN, missing arn", "aws:secretsmanager:us-east-1:123456789012:secret:x", false},
		{"ARN, leading space", " " + testARNPrefix + "x", false},
		{"ARN twice", testARNPrefix + testARNPrefix + "x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if old := secretIDPattern.MatchString(tt.id); old != tt.want {
				t.Fatalf("the expression gives %v for %q; the table is wrong", old, tt.id)
			}
			if got := validSecretID(tt.id); got != tt.want {
				t.Errorf("validSecretID(%q) = %v, want %v as the expression", tt.id, got, tt.want)
			}
		})
	}
}

// FuzzValidSecretID checks validSecretID against the expression on any input.
func FuzzValidSecretID(f *testing.F) {
	for _, s := range []string{"a", "atlas/registrar", testARNPrefix + "x", "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x",
		"arn:aws:secretsmanager::123456789012:secret:x", "a:b", "", "\xff", strings.Repeat("a", 513)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := validSecretID(id), secretIDPattern.MatchString(id); got != want {
			t.Errorf("validSecretID(%q) = %v, the expression says %v", id, got, want)
		}
	})
}
