package localstack

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/atlasvpce/registrar/atlas/atlastest"
)

// Known test credentials. The stack stores one pair in the secret and
// configures the Atlas fake to accept it; they work nowhere else.
const (
	TestPublicKey    = "localtest"
	TestPrivateKey   = "00000000-0000-4000-8000-00000000cafe"
	TestClientID     = "mdb_sa_id_0000000000000000000000cafe"
	TestClientSecret = "mdb_sa_sk_local-test-secret-0000000000000000cafe"
)

// AtlasServer is the Atlas fake served over HTTP on a loopback address.
type AtlasServer struct {
	*atlastest.Fake
	URL string // base URL, e.g. http://127.0.0.1:PORT, for ATLAS_BASE_URL

	srv    *http.Server
	served chan struct{}
}

// ServeAtlas serves a new Atlas fake with opts on addr ("127.0.0.1:0" picks a
// free port). It refuses any address that is not loopback: the fake accepts
// well-known credentials and must not be reachable from other machines.
// Options the fake cannot take (malformed ids) are an error too.
func ServeAtlas(addr string, opts atlastest.Options) (*AtlasServer, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	f, err := newFake(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("atlas fake: listen on %s: %w", addr, err)
	}
	// The listener may have resolved "localhost" to a non-loopback address.
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		_ = ln.Close()
		return nil, fmt.Errorf("atlas fake: %s resolved to %s, which is not a loopback address", addr, ip)
	}
	a := &AtlasServer{
		Fake:   f,
		URL:    "http://" + ln.Addr().String(),
		srv:    &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second},
		served: make(chan struct{}),
	}
	go func() {
		defer close(a.served)
		_ = a.srv.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	return a, nil
}

// newFake turns the panic NewUnstartedHandler raises on bad options into an error.
func newFake(opts atlastest.Options) (f *atlastest.Fake, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("atlas fake: %v", r)
		}
	}()
	return atlastest.NewUnstartedHandler(opts), nil
}

// Close stops the server: it waits briefly for requests in flight, then
// drops every connection. It is safe to call more than once.
func (a *AtlasServer) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		_ = a.srv.Close()
	}
	<-a.served
}

// checkLoopback accepts host:port where host is a loopback IP or "localhost".
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("atlas fake: address %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return &NotLoopbackError{Addr: addr}
}

// NotLoopbackError reports an address the fake refuses to listen on.
type NotLoopbackError struct{ Addr string }

func (e *NotLoopbackError) Error() string {
	return fmt.Sprintf("atlas fake: refusing to listen on %q: only loopback addresses (127.0.0.1, [::1], localhost) are allowed, because the fake accepts well-known test credentials", e.Addr)
}
