package awsvpc_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

func TestMain(m *testing.M) { os.Exit(motoserver.Main(m)) }

// sharedConfig returns an SDK configuration for the package's shared moto_server.
func sharedConfig(t *testing.T) aws.Config {
	t.Helper()
	cfg, err := motoserver.Shared(t).AWSConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// faultProxy forwards to moto, but answers the first `faults` requests that
// match with a canned error, the way the real service would.
type faultProxy struct {
	*httptest.Server
	match   func(r *http.Request, body []byte) bool
	faults  int
	status  int
	ctype   string
	body    string
	mu      sync.Mutex
	matched int
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request, next http.Handler) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !p.match(r, body) {
		next.ServeHTTP(w, r)
		return
	}
	p.mu.Lock()
	p.matched++
	fault := p.matched <= p.faults
	p.mu.Unlock()
	if !fault {
		next.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", p.ctype)
	w.Header().Set("X-Amzn-Requestid", "5c0d1e1f-0000-4000-8000-000000000001")
	w.WriteHeader(p.status)
	_, _ = io.WriteString(w, p.body)
}

// Matched reports how many matching requests reached the proxy.
func (p *faultProxy) Matched() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.matched
}

func startFaultProxy(t *testing.T, target string, p *faultProxy) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u) }}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.ServeHTTP(w, r, rp)
	}))
	t.Cleanup(p.Close)
	return p
}

// ec2Action matches EC2 query-protocol requests for one action.
func ec2Action(action string) func(*http.Request, []byte) bool {
	return func(_ *http.Request, body []byte) bool {
		return bytes.Contains(body, []byte("Action="+action+"&"))
	}
}

// jsonTarget matches awsJson requests for one operation, e.g. "secretsmanager.GetSecretValue".
func jsonTarget(target string) func(*http.Request, []byte) bool {
	return func(r *http.Request, _ []byte) bool { return r.Header.Get("X-Amz-Target") == target }
}

// ec2Error is the body EC2 (query protocol) sends with an error status.
func ec2Error(code, msg string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>` + code + `</Code><Message>` + msg + `</Message></Error></Errors><RequestID>5c0d1e1f-0000-4000-8000-000000000001</RequestID></Response>`
}

// ec2Via returns an EC2 client for cfg that sends its requests to baseURL.
func ec2Via(cfg aws.Config, baseURL string) *ec2.Client {
	return ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(baseURL) })
}

// countingEC2 counts DescribeVpcEndpoints calls and can run a hook after each.
type countingEC2 struct {
	awsvpc.EC2API
	calls atomic.Int32
	after func(call int32, err error) error
}

func (c *countingEC2) DescribeVpcEndpoints(ctx context.Context, in *ec2.DescribeVpcEndpointsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error) {
	n := c.calls.Add(1)
	out, err := c.EC2API.DescribeVpcEndpoints(ctx, in, optFns...)
	if c.after != nil {
		if herr := c.after(n, err); herr != nil {
			return nil, herr
		}
	}
	return out, err
}

// describeFunc is an EC2API made of one function.
type describeFunc func(context.Context, *ec2.DescribeVpcEndpointsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error)

func (f describeFunc) DescribeVpcEndpoints(ctx context.Context, in *ec2.DescribeVpcEndpointsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error) {
	return f(ctx, in, optFns...)
}

var _ awsvpc.EC2API = describeFunc(nil)
