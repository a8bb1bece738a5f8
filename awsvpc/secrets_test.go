package awsvpc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

// privateKey is the sensitive part of every test secret; no error may contain it.
const privateKey = "sup3r-s3cret-pr1vate-key-0f9e8d7c"

func secretJSON() string {
	return `{"publicKey":"abcdefgh","privateKey":"` + privateKey + `"}`
}

func TestSecretJSON(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// createSecret stores a secret named for the test, with a string or binary value.
	createSecret := func(t *testing.T, binary bool) (name, arn string) {
		t.Helper()
		name = motoserver.UniqueName("awsvpc/" + t.Name())
		in := &secretsmanager.CreateSecretInput{Name: aws.String(name)}
		if binary {
			in.SecretBinary = []byte(secretJSON())
		} else {
			in.SecretString = aws.String(secretJSON())
		}
		out, err := secretsmanager.NewFromConfig(sharedConfig(t)).CreateSecret(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return name, aws.ToString(out.ARN)
	}
	// viaProxy returns a client whose first GetSecretValue gets the canned answer.
	viaProxy := func(t *testing.T, status int, body string) (*secretsmanager.Client, *faultProxy) {
		t.Helper()
		p := startFaultProxy(t, motoserver.Shared(t).URL, &faultProxy{
			match: jsonTarget("secretsmanager.GetSecretValue"), faults: 1,
			status: status, ctype: "application/x-amz-json-1.1", body: body,
		})
		return secretsmanager.NewFromConfig(sharedConfig(t), func(o *secretsmanager.Options) {
			o.BaseEndpoint = aws.String(p.URL)
		}), p
	}

	tests := []struct {
		name    string
		setup   func(t *testing.T) (api awsvpc.SecretsAPI, secretID string)
		want    string
		wantErr error // errors.Is must hold; nil with want=="" means some other error
	}{
		{
			name: "by name",
			setup: func(t *testing.T) (awsvpc.SecretsAPI, string) {
				name, _ := createSecret(t, false)
				return secretsmanager.NewFromConfig(sharedConfig(t)), name
			},
			want: secretJSON(),
		},
		{
			name: "by arn",
			setup: func(t *testing.T) (awsvpc.SecretsAPI, string) {
				_, arn := createSecret(t, false)
				return secretsmanager.NewFromConfig(sharedConfig(t)), arn
			},
			want: secretJSON(),
		},
		{
			name: "binary secret",
			setup: func(t *testing.T) (awsvpc.SecretsAPI, string) {
				name, _ := createSecret(t, true)
				return secretsmanager.NewFromConfig(sharedConfig(t)), name
			},
			want: secretJSON(),
		},
		{
			name: "missing secret",
			setup: func(t *testing.T) (awsvpc.SecretsAPI, string) {
				return secretsmanager.NewFromConfig(sharedConfig(t)), "awsvpc/no-such-secret"
			},
			wantErr: awsvpc.ErrSecretNotFound,
		},
		{
			name: "access denied",
			setup: func(t *testing.T) (awsvpc.SecretsAPI, string) {
				name, _ := createSecret(t, false)
				c, p := viaProxy(t, http.StatusBadRequest, `{"__type":"AccessDeniedException","Message":"User: arn:aws:sts::123456789012:assumed-role/registrar/fn is not authorized to perform: secretsmanager:GetSecretValue on resource: `+name+` because no identity-based policy allows the secretsmanager:GetSecretValue action"}`)
				t.Cleanup(func() {
					if n := p.Matched(); n != 1 {
						t.Errorf("proxy saw %d GetSecretValue requests, want 1 (access denied is not retried)", n)
					}
				})
				return c, name
			},
			wantErr: awsvpc.ErrSecretAccessDenied,
		},
		{
			name: "undecodable response holding the value",
			setup: func(t *testing.T) (awsvpc.SecretsAPI, string) {
				name, _ := createSecret(t, false)
				// Cut off mid-value: the decoder fails while reading the secret.
				body := fmt.Sprintf(`{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:x","Name":%q,"SecretString":%q`, name, secretJSON())
				c, _ := viaProxy(t, http.StatusOK, body[:len(body)-5])
				return c, name
			},
		},
		{
			name: "value of the wrong type",
			setup: func(t *testing.T) (awsvpc.SecretsAPI, string) {
				name, _ := createSecret(t, false)
				c, _ := viaProxy(t, http.StatusOK, `{"Name":"x","SecretString":{"privateKey":"`+privateKey+`"}}`)
				return c, name
			},
		},
		{
			name: "response that is the value as a JSON string",
			setup: func(t *testing.T) (awsvpc.SecretsAPI, string) {
				name, _ := createSecret(t, false)
				// The SDK's error for this quotes the token it got instead of '{'.
				c, _ := viaProxy(t, http.StatusOK, fmt.Sprintf("%q", secretJSON()))
				return c, name
			},
		},
		{
			name: "empty id",
			setup: func(t *testing.T) (awsvpc.SecretsAPI, string) {
				return secretsmanager.NewFromConfig(sharedConfig(t)), ""
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api, id := tt.setup(t)
			got, err := (&awsvpc.Secrets{SM: api}).SecretJSON(ctx, id)
			if tt.want != "" {
				if err != nil {
					t.Fatalf("SecretJSON() error = %v", err)
				}
				if !bytes.Equal(got, []byte(tt.want)) {
					t.Errorf("SecretJSON() returned a different value (%d bytes)", len(got))
				}
				return
			}
			if err == nil {
				t.Fatalf("SecretJSON() returned %d bytes, want an error", len(got))
			}
			t.Logf("error: %v", err)
			if got != nil {
				t.Error("SecretJSON() returned a value with its error")
			}
			for _, sentinel := range []error{awsvpc.ErrSecretNotFound, awsvpc.ErrSecretAccessDenied} {
				if want := sentinel == tt.wantErr; errors.Is(err, sentinel) != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", err, sentinel, !want, want)
				}
			}
			if !strings.HasPrefix(err.Error(), "get secret value") || !strings.Contains(err.Error(), id) {
				t.Errorf("error %q does not name the operation and secret id", err)
			}
			for _, format := range []string{"%v", "%+v", "%s", "%q"} {
				if s := fmt.Sprintf(format, err); strings.Contains(s, privateKey) {
					t.Errorf("error formatted with %s contains the secret value: %s", format, s)
				}
			}
		})
	}
}
