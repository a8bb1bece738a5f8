package motoserver

import (
	"context"
	"errors"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// The registrar validates endpoint ids against this pattern, so moto's ids must match it.
var (
	endpointIDRe = regexp.MustCompile(`^vpce-[0-9a-f]{8,17}$`)
	vpcIDRe      = regexp.MustCompile(`^vpc-[0-9a-f]{8,17}$`)
	subnetIDRe   = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
)

func TestStartWithoutMoto(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Start(context.Background(), Options{})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Start() error = %v, want ErrNotInstalled", err)
	}
	if !strings.Contains(err.Error(), `pip install 'moto[server]'`) {
		t.Errorf("error %q does not say how to install moto", err)
	}
}

func TestSeed(t *testing.T) {
	t.Parallel()
	srv := Shared(t)
	ctx := context.Background()
	cfg, err := srv.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   SeedInput
	}{
		{"defaults without secret", SeedInput{}},
		{"atlas service with secret", SeedInput{
			ServiceName: "com.amazonaws.vpce.us-east-1.vpce-svc-0aaaabbbbccccdddd",
			SecretName:  UniqueName("motoserver/TestSeed/secret"),
			SecretJSON:  `{"publicKey":"p","privateKey":"k"}`,
		}},
		{"aws service", SeedInput{ServiceName: "com.amazonaws.us-east-1.secretsmanager"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Seed(ctx, cfg, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !vpcIDRe.MatchString(got.VPCID) || !endpointIDRe.MatchString(got.EndpointID) || len(got.SubnetIDs) != 2 {
				t.Fatalf("Seed() = %+v: unexpected id format", got)
			}
			for _, id := range got.SubnetIDs {
				if !subnetIDRe.MatchString(id) {
					t.Errorf("subnet id %q: unexpected format", id)
				}
			}
			out, err := ec2.NewFromConfig(cfg).DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{got.EndpointID}})
			if err != nil {
				t.Fatal(err)
			}
			ep := out.VpcEndpoints[0]
			wantService := tt.in.ServiceName
			if wantService == "" {
				wantService = DefaultServiceName
			}
			if aws.ToString(ep.VpcId) != got.VPCID || aws.ToString(ep.ServiceName) != wantService || ep.VpcEndpointType != "Interface" || len(ep.SubnetIds) != 2 {
				t.Errorf("endpoint = vpc %s, service %s, type %s, subnets %v", aws.ToString(ep.VpcId), aws.ToString(ep.ServiceName), ep.VpcEndpointType, ep.SubnetIds)
			}
			if tt.in.SecretName == "" {
				if got.SecretARN != "" {
					t.Errorf("SecretARN = %q, want none", got.SecretARN)
				}
				return
			}
			sv, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(got.SecretARN)})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(sv.SecretString) != tt.in.SecretJSON {
				t.Error("secret value differs from SeedInput.SecretJSON")
			}
		})
	}
}

func TestCreateEndpointTypes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := Shared(t).AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seeded, err := Seed(ctx, cfg, SeedInput{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, service, typ string
		subnets            []string
	}{
		{"gateway", "com.amazonaws.us-east-1.s3", "Gateway", nil},
		{"interface for an aws service", "com.amazonaws.us-east-1.kms", "Interface", seeded.SubnetIDs},
		{"interface for a partner service", "aws.api.us-east-1.kendra-ranking", "Interface", seeded.SubnetIDs[:1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := CreateEndpoint(ctx, cfg, seeded.VPCID, tt.subnets, tt.service, tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			if !endpointIDRe.MatchString(id) {
				t.Errorf("endpoint id %q does not match %s", id, endpointIDRe)
			}
		})
	}
}

// TestEnvReachesServer checks that the variable names in Env are the ones
// config.LoadDefaultConfig reads, by resolving clients from the environment alone.
func TestEnvReachesServer(t *testing.T) {
	srv := Shared(t)
	ctx := context.Background()
	cfg, err := srv.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seeded, err := Seed(ctx, cfg, SeedInput{SecretName: UniqueName("motoserver/TestEnvReachesServer"), SecretJSON: "{}"})
	if err != nil {
		t.Fatal(err)
	}

	// Keep the host's AWS settings out of the way.
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}

	envCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ec2c := ec2.NewFromConfig(envCfg)
	smc := secretsmanager.NewFromConfig(envCfg)
	if got := aws.ToString(ec2c.Options().BaseEndpoint); got != srv.URL {
		t.Errorf("EC2 BaseEndpoint = %q, want %q", got, srv.URL)
	}
	if got := aws.ToString(smc.Options().BaseEndpoint); got != srv.URL {
		t.Errorf("Secrets Manager BaseEndpoint = %q, want %q", got, srv.URL)
	}
	if _, err := ec2c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{seeded.VPCID}}); err != nil {
		t.Errorf("DescribeVpcs via env config: %v", err)
	}
	if _, err := smc.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(seeded.SecretARN)}); err != nil {
		t.Errorf("GetSecretValue via env config: %v", err)
	}
}

func TestResetAndSeedRandom(t *testing.T) {
	t.Parallel()
	srv := StartT(t) // its own server: Reset and SeedRandom affect everyone
	ctx := context.Background()
	cfg, err := srv.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ec2c := ec2.NewFromConfig(cfg)
	// Each pass starts from a reset server and makes the same calls after
	// the same seed. moto builds a region's default VPC on first use, which
	// draws random numbers, so touch EC2 before seeding.
	pass := func() *Seeded {
		t.Helper()
		if err := srv.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := ec2c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}); err != nil {
			t.Fatal(err)
		}
		if err := srv.SeedRandom(ctx, 7); err != nil {
			t.Fatal(err)
		}
		s, err := Seed(ctx, cfg, SeedInput{SecretName: "s", SecretJSON: "{}"})
		if err != nil {
			t.Fatal(err) // a second pass fails here if Reset kept the secret
		}
		return s
	}
	first := pass()
	second := pass()
	if first.VPCID != second.VPCID || first.EndpointID != second.EndpointID {
		t.Errorf("ids after the same seed differ: %+v vs %+v", first, second)
	}
	if err := srv.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ec2c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{first.VPCID}}); err == nil {
		t.Error("VPC still exists after Reset")
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	srv, err := Start(context.Background(), Options{StartTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	pid := srv.cmd.Process.Pid
	srv.Close()
	srv.Close() // idempotent
	if processGroupAlive(pid) {
		t.Errorf("process group %d still alive after Close", pid)
	}
	c := &http.Client{Timeout: time.Second}
	if resp, err := c.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Errorf("server still answers after Close")
	}
}
