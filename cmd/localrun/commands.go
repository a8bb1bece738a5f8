package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/handler"
	"github.com/atlasvpce/registrar/handler/event"
	"github.com/atlasvpce/registrar/internal/localstack"
)

// stackFlags are the flags of the commands that start a stack.
type stackFlags struct {
	env               []string // extra function environment, set by a scenario
	bootstrap, rie    string
	auth, apiVersion  string
	pendingAcceptance time.Duration
	pending           time.Duration
	timeout           time.Duration
	verbose           bool
}

func (f *stackFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.bootstrap, "bootstrap", "bin/bootstrap", "the Lambda binary (make build)")
	fs.StringVar(&f.rie, "rie", "bin/aws-lambda-rie", "the runtime interface emulator (make tools)")
	fs.StringVar(&f.auth, "auth", string(localstack.AuthDigest), "Atlas credentials in the secret: digest (API key) or oauth (service account)")
	fs.StringVar(&f.apiVersion, "api-version", string(atlas.V2), "Atlas API version the function uses: v2 or v1.0")
	fs.DurationVar(&f.pendingAcceptance, "pending-acceptance", 500*time.Millisecond, "time a new endpoint spends in PENDING_ACCEPTANCE in the Atlas fake")
	fs.DurationVar(&f.pending, "pending", time.Second, "time it then spends in PENDING before AVAILABLE")
	fs.DurationVar(&f.timeout, "timeout", localstack.DefaultFunctionTimeout, "the function timeout (AWS_LAMBDA_FUNCTION_TIMEOUT, whole seconds)")
	fs.BoolVar(&f.verbose, "v", false, "print every log line of the emulator, the function and the Atlas fake as it is")
}

func (f *stackFlags) start(ctx context.Context, con *console) (*localstack.Stack, error) {
	for _, p := range []struct{ path, make string }{{f.bootstrap, "make build"}, {f.rie, "make tools"}} {
		if _, err := os.Stat(p.path); err != nil {
			return nil, fmt.Errorf("%s is missing: run `%s` first (or `make run`, which does both)", p.path, p.make)
		}
	}
	con.line("local", "starting moto_server, the Atlas fake and the runtime emulator …")
	s, err := localstack.Start(ctx, localstack.Options{
		Bootstrap:         f.bootstrap,
		RIE:               f.rie,
		Auth:              localstack.Auth(f.auth),
		APIVersion:        atlas.Version(f.apiVersion),
		PendingAcceptance: f.pendingAcceptance,
		Pending:           f.pending,
		FunctionTimeout:   f.timeout,
		AtlasLogger:       slog.New(&atlasLog{con: con, raw: f.verbose, digest: f.auth != string(localstack.AuthOAuth)}),
		FunctionLog:       &lineWriter{fn: con.functionLine(f.verbose)},
		EmulatorLog:       &lineWriter{fn: con.emulatorLine(f.verbose)},
		QueueLog:          func(msg string) { con.line("local", msg) },
		Env:               f.env,
	})
	if err != nil {
		return nil, err
	}
	con.line("aws", fmt.Sprintf("moto_server %s: %s, subnets %s, endpoint %s", s.MotoURL, s.VPCID, strings.Join(s.SubnetIDs, " "), s.EndpointID))
	con.line("aws", "secret "+s.SecretARN+" ("+describeAuth(s.Auth)+")")
	con.line("atlas", fmt.Sprintf("fake %s: project %s, endpoint service %s (API %s)", s.AtlasURL, s.ProjectID, s.EndpointServiceID, s.APIVersion))
	if s.Auth == localstack.AuthDigest && !f.verbose {
		con.line("atlas", "(the 401 digest challenge before each request is not shown; -v shows every line)")
	}
	con.line("rie", fmt.Sprintf("emulator %s running %s (timeout %s)", s.EmulatorURL, f.bootstrap, f.timeout))
	con.line("local", fmt.Sprintf("invocations go through %s, one at a time (the emulator crashes on overlapping ones)", strings.TrimSuffix(s.InvokeURL, localstack.InvokePath)))
	return s, nil
}

// eventPayload is what to send for the file read from name: the sample
// with its placeholder ids replaced by the seeded ones, or, if the file is
// not JSON, the file as it is, so that the function's own answer shows.
// The second value says which.
func eventPayload(rewrite func([]byte) ([]byte, []localstack.Rewrite, error), name string, raw []byte) ([]byte, string, error) {
	payload, rewrites, err := rewrite(raw)
	switch {
	case errors.Is(err, localstack.ErrNotJSON):
		return raw, "not valid JSON: sent as it is, to see what the function answers", nil
	case err != nil:
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	return payload, describeRewrites(rewrites), nil
}

// ec2WaitNotice says, before an invocation, that it will take a while: a
// registration of an endpoint other than the seeded one, which moto does not
// know, makes the function look for it in EC2 for up to
// awsvpc.DefaultNotFoundWait (EC2 can lag behind CreateVpcEndpoint) before
// it answers "ignored". "" when there is nothing to say.
func ec2WaitNotice(payload []byte, seeded string) string {
	req, err := event.Parse(payload)
	if err != nil || req.Action != event.Register || req.Ignore != "" || req.EndpointID == seeded {
		return ""
	}
	return fmt.Sprintf("%s is not the seeded endpoint: unless it was created in moto, EC2 does not know it, "+
		"and the function looks for it for up to %s before it answers ignored …", req.EndpointID, awsvpc.DefaultNotFoundWait)
}

// describeRewrites says which sample ids were replaced by the seeded ones.
func describeRewrites(rw []localstack.Rewrite) string {
	if len(rw) == 0 {
		return "no sample ids in it: sent as it is"
	}
	parts := make([]string, 0, len(rw))
	for _, r := range rw {
		parts = append(parts, r.From+" → "+r.To)
	}
	return "sample ids replaced by the seeded ones: " + strings.Join(parts, ", ")
}

func describeAuth(a localstack.Auth) string {
	if a == localstack.AuthOAuth {
		return "service account, OAuth2"
	}
	return "API key, HTTP Digest"
}

// cmdRun starts the stack, invokes the function once and prints the outcome.
func cmdRun(ctx context.Context, args []string, out io.Writer) (err error) {
	fs := flag.NewFlagSet("localrun run", flag.ContinueOnError)
	var sf stackFlags
	sf.register(fs)
	event := fs.String("event", "events/create-vpc-endpoint.json", "the event to invoke the function with; the samples' placeholder ids are replaced by the seeded ones")
	scenario := fs.String("scenario", "register", "register: invoke once with -event; lifecycle: register, delete in EC2, deregister, reconcile; data-federation: the same for a Data Federation endpoint")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if *scenario != "register" && *scenario != "lifecycle" && *scenario != "data-federation" {
		fmt.Fprintf(os.Stderr, "localrun run: -scenario %q: want register, lifecycle or data-federation\n", *scenario)
		return exitCode(2)
	}
	raw, err := os.ReadFile(*event)
	if err != nil {
		return err
	}
	con := newConsole(out)
	if *scenario == "data-federation" {
		// The stack's own project serves as the Data Federation project too.
		sf.env = append(sf.env, "ATLAS_DATA_FEDERATION_PROJECT_ID="+atlastest.DefaultProjectID)
	}
	s, err := sf.start(ctx, con)
	if err != nil {
		return interrupted(ctx, err)
	}
	defer func() {
		con.stopping()
		s.Close()
	}()
	switch *scenario {
	case "lifecycle":
		return runLifecycle(ctx, s, con, filepath.Dir(*event))
	case "data-federation":
		return runDataFederation(ctx, s, con, filepath.Dir(*event))
	}

	payload, how, err := eventPayload(s.RewriteSample, *event, raw)
	if err != nil {
		return err
	}
	con.line("lambda", "invoke with "+*event+"; "+how)
	if notice := ec2WaitNotice(payload, s.EndpointID); notice != "" {
		con.line("local", notice)
	}
	body, invokeErr := s.Invoke(ctx, payload)
	if ctx.Err() != nil {
		return interrupted(ctx, invokeErr)
	}
	// The endpoint the function worked on, if it says; else the seeded one.
	var res handler.Result
	_ = json.Unmarshal(body, &res)
	st, stateErr := s.StateOf(ctx, cmp.Or(res.VPCEndpointID, s.EndpointID))
	con.block(func(out io.Writer) {
		fmt.Fprintln(out)
		printResult(out, body, invokeErr)
		if stateErr == nil {
			fmt.Fprintln(out)
			printAtlasState(out, st)
		}
		fmt.Fprintln(out)
		err = verdict(out, body, invokeErr, true)
	})
	return err
}

// interrupted turns the error of an interrupted step into a short message.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.New("interrupted; everything started has been stopped")
	}
	return err
}

// verdict says in one line how the invocation ended. A function error is a
// failure; so is any outcome but registered or already-registered when
// strict (an invoke by hand may well expect "ignored").
func verdict(out io.Writer, body []byte, invokeErr error, strict bool) error {
	if invokeErr != nil {
		var fe *localstack.FunctionError
		if errors.As(invokeErr, &fe) {
			fmt.Fprintf(out, "FAIL  the function returned %s\n", fe.Type)
		} else {
			fmt.Fprintf(out, "FAIL  %v\n", invokeErr)
		}
		return exitCode(1)
	}
	var res handler.Result
	if err := json.Unmarshal(body, &res); err != nil {
		fmt.Fprintf(out, "FAIL  the result is not the function's JSON: %v\n", err)
		return exitCode(1)
	}
	switch res.Outcome {
	case handler.OutcomeRegistered, handler.OutcomeAlreadyRegistered:
		fmt.Fprintf(out, "OK    %s is %s (Atlas status %s)\n", res.VPCEndpointID, res.Outcome, res.ConnectionStatus)
		// AVAILABLE, but what EC2 shows would keep applications out.
		for _, w := range res.Warnings {
			fmt.Fprintf(out, "WARN  %s: %s\n", w.Code, w.Message)
		}
		return nil
	}
	reason := ""
	if res.Reason != "" {
		reason = ": " + res.Reason
	}
	if !strict {
		fmt.Fprintf(out, "OK    outcome %s%s\n", res.Outcome, reason)
		return nil
	}
	fmt.Fprintf(out, "FAIL  outcome %s%s\n", res.Outcome, reason)
	return exitCode(1)
}

func printResult(out io.Writer, body []byte, invokeErr error) {
	fmt.Fprintln(out, "Function result:")
	var pretty bytes.Buffer
	if json.Indent(&pretty, body, "  ", "  ") == nil {
		fmt.Fprintln(out, "  "+pretty.String())
	} else if len(bytes.TrimSpace(body)) > 0 {
		fmt.Fprintln(out, "  "+string(bytes.TrimSpace(body)))
	}
	var fe *localstack.FunctionError
	if invokeErr != nil && !errors.As(invokeErr, &fe) {
		fmt.Fprintln(out, "  error:", invokeErr)
	}
}

func printAtlasState(out io.Writer, st localstack.AtlasState) {
	status := st.ConnectionStatus
	if status == "" {
		status = "not registered"
	}
	if st.ErrorMessage != "" {
		status += " (" + st.ErrorMessage + ")"
	}
	fmt.Fprintln(out, "Atlas (the fake) now:")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  project\t%s\n", st.ProjectID)
	fmt.Fprintf(tw, "  endpoint service\t%s  %s\n", st.EndpointServiceID, st.ServiceStatus)
	fmt.Fprintf(tw, "  service name\t%s\n", st.EndpointServiceName)
	fmt.Fprintf(tw, "  interface endpoint\t%s  %s\n", st.EndpointID, status)
	requests := fmt.Sprintf("%d authenticated (registration POSTs: %d)", st.Authenticated, st.Registrations)
	if n := st.Requests - st.Authenticated; n > 0 {
		requests += fmt.Sprintf("; %d answered 401 (digest challenges or refused)", n)
	}
	fmt.Fprintf(tw, "  requests\t%s\n", requests)
	_ = tw.Flush()
}

// cmdUp starts the stack and keeps it running until interrupted.
func cmdUp(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("localrun up", flag.ContinueOnError)
	var sf stackFlags
	sf.register(fs)
	statePath := fs.String("state", localstack.DefaultStatePath, "where to record the running stack for invoke")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	// One stack at a time: a second would take over the record, and
	// `make invoke` would reach only the newer one.
	if running, err := localstack.ReadState(*statePath); err == nil {
		return fmt.Errorf("another local stack is running (process %d, recorded in %s); "+
			"stop it with Ctrl-C in its terminal (or `kill %d`), then run `make up` again; `make invoke` uses the running one",
			running.PID, *statePath, running.PID)
	}
	con := newConsole(out)
	s, err := sf.start(ctx, con)
	if err != nil {
		return interrupted(ctx, err)
	}
	defer func() {
		_ = os.Remove(*statePath)
		con.stopping()
		s.Close()
	}()
	if err := s.WriteState(*statePath); err != nil {
		return err
	}
	con.block(func(out io.Writer) {
		fmt.Fprintf(out, `
The local stack is up (recorded in %s). In another terminal:

    make invoke                                      # events/create-vpc-endpoint.json
    make invoke EVENT=events/manual-register.json
    make invoke EVENT=events/manual-register-narrow-group.json   # AVAILABLE, with connectivity warnings
    make invoke EVENT=events/create-vpc-endpoint-failed-call.json
    curl -d '{"vpcEndpointId":"%s"}' %s

Invocations run one at a time; one that overlaps another waits its turn.
Activity shows here. Ctrl-C stops everything.

`, *statePath, s.EndpointID, s.InvokeURL)
	})
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if !s.Running() {
				return errors.New("the runtime interface emulator exited; see its output above")
			}
		}
	}
}

// cmdInvoke sends an event to the stack that up is running.
func cmdInvoke(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("localrun invoke", flag.ContinueOnError)
	event := fs.String("event", "events/create-vpc-endpoint.json", "the event to send; the samples' placeholder ids are replaced by the seeded ones, other ids are sent as they are")
	statePath := fs.String("state", localstack.DefaultStatePath, "the record `make up` writes")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	const hint = "run `make up` in another terminal, then `make invoke` here"
	info, err := localstack.ReadState(*statePath)
	if errors.Is(err, localstack.ErrNoState) {
		return fmt.Errorf("%w: %s", err, hint)
	}
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(*event)
	if err != nil {
		return err
	}
	payload, how, err := eventPayload(info.RewriteSample, *event, raw)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "invoking %s with %s\n%s\n\n", strings.TrimSuffix(info.InvokeURL, localstack.InvokePath), *event, how)
	if notice := ec2WaitNotice(payload, info.EndpointID); notice != "" {
		fmt.Fprintf(out, "%s\n\n", notice)
	}
	ctx = localstack.OnQueued(ctx, func() {
		fmt.Fprintf(out, "%s; it starts when that one ends …\n\n", localstack.QueuedNotice)
	})
	body, invokeErr := info.Invoke(ctx, payload)
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	var fe *localstack.FunctionError
	if invokeErr != nil && body == nil && !errors.As(invokeErr, &fe) {
		return fmt.Errorf("%w\nis the stack still running? %s", invokeErr, hint)
	}
	printResult(out, body, invokeErr)
	fmt.Fprintln(out)
	return verdict(out, body, invokeErr, false)
}
