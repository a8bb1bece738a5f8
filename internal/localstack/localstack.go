// Package localstack runs the registrar end to end on one machine: the real
// Lambda binary (bin/bootstrap) under the AWS Lambda Runtime Interface
// Emulator, talking to moto_server for EC2 and Secrets Manager and to the
// Atlas fake (atlas/atlastest) over HTTP, all on loopback.
//
// Start seeds the AWS side (a VPC, two subnets, the Atlas credentials secret
// and an Interface endpoint for the fake's endpoint service), serves the
// fake, starts the emulator and returns a Stack to invoke. The end-to-end
// tests of cmd/registrar and the `make run`, `make up` and `make invoke`
// targets (cmd/localrun) use it.
//
// Every child process runs in its own process group, which Close kills; the
// emulator starts the function in a group of its own, which Close kills too.
// On Linux moto_server and the emulator also die with this process if it
// dies without Close; the function then ends with its current invocation at
// the latest, when it finds its Runtime API gone.
//
// How the emulator (the version the Makefile pins) behaves:
//   - It starts the function on the first invocation and keeps the process
//     for the next ones, after a function error too: like a warm Lambda
//     container, caches (credentials, tokens) survive between invocations.
//   - AWS_LAMBDA_FUNCTION_TIMEOUT (whole seconds; default 300) is both the
//     deadline in the function's context and when the emulator gives up: it
//     kills the function, answers HTTP 200 "Task timed out after N.00
//     seconds", and starts a new process (a cold start) on the next invocation.
//   - A function error is HTTP 200 with Lambda's {"errorType","errorMessage"}
//     body and no X-Amz-Function-Error header; an init failure is HTTP 502
//     with an empty body, and the next invocation runs init again.
//   - It serves one invocation at a time and crashes on a concurrent one, so
//     the stack fronts it with a queue (Info.InvokeURL) that passes on one
//     invocation at a time, whoever sends them.
//   - With AWS_LAMBDA_MAX_CONCURRENCY set it runs in its Lambda Managed
//     Instances mode instead, which serves invocations at once but starts
//     the function only from /var/runtime, /var/task or /opt: the stack does
//     not use it.
//   - It writes the function's output to its stdout, and its own log (and
//     its own crashes) to its stderr.
//   - Its answer can come before the function's output for that invocation
//     has been read from the pipe; its REPORT line, for a result, an error
//     or a timeout, always comes after that output. The queue passes an
//     answer on once the invocation's REPORT line has been read.
package localstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
	"github.com/atlasvpce/registrar/internal/motoserver"
	"github.com/atlasvpce/registrar/internal/proc"
)

// Auth selects the kind of Atlas credentials in the secret.
type Auth string

const (
	// AuthDigest is a programmatic API key, {"publicKey","privateKey"}, sent with HTTP Digest.
	AuthDigest Auth = "digest"
	// AuthOAuth is a service account, {"clientId","clientSecret"}, sent as OAuth2 client credentials.
	AuthOAuth Auth = "oauth"
)

// Defaults for Options.
const (
	DefaultFunctionTimeout = 30 * time.Second
	DefaultDeadlineMargin  = time.Second
	DefaultPollInitial     = 200 * time.Millisecond
	DefaultPollMax         = time.Second
	defaultStartTimeout    = 30 * time.Second
)

// Options configure Start. Bootstrap and RIE are required.
type Options struct {
	Bootstrap string // the Lambda binary (bin/bootstrap)
	RIE       string // aws-lambda-rie

	// Moto is a running moto_server to seed, for example motoserver.Shared in
	// tests; the stack seeds its own VPC and a uniquely named secret in it and
	// Close leaves it running. Nil: Start runs its own and Close stops it.
	Moto    *motoserver.Server
	MotoLog io.Writer // moto_server's output when Start runs it; nil discards it

	Auth       Auth          // default AuthDigest
	APIVersion atlas.Version // ATLAS_API_VERSION; default atlas.V2
	// Projects are further Atlas projects the fake serves with the same
	// credentials; give the function ATLAS_PROJECT_IDS through Env.
	Projects []atlastest.Project
	// ServiceName is the endpoint service's AWS name on both sides. Default
	// atlastest.DefaultEndpointServiceName. Stacks that reconcile on a shared
	// moto_server need names of their own: reconcile lists endpoints by name.
	ServiceName string

	// PendingAcceptance and Pending are the fake's step delays (zero: the
	// fake's default, 50ms; negative: none).
	PendingAcceptance, Pending time.Duration
	// AtlasLogger receives the fake's lines: one per request and per status change.
	AtlasLogger *slog.Logger

	// FunctionTimeout is AWS_LAMBDA_FUNCTION_TIMEOUT, rounded up to whole
	// seconds: the deadline the emulator gives each invocation. Default 30s.
	FunctionTimeout time.Duration
	// DeadlineMargin is the function's DEADLINE_MARGIN. Default 1s.
	DeadlineMargin time.Duration
	// Env holds extra KEY=value pairs for the function; they override the
	// stack's (for example "ATLAS_POLL_MAX=2s"). The function sees this
	// process's environment without its AWS_* and ATLAS_* variables, so
	// nothing on the host can point it at a real account.
	Env []string
	// Unset names variables the function does not get at all, even those
	// the stack sets: for example AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY, for a function whose credentials come from a
	// container credential endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI in
	// Env) as SnapStart and Lambda Managed Instances give them.
	Unset []string
	// FunctionLog receives the function's stdout and stderr, with the
	// emulator's START, END and REPORT lines about each invocation. Nil
	// discards it.
	FunctionLog io.Writer
	// EmulatorLog receives the emulator's own log lines, and its crash
	// output if it crashes. Nil: they go to FunctionLog.
	EmulatorLog io.Writer
	// QueueLog, if set, is told when an invocation waits for another.
	QueueLog func(msg string)

	// StartTimeout bounds Start. Default 30s.
	StartTimeout time.Duration
}

// Stack is a running local stack. Its Info says where things are and which
// ids were seeded; Invoke and RewriteEvent come with it.
type Stack struct {
	Info
	// Fake is the Atlas fake: inspect its requests, inject faults, hold states.
	Fake *atlastest.Fake
	// Moto is the moto_server the stack seeded.
	Moto *motoserver.Server

	ownMoto   bool
	atlas     *AtlasServer
	emu       *emulator
	queue     *invokeQueue
	closeOnce sync.Once
}

// Start starts the stack. On error everything started so far is stopped.
func Start(ctx context.Context, opts Options) (s *Stack, err error) {
	if err := checkExecutable("lambda binary", opts.Bootstrap); err != nil {
		return nil, err
	}
	if err := checkExecutable("runtime interface emulator", opts.RIE); err != nil {
		return nil, err
	}
	// Absolute, because the emulator runs in the function's directory.
	bootstrap, err := filepath.Abs(opts.Bootstrap)
	if err != nil {
		return nil, err
	}
	rie, err := filepath.Abs(opts.RIE)
	if err != nil {
		return nil, err
	}
	if opts.Auth == "" {
		opts.Auth = AuthDigest
	}
	if opts.Auth != AuthDigest && opts.Auth != AuthOAuth {
		return nil, fmt.Errorf("localstack: Auth %q: want %q or %q", opts.Auth, AuthDigest, AuthOAuth)
	}
	if opts.APIVersion == "" {
		opts.APIVersion = atlas.V2
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = defaultStartTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	s = &Stack{Moto: opts.Moto}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()

	if s.Moto == nil {
		if s.Moto, err = motoserver.Start(ctx, motoserver.Options{Log: opts.MotoLog}); err != nil {
			return s, err
		}
		s.ownMoto = true
	}
	awsCfg, err := s.Moto.AWSConfig(ctx)
	if err != nil {
		return s, err
	}
	if opts.ServiceName == "" {
		opts.ServiceName = atlastest.DefaultEndpointServiceName
	}
	secretJSON, fakeOpts := credentials(opts.Auth)
	fakeOpts.Services = []atlas.EndpointService{{ID: atlastest.DefaultServiceID, EndpointServiceName: opts.ServiceName}}
	fakeOpts.Projects = opts.Projects
	seeded, err := motoserver.Seed(ctx, awsCfg, motoserver.SeedInput{
		ServiceName: opts.ServiceName,
		SecretName:  "localstack/atlas-" + randomHex(6),
		SecretJSON:  secretJSON,
	})
	if err != nil {
		return s, err
	}
	narrow, err := seedNarrowEndpoint(ctx, awsCfg, seeded, opts.ServiceName)
	if err != nil {
		return s, err
	}

	fakeOpts.PendingAcceptance, fakeOpts.Pending = opts.PendingAcceptance, opts.Pending
	fakeOpts.Logger = opts.AtlasLogger
	if s.atlas, err = ServeAtlas("127.0.0.1:0", fakeOpts); err != nil {
		return s, err
	}
	s.Fake = s.atlas.Fake

	s.Info = Info{
		AtlasURL:            s.atlas.URL,
		MotoURL:             s.Moto.URL,
		Auth:                opts.Auth,
		APIVersion:          string(opts.APIVersion),
		ProjectID:           s.Fake.ProjectID(),
		EndpointServiceID:   atlastest.DefaultServiceID,
		EndpointServiceName: opts.ServiceName,
		VPCID:               seeded.VPCID,
		SubnetIDs:           seeded.SubnetIDs,
		EndpointID:          seeded.EndpointID,
		NarrowEndpointID:    narrow,
		SecretARN:           seeded.SecretARN,
		PID:                 os.Getpid(),
	}

	env := slices.DeleteFunc(functionEnv(os.Environ(), append(s.functionVars(opts), opts.Env...)), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(opts.Unset, k)
	})
	emulatorLog := opts.EmulatorLog
	if emulatorLog == nil {
		emulatorLog = opts.FunctionLog
	}
	if s.emu, err = startEmulator(ctx, rie, bootstrap, env, opts.FunctionLog, emulatorLog); err != nil {
		return s, err
	}
	s.EmulatorURL = "http://" + s.emu.addr
	// The emulator ends a run at the function timeout; the queue waits longer
	// only if the emulator hangs.
	if s.queue, err = startInvokeQueue(s.EmulatorURL, functionTimeout(opts)+time.Minute, opts.QueueLog, s.emu.reports); err != nil {
		return s, err
	}
	s.InvokeURL = s.queue.URL + InvokePath
	return s, nil
}

// seedNarrowEndpoint creates a second endpoint of the service that Atlas
// accepts but applications could not use: one subnet, so one zone, and a
// security group that lets in TCP 27017 only, where Atlas may use any port
// from 1024 to 65535. Its registration shows the connectivity warnings.
func seedNarrowEndpoint(ctx context.Context, cfg aws.Config, seeded *motoserver.Seeded, serviceName string) (string, error) {
	sg, err := motoserver.CreateSecurityGroup(ctx, cfg, seeded.VPCID, motoserver.Ingress{FromPort: 27017, ToPort: 27017})
	if err != nil {
		return "", err
	}
	return motoserver.CreateEndpoint(ctx, cfg, seeded.VPCID, seeded.SubnetIDs[:1], serviceName, "Interface", sg)
}

// functionVars is the function's configuration, as template.yaml sets it in
// Lambda, pointed at the local stand-ins.
func (s *Stack) functionVars(opts Options) []string {
	fnTimeout := functionTimeout(opts)
	margin := opts.DeadlineMargin
	if margin <= 0 {
		margin = DefaultDeadlineMargin
	}
	return append(s.Moto.Env(),
		"AWS_LAMBDA_FUNCTION_NAME=atlas-vpce-registrar-local",
		"AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(int(math.Ceil(fnTimeout.Seconds()))),
		"AWS_LAMBDA_LOG_FORMAT=JSON",
		"ATLAS_PROJECT_ID="+s.ProjectID,
		"ATLAS_SECRET_ID="+s.SecretARN,
		"ATLAS_BASE_URL="+s.AtlasURL,
		"ATLAS_API_VERSION="+s.APIVersion,
		"ATLAS_POLL_INITIAL="+DefaultPollInitial.String(),
		"ATLAS_POLL_MAX="+DefaultPollMax.String(),
		"DEADLINE_MARGIN="+margin.String(),
	)
}

func functionTimeout(opts Options) time.Duration {
	if opts.FunctionTimeout <= 0 {
		return DefaultFunctionTimeout
	}
	return opts.FunctionTimeout
}

// credentials returns the secret's JSON and the fake's options accepting it.
func credentials(auth Auth) (string, atlastest.Options) {
	var secret map[string]string
	var opts atlastest.Options
	if auth == AuthOAuth {
		secret = map[string]string{"clientId": TestClientID, "clientSecret": TestClientSecret}
		opts.Clients = map[string]string{TestClientID: TestClientSecret}
	} else {
		secret = map[string]string{"publicKey": TestPublicKey, "privateKey": TestPrivateKey}
		opts.APIKeys = map[string]string{TestPublicKey: TestPrivateKey}
	}
	b, _ := json.Marshal(secret) // a map of strings always marshals
	return string(b), opts
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// FunctionEnviron is the environment of the function's process as the
// kernel holds it (/proc/PID/environ, Linux only): what the function was
// really started with, after the emulator added its own variables. The
// emulator starts the function on the first invocation.
func (s *Stack) FunctionEnviron() ([]string, error) {
	if s.emu == nil {
		return nil, errors.New("localstack: the stack did not start")
	}
	kids, err := proc.Children(s.emu.cmd.Process.Pid)
	if err != nil {
		return nil, fmt.Errorf("localstack: find the function's process: %w", err)
	}
	if len(kids) != 1 {
		return nil, fmt.Errorf("localstack: the emulator has %d child processes, want its one function", len(kids))
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(kids[0]), "environ"))
	if err != nil {
		return nil, fmt.Errorf("localstack: read the function's environment: %w", err)
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), nil
}

// Running reports whether the emulator is still up.
func (s *Stack) Running() bool { return s.emu != nil && s.emu.running() }

// Close stops the emulator (and the function under it), the Atlas fake, and
// moto_server if Start started it, and returns once they have exited. It is
// safe to call more than once.
func (s *Stack) Close() {
	s.closeOnce.Do(func() {
		if s.queue != nil {
			s.queue.close()
		}
		if s.emu != nil {
			s.emu.stop()
		}
		if s.atlas != nil {
			s.atlas.Close()
		}
		if s.ownMoto && s.Moto != nil {
			s.Moto.Close()
		}
	})
}

// AtlasState is what the Atlas side knows about the seeded endpoint.
type AtlasState struct {
	ProjectID           string
	EndpointServiceID   string
	EndpointServiceName string
	ServiceStatus       string
	EndpointID          string
	ConnectionStatus    string // "" when Atlas does not know the endpoint
	ErrorMessage        string
	DeleteRequested     bool
	Requests            int // every request the fake received, digest challenges included
	Authenticated       int // requests that passed authentication (token requests included)
	Registrations       int // authenticated POSTs that add an interface endpoint or a Data Federation entry
}

// NewEndpoint creates another Interface endpoint for the stack's endpoint
// service in its VPC, as someone creating one in AWS would; no event is sent.
func (s *Stack) NewEndpoint(ctx context.Context) (string, error) {
	cfg, err := s.Moto.AWSConfig(ctx)
	if err != nil {
		return "", err
	}
	return motoserver.CreateEndpoint(ctx, cfg, s.VPCID, s.SubnetIDs, s.EndpointServiceName, "Interface")
}

// DeleteEndpoint deletes a VPC endpoint in moto; no event is sent.
func (s *Stack) DeleteEndpoint(ctx context.Context, id string) error {
	cfg, err := s.Moto.AWSConfig(ctx)
	if err != nil {
		return err
	}
	if _, err := ec2.NewFromConfig(cfg).DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id}}); err != nil {
		return fmt.Errorf("delete vpc endpoint %s: %w", id, err)
	}
	return nil
}

// State reads the Atlas side from the fake directly, so it adds no request
// to the fake's log.
func (s *Stack) State(ctx context.Context) (AtlasState, error) {
	return s.StateOf(ctx, s.EndpointID)
}

// StateOf is State for another endpoint of the service, such as the one the
// invocation registered.
func (s *Stack) StateOf(ctx context.Context, endpointID string) (AtlasState, error) {
	if err := ctx.Err(); err != nil {
		return AtlasState{}, err
	}
	if s.Fake == nil {
		return AtlasState{}, errors.New("localstack: the stack did not start")
	}
	st := AtlasState{
		ProjectID:         s.ProjectID,
		EndpointServiceID: s.EndpointServiceID,
		EndpointID:        endpointID,
	}
	for _, svc := range s.Fake.Services() {
		if svc.ID == s.EndpointServiceID {
			st.EndpointServiceName, st.ServiceStatus = svc.EndpointServiceName, svc.Status
		}
	}
	if ep, ok := s.Fake.Endpoint(s.EndpointServiceID, endpointID); ok {
		st.ConnectionStatus, st.ErrorMessage, st.DeleteRequested = ep.ConnectionStatus, ep.ErrorMessage, ep.DeleteRequested
	}
	reqs := s.Fake.Requests()
	st.Requests = len(reqs)
	for _, r := range reqs {
		if !r.Authenticated {
			continue
		}
		st.Authenticated++
		if IsRegistration(r) {
			st.Registrations++
		}
	}
	return st, nil
}

// IsRegistration reports whether r is an authenticated request to add an
// interface endpoint (POST …/endpoint in v2, …/interfaceEndpoints in v1.0)
// or a Data Federation entry (POST …/privateNetworkSettings/endpointIds).
func IsRegistration(r atlastest.Request) bool {
	return r.Authenticated && r.Method == http.MethodPost &&
		(strings.HasSuffix(r.Path, "/endpoint") || strings.HasSuffix(r.Path, "/interfaceEndpoints") ||
			strings.HasSuffix(r.Path, "/privateNetworkSettings/endpointIds"))
}
