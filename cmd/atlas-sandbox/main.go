// Command atlas-sandbox serves the Atlas Administration API fake
// (atlas/atlastest) on a loopback address, for trying the atlas client, the
// function or curl against something that behaves like Atlas's private
// endpoint routes. It prints its URL and logs every request to stderr.
//
//	go run ./cmd/atlas-sandbox -addr 127.0.0.1:8088 -pending 5s
//
// Without credential flags it accepts the well-known test API key and
// service account of internal/localstack. It refuses non-loopback addresses:
// the fake is not an authentication boundary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/atlasvpce/registrar/atlas/atlastest"
	"github.com/atlasvpce/registrar/internal/localstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "atlas-sandbox:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("atlas-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on (port 0 picks a free one)")
	projectID := fs.String("project-id", atlastest.DefaultProjectID, "the project the fake serves (24 hex digits)")
	publicKey := fs.String("public-key", "", "API key public part, for HTTP Digest (with -private-key)")
	privateKey := fs.String("private-key", "", "API key private part")
	clientID := fs.String("client-id", "", "service account client id, for OAuth2 (with -client-secret)")
	clientSecret := fs.String("client-secret", "", "service account client secret")
	pendingAcceptance := fs.Duration("pending-acceptance", atlastest.DefaultStepDelay, "time a new interface endpoint spends in PENDING_ACCEPTANCE (negative: none)")
	pending := fs.Duration("pending", atlastest.DefaultStepDelay, "time it then spends in PENDING before AVAILABLE (negative: none)")
	deleteDelay := fs.Duration("delete-delay", atlastest.DefaultStepDelay, "time a deleted endpoint reads DELETING before it is gone (negative: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if (*publicKey == "") != (*privateKey == "") {
		return errors.New("-public-key and -private-key go together")
	}
	if (*clientID == "") != (*clientSecret == "") {
		return errors.New("-client-id and -client-secret go together")
	}

	opts := atlastest.Options{
		ProjectID:         *projectID,
		APIKeys:           map[string]string{},
		Clients:           map[string]string{},
		PendingAcceptance: nonZero(*pendingAcceptance),
		Pending:           nonZero(*pending),
		DeleteDelay:       nonZero(*deleteDelay),
		Logger:            slog.New(slog.NewTextHandler(stderr, nil)),
	}
	var creds []string
	if *publicKey == "" && *clientID == "" {
		opts.APIKeys[localstack.TestPublicKey] = localstack.TestPrivateKey
		opts.Clients[localstack.TestClientID] = localstack.TestClientSecret
		creds = append(creds,
			fmt.Sprintf("API key           %s / %s (HTTP Digest)", localstack.TestPublicKey, localstack.TestPrivateKey),
			fmt.Sprintf("service account   %s / %s (OAuth2)", localstack.TestClientID, localstack.TestClientSecret))
	}
	if *publicKey != "" {
		opts.APIKeys[*publicKey] = *privateKey
		creds = append(creds, fmt.Sprintf("API key           %s / (as given) (HTTP Digest)", *publicKey))
	}
	if *clientID != "" {
		opts.Clients[*clientID] = *clientSecret
		creds = append(creds, fmt.Sprintf("service account   %s / (as given) (OAuth2)", *clientID))
	}

	srv, err := localstack.ServeAtlas(*addr, opts)
	if err != nil {
		return err
	}
	defer srv.Close()

	fmt.Fprintf(stdout, "Atlas fake listening on %s\n", srv.URL)
	fmt.Fprintf(stdout, "  project           %s\n", srv.ProjectID())
	for _, s := range srv.Services() {
		fmt.Fprintf(stdout, "  endpoint service  %s  %s\n", s.ID, s.EndpointServiceName)
	}
	for _, c := range creds {
		fmt.Fprintf(stdout, "  %s\n", c)
	}
	fmt.Fprintf(stdout, "  for the function  ATLAS_BASE_URL=%s ATLAS_PROJECT_ID=%s\n", srv.URL, srv.ProjectID())
	fmt.Fprintln(stdout, "Requests are logged to stderr. Ctrl-C stops it.")
	<-ctx.Done()
	return nil
}

// nonZero maps the flag value 0 ("no delay", as a person means it) to the
// fake's "no delay", which is negative; its zero means the default.
func nonZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
