// Package awsvpc is the AWS side of the registrar: it looks up VPC endpoints
// in EC2, with their security groups and subnets, and reads the Atlas credentials from Secrets Manager.
//
// The interfaces are declared here, with the SDK's exact signatures, so the
// real *ec2.Client and *secretsmanager.Client satisfy them as they are and a
// test fake is a single method.
package awsvpc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	"github.com/cenkalti/backoff/v5"
)

// EC2API is the part of *ec2.Client that Endpoints uses.
type EC2API interface {
	DescribeVpcEndpoints(ctx context.Context, in *ec2.DescribeVpcEndpointsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error)
}

// SecretsAPI is the part of *secretsmanager.Client that Secrets uses.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// The SDK clients fit the interfaces as they are.
var (
	_ EC2API     = (*ec2.Client)(nil)
	_ SecretsAPI = (*secretsmanager.Client)(nil)
)

var (
	// ErrEndpointNotFound means EC2 still did not know the endpoint after NotFoundWait.
	ErrEndpointNotFound = errors.New("vpc endpoint not found")
	// ErrSecretNotFound means Secrets Manager has no such secret (ResourceNotFoundException).
	ErrSecretNotFound = errors.New("secret not found")
	// ErrSecretAccessDenied means the caller may not read the secret (AccessDeniedException).
	ErrSecretAccessDenied = errors.New("access to secret denied")
)

// Error codes from the EC2 and Secrets Manager APIs.
const (
	codeEndpointNotFound = "InvalidVpcEndpointId.NotFound"
	codeSecretNotFound   = "ResourceNotFoundException"
	codeAccessDenied     = "AccessDeniedException"
)

// DefaultNotFoundWait is how long LookupEndpoint waits for a new endpoint to
// become visible; EC2 is eventually consistent right after CreateVpcEndpoint.
const DefaultNotFoundWait = 20 * time.Second

// Endpoint is what the registrar needs to know about a VPC endpoint.
type Endpoint struct {
	ID          string
	VPCID       string
	ServiceName string
	State       string // EC2's value: pendingAcceptance, pending, available, rejected, failed, deleting, deleted, …
	Type        string // Interface, Gateway, GatewayLoadBalancer, …
	OwnerID     string
	SubnetIDs   []string
	// SecurityGroupIDs are the groups EC2 lists for the endpoint (for an
	// Interface endpoint, the VPC's default group when none was named).
	SecurityGroupIDs []string
	Tags             map[string]string // from the same DescribeVpcEndpoints answer
	// DNSNames are the endpoint's DNS names in EC2's order; Atlas Data
	// Federation takes the first.
	DNSNames []string
}

// Endpoints looks up VPC endpoints.
type Endpoints struct {
	EC2 EC2API
	// Network reads the endpoints' security groups and subnets
	// (DescribeNetwork); usually the same client as EC2.
	Network NetworkAPI
	// NotFoundWait bounds the total time spent retrying an endpoint that EC2
	// does not know yet. Zero means DefaultNotFoundWait; negative means one try.
	NotFoundWait time.Duration
}

// errNoEndpoint stands for an empty (or non-matching) DescribeVpcEndpoints result.
var errNoEndpoint = errors.New("empty result")

// LookupEndpoint describes the endpoint with the given id. It retries
// InvalidVpcEndpointId.NotFound and an empty result with a short backoff for
// at most NotFoundWait (and ctx), then returns an error matching
// ErrEndpointNotFound. Throttling and other transient errors are retried by
// the SDK client's own retryer; any other error is returned wrapped.
func (e *Endpoints) LookupEndpoint(ctx context.Context, id string) (*Endpoint, error) {
	if id == "" {
		// EC2 would answer with every endpoint in the account; refuse instead.
		return nil, errors.New("describe vpc endpoint: empty endpoint id")
	}
	wait := e.NotFoundWait
	if wait == 0 {
		wait = DefaultNotFoundWait
	}
	opts := []backoff.RetryOption{backoff.WithBackOff(&backoff.ExponentialBackOff{
		InitialInterval:     250 * time.Millisecond,
		RandomizationFactor: 0.3,
		Multiplier:          2,
		MaxInterval:         3 * time.Second,
	})}
	if wait < 0 {
		opts = append(opts, backoff.WithMaxTries(1))
	} else {
		opts = append(opts, backoff.WithMaxElapsedTime(wait))
	}

	start := time.Now()
	sawNotFound := false
	ep, err := backoff.Retry(ctx, func() (*Endpoint, error) {
		ep, err := e.describe(ctx, id)
		if err != nil && isNotFound(err) {
			sawNotFound = true
			return nil, err
		}
		if err != nil {
			return nil, backoff.Permanent(err)
		}
		return ep, nil
	}, opts...)
	switch {
	case err == nil:
		return ep, nil
	case isNotFound(err):
		return nil, fmt.Errorf("describe vpc endpoint %s: %w after %s: %w",
			id, ErrEndpointNotFound, time.Since(start).Round(time.Millisecond), err)
	case sawNotFound && ctx.Err() != nil:
		// Out of time before EC2 showed the endpoint: that is not proof it
		// does not exist, so do not report ErrEndpointNotFound.
		return nil, fmt.Errorf("describe vpc endpoint %s: still not visible when waiting ended: %w", id, err)
	default:
		return nil, fmt.Errorf("describe vpc endpoint %s: %w", id, err)
	}
}

func (e *Endpoints) describe(ctx context.Context, id string) (*Endpoint, error) {
	out, err := e.EC2.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{id}})
	if err != nil {
		return nil, err
	}
	// Match on the id rather than trusting the filter, so a surprising
	// response can never hand back a different endpoint.
	i := slices.IndexFunc(out.VpcEndpoints, func(v ec2types.VpcEndpoint) bool {
		return aws.ToString(v.VpcEndpointId) == id
	})
	if i < 0 {
		return nil, errNoEndpoint
	}
	ep := toEndpoint(out.VpcEndpoints[i])
	return &ep, nil
}

func toEndpoint(v ec2types.VpcEndpoint) Endpoint {
	return Endpoint{
		ID:               aws.ToString(v.VpcEndpointId),
		VPCID:            aws.ToString(v.VpcId),
		ServiceName:      aws.ToString(v.ServiceName),
		State:            string(v.State),
		Type:             string(v.VpcEndpointType),
		OwnerID:          aws.ToString(v.OwnerId),
		SubnetIDs:        slices.Clone(v.SubnetIds),
		SecurityGroupIDs: groupIDs(v.Groups),
		Tags:             tags(v.Tags),
		DNSNames:         dnsNames(v.DnsEntries),
	}
}

func dnsNames(es []ec2types.DnsEntry) []string {
	var out []string
	for _, e := range es {
		if n := aws.ToString(e.DnsName); n != "" {
			out = append(out, n)
		}
	}
	return out
}

func groupIDs(gs []ec2types.SecurityGroupIdentifier) []string {
	var ids []string
	for _, g := range gs {
		ids = append(ids, aws.ToString(g.GroupId))
	}
	return ids
}

func tags(ts []ec2types.Tag) map[string]string {
	if len(ts) == 0 {
		return nil
	}
	m := make(map[string]string, len(ts))
	for _, t := range ts {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// DescribeEndpoint describes the endpoint with one call, without waiting for
// EC2 to catch up: for an endpoint that is meant to be gone, "not found" is
// the answer, not a reason to wait. Not found matches ErrEndpointNotFound.
func (e *Endpoints) DescribeEndpoint(ctx context.Context, id string) (*Endpoint, error) {
	if id == "" {
		return nil, errors.New("describe vpc endpoint: empty endpoint id")
	}
	ep, err := e.describe(ctx, id)
	switch {
	case err != nil && isNotFound(err):
		return nil, fmt.Errorf("describe vpc endpoint %s: %w: %w", id, ErrEndpointNotFound, err)
	case err != nil:
		return nil, fmt.Errorf("describe vpc endpoint %s: %w", id, err)
	}
	return ep, nil
}

// LiveStates are the EC2 states of an endpoint that is, or may yet be,
// connected to its service.
var LiveStates = []string{"pendingAcceptance", "pending", "available"}

// ServiceEndpoints lists the Interface endpoints that point at serviceName
// and are in one of states (all states when none are given), following
// every page of the answer.
func (e *Endpoints) ServiceEndpoints(ctx context.Context, serviceName string, states ...string) ([]Endpoint, error) {
	if serviceName == "" {
		// EC2 would answer with every endpoint in the account; refuse instead.
		return nil, errors.New("list vpc endpoints: empty service name")
	}
	in := &ec2.DescribeVpcEndpointsInput{
		Filters: []ec2types.Filter{
			{Name: aws.String("service-name"), Values: []string{serviceName}},
			{Name: aws.String("vpc-endpoint-type"), Values: []string{string(ec2types.VpcEndpointTypeInterface)}},
		},
		MaxResults: aws.Int32(1000),
	}
	if len(states) > 0 {
		in.Filters = append(in.Filters, ec2types.Filter{Name: aws.String("vpc-endpoint-state"), Values: states})
	}
	var out []Endpoint
	for p := ec2.NewDescribeVpcEndpointsPaginator(e.EC2, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list vpc endpoints for %s: %w", serviceName, err)
		}
		for _, v := range page.VpcEndpoints {
			// Trust no filter blindly: an endpoint of another service must never be acted on.
			if aws.ToString(v.ServiceName) == serviceName {
				out = append(out, toEndpoint(v))
			}
		}
	}
	return out, nil
}

func isNotFound(err error) bool {
	return errors.Is(err, errNoEndpoint) || apiErrorCode(err) == codeEndpointNotFound
}

func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// Secrets reads secrets from Secrets Manager.
type Secrets struct {
	SM SecretsAPI
}

// SecretJSON returns the SecretString (or, if there is none, the SecretBinary)
// of the current version of the secret, given by name or ARN. Errors name the
// secret id and match ErrSecretNotFound or ErrSecretAccessDenied where they
// apply; they never contain the secret's value.
func (s *Secrets) SecretJSON(ctx context.Context, secretID string) ([]byte, error) {
	if secretID == "" {
		return nil, errors.New("get secret value: empty secret id")
	}
	out, err := s.SM.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
	if err != nil {
		switch apiErrorCode(err) {
		case codeSecretNotFound:
			return nil, fmt.Errorf("get secret value %s: %w: %w", secretID, ErrSecretNotFound, err)
		case codeAccessDenied:
			return nil, fmt.Errorf("get secret value %s: %w: %w", secretID, ErrSecretAccessDenied, err)
		}
		var de *smithy.DeserializationError
		if errors.As(err, &de) {
			// The SDK's decoding errors quote the offending JSON token, which
			// can be the secret itself, so keep only what identifies the call.
			return nil, fmt.Errorf("get secret value %s: undecodable response%s (details withheld: they may quote the secret)", secretID, responseInfo(err))
		}
		return nil, fmt.Errorf("get secret value %s: %w", secretID, err)
	}
	switch {
	case out.SecretString != nil:
		return []byte(*out.SecretString), nil
	case out.SecretBinary != nil:
		return out.SecretBinary, nil
	}
	return nil, fmt.Errorf("get secret value %s: secret has no value", secretID)
}

// responseInfo describes the HTTP response behind err, if any, without its body.
func responseInfo(err error) string {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		return ""
	}
	return fmt.Sprintf(" (HTTP %d, request id %s)", re.HTTPStatusCode(), re.ServiceRequestID())
}
