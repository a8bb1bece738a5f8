package handler

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

// calls is the exact count of authenticated Atlas calls a case must make.
type calls struct{ list, post, delete int }

func (hs *harness) checkCalls(t *testing.T, want calls) {
	t.Helper()
	got := calls{hs.atlasCalls("list"), hs.atlasCalls("post"), hs.atlasCalls("delete")}
	if got != want {
		t.Errorf("atlas calls (list, post, delete) = %+v, want %+v", got, want)
	}
}

// checkClean fails if Atlas holds the endpoint in any state but AVAILABLE:
// nothing may be left REJECTED or half-deleted.
func (hs *harness) checkClean(t *testing.T) {
	t.Helper()
	if ep, ok := hs.fake.Endpoint(atlastest.DefaultServiceID, hs.seeded.EndpointID); ok && ep.ConnectionStatus != atlas.StatusAvailable {
		t.Errorf("endpoint left in Atlas as %+v", ep)
	}
}

func TestAtlasFaults(t *testing.T) {
	t.Parallel()
	big := `{"interfaceEndpointId":"` + strings.Repeat("x", 2<<20) + `"}`
	tests := []struct {
		name     string
		timeout  time.Duration
		inject   func(f *atlastest.Fake)
		want     calls
		wantErr  string // empty: registered
		errorIs  error
		minPolls int
	}{
		{name: "500 on POST then success", inject: func(f *atlastest.Fake) {
			f.InjectFault(atlastest.Fault{Method: "POST", Status: 500})
		}, want: calls{1, 2, 0}},
		{name: "500 on the GET poll", inject: func(f *atlastest.Fake) {
			f.InjectFault(atlastest.Fault{Method: "GET", PathContains: "/vpce-", Status: 500, Times: 2})
		}, want: calls{1, 1, 0}},
		{name: "503 on the service list", inject: func(f *atlastest.Fake) {
			f.InjectFault(atlastest.Fault{Method: "GET", PathContains: "/endpointService", Status: 503})
		}, want: calls{2, 1, 0}},
		{name: "429 without Retry-After", inject: func(f *atlastest.Fake) {
			f.InjectFault(atlastest.Fault{Method: "POST", Status: 429, ErrorCode: "RATE_LIMITED"})
		}, want: calls{1, 2, 0}},
		{name: "connection reset on POST", inject: func(f *atlastest.Fake) {
			f.InjectFault(atlastest.Fault{Method: "POST", ResetConn: true})
		}, want: calls{1, 2, 0}},
		{name: "response slower than the client timeout", timeout: 300 * time.Millisecond, inject: func(f *atlastest.Fake) {
			f.InjectFault(atlastest.Fault{Method: "POST", Delay: time.Second})
		}, want: calls{1, 2, 0}},
		{name: "error message while pending, then success", inject: func(f *atlastest.Fake) {
			f.FailNextWithMessage(1, "Interface endpoint rejected")
		}, want: calls{1, 2, 1}},
		{name: "REJECTED, then a DELETE that fails once", inject: func(f *atlastest.Fake) {
			f.RejectNext(1)
			f.InjectFault(atlastest.Fault{Method: "DELETE", Status: 500})
		}, want: calls{1, 2, 2}},
		{name: "malformed JSON on the first read", inject: func(f *atlastest.Fake) {
			f.InjectFault(atlastest.Fault{Method: "GET", PathContains: "/vpce-", Status: 200, Body: []byte(`{"interfaceEndpointId":`)})
		}, want: calls{1, 0, 0}, wantErr: "AtlasError"},
		{name: "body larger than the limit", inject: func(f *atlastest.Fake) {
			f.InjectFault(atlastest.Fault{Method: "GET", PathContains: "/vpce-", Status: 200, Body: []byte(big)})
		}, want: calls{1, 0, 0}, wantErr: "AtlasError"},
		{name: "404 for the endpoint service", inject: func(f *atlastest.Fake) {
			f.InjectFault(atlastest.Fault{Method: "POST", Status: 404, ErrorCode: "RESOURCE_NOT_FOUND"})
		}, want: calls{1, 1, 0}, wantErr: "AtlasError", errorIs: atlas.ErrNotFound},
		{name: "500 that never ends", inject: func(f *atlastest.Fake) {
			f.InjectFault(atlastest.Fault{Method: "POST", Status: 500, Times: -1})
		}, want: calls{1, 4, 0}, wantErr: "AtlasError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, harnessOptions{timeout: tt.timeout})
			tt.inject(hs.fake.Fake)
			res, err := hs.invoke(hs.event(), 30*time.Second)
			if tt.wantErr == "" {
				if err != nil || res.Outcome != OutcomeRegistered {
					t.Fatalf("Handle() = %+v, %v; want registered", res, err)
				}
			} else {
				if err == nil || errorType(err) != tt.wantErr {
					t.Fatalf("Handle() = %+v, %v; want %s", res, err, tt.wantErr)
				}
				if tt.errorIs != nil && !errors.Is(err, tt.errorIs) {
					t.Errorf("error %v is not %v", err, tt.errorIs)
				}
				if !strings.Contains(err.Error(), hs.seeded.EndpointID) || len(err.Error()) > 4096 {
					t.Errorf("error does not name the endpoint, or is huge: %.300s", err)
				}
			}
			hs.checkCalls(t, tt.want)
			hs.checkClean(t)
			// One lookup, and before each delete (retried DELETEs count once) one look at the companion in EC2.
			if d := hs.aws.count("DescribeVpcEndpoints"); hs.aws.count("GetSecretValue") != 1 || d < 1 || d > 1+tt.want.delete {
				t.Errorf("AWS calls: %d secret, %d describe; want 1 and 1 to %d", hs.aws.count("GetSecretValue"), d, 1+tt.want.delete)
			}
		})
	}
}

// Wrong keys fail fast: one challenge and one refused attempt, no retry storm.
func TestWrongKeysFailFast(t *testing.T) {
	t.Parallel()
	wrong := `{"publicKey":"` + testPublicKey + `","privateKey":"not-the-right-key"}`
	hs := newHarness(t, harnessOptions{secretJSON: &wrong})
	_, err := hs.invoke(hs.event(), 30*time.Second)
	if !errors.Is(err, atlas.ErrUnauthorized) || errorType(err) != "AtlasError" {
		t.Fatalf("Handle() error = %v, want an AtlasError for 401", err)
	}
	if !strings.Contains(err.Error(), "API key") {
		t.Errorf("error %q gives no hint about the key", err)
	}
	if n := len(hs.fake.Requests()); n > 2 {
		t.Errorf("atlas requests = %d, want at most 2 (challenge, refused attempt)", n)
	}
	if n := hs.aws.count("GetSecretValue"); n != 1 {
		t.Errorf("GetSecretValue = %d, want 1 (fresh keys that fail are not refetched)", n)
	}
	if !strings.Contains(hs.logs.String(), `"atlasStatus":401`) {
		t.Errorf("the failure log line lacks the Atlas status:\n%s", hs.logs)
	}
}

func TestProjectNotFound(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{config: func(c *Config) { c.ProjectIDs = []string{"5f00000000000000000000ff"} }})
	_, err := hs.invoke(hs.event(), 30*time.Second)
	if !errors.Is(err, atlas.ErrNotFound) || errorType(err) != "AtlasError" || !strings.Contains(err.Error(), "5f00000000000000000000ff") {
		t.Fatalf("Handle() error = %v, want an AtlasError naming the project", err)
	}
	hs.checkCalls(t, calls{1, 0, 0})
}

// A registration that fails while Atlas is slow to delete: the deadline stops
// the wait, nothing is posted over the half-deleted endpoint, and the retried
// event finishes the job.
func TestStuckDeletingThenResume(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{})
	hs.fake.RejectNext(1)
	hs.fake.HoldDeleting(true)
	_, err := hs.invoke(hs.event(), 2*time.Second)
	de, ok := errors.AsType[*DeadlineError](err)
	if !ok || de.Status != atlas.StatusDeleting || de.Phase != "deleting" {
		t.Fatalf("Handle() error = %#v, want a DeadlineError while deleting", err)
	}
	hs.checkCalls(t, calls{1, 1, 1})

	hs.fake.HoldDeleting(false)
	res, err := hs.invoke(hs.event(), 10*time.Second)
	if err != nil || res.Outcome != OutcomeRegistered {
		t.Fatalf("retried Handle() = %+v, %v", res, err)
	}
	hs.checkCalls(t, calls{1, 2, 1})
}

func TestAWSFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("endpoint deleted between the event and the lookup", func(t *testing.T) {
		t.Parallel()
		hs := newHarness(t, harnessOptions{})
		if _, err := ec2.NewFromConfig(hs.awsCfg).DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{hs.seeded.EndpointID}}); err != nil {
			t.Fatal(err)
		}
		res, err := hs.invoke(hs.event(), 30*time.Second)
		if err != nil || res.Outcome != OutcomeIgnored || !strings.Contains(res.Reason, "deleted") {
			t.Fatalf("Handle() = %+v, %v; want ignored (deleted)", res, err)
		}
		if len(hs.fake.Requests()) != 0 {
			t.Errorf("atlas requests = %d, want 0", len(hs.fake.Requests()))
		}
	})

	t.Run("secret access denied", func(t *testing.T) {
		t.Parallel()
		hs := newHarness(t, harnessOptions{})
		hs.aws.inject("GetSecretValue", awsFault{status: 400,
			header: map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amzn-Errortype": "AccessDeniedException"},
			body:   `{"__type":"AccessDeniedException","Message":"User is not authorized to perform: secretsmanager:GetSecretValue"}`})
		_, err := hs.invoke(hs.event(), 30*time.Second)
		if _, ok := errors.AsType[*CredentialsError](err); !ok || !strings.Contains(err.Error(), hs.seeded.SecretARN) {
			t.Fatalf("Handle() error = %v, want a CredentialsError naming the secret", err)
		}
		if hs.aws.count("GetSecretValue") != 1 || len(hs.fake.Requests()) != 0 {
			t.Errorf("secret calls %d, atlas requests %d; want 1, 0", hs.aws.count("GetSecretValue"), len(hs.fake.Requests()))
		}
	})

	t.Run("throttled DescribeVpcEndpoints is retried by the SDK", func(t *testing.T) {
		t.Parallel()
		hs := newHarness(t, harnessOptions{})
		hs.aws.inject("DescribeVpcEndpoints", awsFault{status: 503, header: map[string]string{"Content-Type": "text/xml"},
			body: `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r-1</RequestID></Response>`})
		res, err := hs.invoke(hs.event(), 30*time.Second)
		if err != nil || res.Outcome != OutcomeRegistered {
			t.Fatalf("Handle() = %+v, %v", res, err)
		}
		if n := hs.aws.count("DescribeVpcEndpoints"); n != 2 {
			t.Errorf("DescribeVpcEndpoints HTTP calls = %d, want 2 (throttled, then retried)", n)
		}
	})

	t.Run("secret rotated between invocations", func(t *testing.T) {
		t.Parallel()
		hs := newHarness(t, harnessOptions{})
		if res, err := hs.invoke(hs.event(), 30*time.Second); err != nil || res.Outcome != OutcomeRegistered {
			t.Fatalf("first Handle() = %+v, %v", res, err)
		}
		const newPublic, newPrivate = "pubkey-rotated-5d2a", "PRIVATE-rotated-9b74e1c0aa"
		secretValues := append(secretValues, newPrivate)
		if _, err := secretsmanager.NewFromConfig(hs.awsCfg).PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(hs.seeded.SecretARN), SecretString: aws.String(`{"publicKey":"` + newPublic + `","privateKey":"` + newPrivate + `"}`),
		}); err != nil {
			t.Fatal(err)
		}
		hs.fake.SetAPIKeys(map[string]string{newPublic: newPrivate})
		hs.fake.ResetRequests()

		res, err := hs.invoke(hs.event(), 30*time.Second)
		if err != nil || res.Outcome != OutcomeAlreadyRegistered {
			t.Fatalf("after rotation Handle() = %+v, %v; want already-registered", res, err)
		}
		if n := hs.aws.count("GetSecretValue"); n != 2 {
			t.Errorf("GetSecretValue = %d, want 2 (cached, then refetched once on 401)", n)
		}
		if !strings.Contains(hs.logs.String(), "fetching the secret again") {
			t.Errorf("no log line about refetching the secret")
		}
		for _, v := range secretValues {
			if strings.Contains(hs.logs.String(), v) {
				t.Errorf("logs contain a secret value")
			}
		}
	})
}

// A full registration and a full failure, with known secret values, for each
// kind of credentials: no log line, error or result may contain a secret.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	for _, oauth := range []bool{false, true} {
		t.Run(map[bool]string{false: "digest", true: "oauth"}[oauth], func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, harnessOptions{oauth: oauth})
			var seen []string
			res, err := hs.invoke(hs.event(), 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(res)
			seen = append(seen, string(b))

			// The failure path, on a second endpoint in the same warm container.
			second, err := motoserver.CreateEndpoint(context.Background(), hs.awsCfg, hs.seeded.VPCID, hs.seeded.SubnetIDs, atlastest.DefaultEndpointServiceName, "Interface")
			if err != nil {
				t.Fatal(err)
			}
			hs.fake.RejectNext(3)
			_, failErr := hs.invoke([]byte(`{"vpcEndpointId":"`+second+`"}`), 30*time.Second)
			if _, ok := errors.AsType[*RegistrationFailedError](failErr); !ok {
				t.Fatalf("want the failure path to fail, got %v", failErr)
			}
			seen = append(seen, failErr.Error(), hs.logs.String())
			if !strings.Contains(hs.logs.String(), "delete-and-give-up") {
				t.Fatal("the captured logs do not cover the failure path")
			}

			for i, s := range seen {
				checkNoSecrets(t, []string{"result", "error", "logs"}[i], s)
			}
		})
	}
}

// Every failure path logs a structured line that names the endpoint, the
// project and what happens next; Atlas failures add its status.
func TestFailureLinesAreComplete(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		setup  func(hs *harness)
		budget time.Duration
	}{
		{"rejected every time", func(hs *harness) { hs.fake.RejectNext(3) }, 30 * time.Second},
		{"transient 500", func(hs *harness) { hs.fake.InjectFault(atlastest.Fault{Method: "POST", Status: 500}) }, 30 * time.Second},
		{"deadline while pending", func(hs *harness) { hs.fake.HoldPending(true) }, 1500 * time.Millisecond},
		{"404 on POST", func(hs *harness) {
			hs.fake.InjectFault(atlastest.Fault{Method: "POST", Status: 404, ErrorCode: "RESOURCE_NOT_FOUND"})
		}, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, harnessOptions{})
			tt.setup(hs)
			_, _ = hs.invoke(hs.event(), tt.budget)
			failures := 0
			for _, l := range hs.logLines() {
				if l["level"] != "WARN" && l["level"] != "ERROR" {
					continue
				}
				failures++
				for _, k := range []string{"vpcEndpointId", "projectId", "next"} {
					if s, _ := l[k].(string); s == "" {
						t.Errorf("%q line lacks %s: %v", l["msg"], k, l)
					}
				}
				_, hasAtlasStatus := l["atlasStatus"]
				_, hasConnStatus := l["connectionStatus"]
				if !hasAtlasStatus && !hasConnStatus {
					t.Errorf("%q line has neither atlasStatus nor connectionStatus: %v", l["msg"], l)
				}
				if _, ok := l["attempt"]; !ok && l["msg"] != "atlas call failed; retrying" {
					if _, ok := l["attempts"]; !ok {
						t.Errorf("%q line lacks the attempt count: %v", l["msg"], l)
					}
				}
			}
			if failures == 0 {
				t.Fatalf("no failure line logged:\n%s", hs.logs)
			}
		})
	}
}
