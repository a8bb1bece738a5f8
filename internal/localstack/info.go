package localstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/atlasvpce/registrar/internal/proc"
)

// Info describes a running stack: where its parts listen and the ids it
// seeded. It is what WriteState saves, so that another process can invoke
// the function (Invoke) with a sample event rewritten to the seeded ids
// (RewriteSample).
type Info struct {
	InvokeURL           string   `json:"invokeUrl"`   // the function's invoke endpoint, through the queue
	EmulatorURL         string   `json:"emulatorUrl"` // the emulator itself: one invocation at a time only
	AtlasURL            string   `json:"atlasUrl"`
	MotoURL             string   `json:"motoUrl"`
	Auth                Auth     `json:"auth"`
	APIVersion          string   `json:"apiVersion"`
	ProjectID           string   `json:"projectId"`
	EndpointServiceID   string   `json:"endpointServiceId"`
	EndpointServiceName string   `json:"endpointServiceName"`
	VPCID               string   `json:"vpcId"`
	SubnetIDs           []string `json:"subnetIds"`
	EndpointID          string   `json:"vpcEndpointId"`
	NarrowEndpointID    string   `json:"narrowVpcEndpointId"` // one zone, a group that allows TCP 27017 only
	SecretARN           string   `json:"secretArn"`
	PID                 int      `json:"pid"` // the process that runs the stack
}

// maxResponse bounds a read invoke response (Lambda's synchronous limit is 6 MB).
const maxResponse = 6 << 20

// InvokePath is the emulator's invoke path, which the queue serves too.
const InvokePath = "/2015-03-31/functions/function/invocations"

// FunctionError is an error the function returned (or the emulator reported
// for it): Type is Lambda's errorType, the Go type name of the handler's
// error, such as "InvalidEventError" or "DeadlineError".
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("function error %s: %s", e.Type, e.Message)
}

// TimeoutErrorType is the errorType Invoke gives a run the emulator cut off
// at AWS_LAMBDA_FUNCTION_TIMEOUT (the name Lambda itself uses).
const TimeoutErrorType = "Sandbox.Timedout"

// Invoke sends payload to the function through the emulator and returns the
// response body. When the function returns an error, the body is Lambda's
// {"errorType","errorMessage"} object and the error is a *FunctionError with
// the same fields; a run cut off by the timeout is a *FunctionError of type
// TimeoutErrorType. Other failures (the emulator unreachable, the function
// crashing in init) are plain errors.
//
// Invocations may overlap: the stack's queue passes them to the emulator one
// at a time.
func (i *Info) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, i.InvokeURL, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke the function at %s: %w", i.InvokeURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("invoke the function: read the response: %w", err)
	}
	if len(body) > maxResponse {
		return nil, fmt.Errorf("invoke the function: response larger than %d bytes", maxResponse)
	}
	// The emulator answers a timeout with 200 and plain text.
	if msg := string(bytes.TrimSpace(body)); strings.HasPrefix(msg, "Task timed out after ") {
		return body, &FunctionError{Type: TimeoutErrorType, Message: msg}
	}
	if fe := functionError(body); fe != nil {
		return body, fe
	}
	if resp.StatusCode != http.StatusOK {
		detail := string(bytes.TrimSpace(body))
		if detail == "" {
			detail = "no body; the function log says why (an init failure exits the process)"
		}
		return body, fmt.Errorf("invoke the function: the emulator answered %s: %s", resp.Status, detail)
	}
	return body, nil
}

// functionError decodes a Lambda error body, or returns nil for anything else.
func functionError(body []byte) *FunctionError {
	var probe map[string]json.RawMessage
	if json.Unmarshal(body, &probe) != nil {
		return nil
	}
	if _, ok := probe["errorType"]; !ok {
		return nil
	}
	fe := &FunctionError{}
	if json.Unmarshal(body, fe) != nil || fe.Type == "" {
		return nil
	}
	return fe
}

// The placeholder ids of the sample events in events/*.json. RewriteEvent
// replaces these, and only these, with the seeded ids: any other id in an
// event is the caller's own choice and passes through untouched (an id that
// moto does not know then reads as not found, as it would in AWS). A test
// checks that this list is exactly the ids the samples use.
var (
	sampleEndpointIDs  = []string{"vpce-0a1b2c3d4e5f60718", "vpce-0f0e0d0c0b0a09081", sampleNarrowEndpointID}
	sampleVPCIDs       = []string{"vpc-0f1e2d3c4b5a69788"}
	sampleSubnetIDs    = []string{"subnet-0aa11bb22cc33dd44", "subnet-0ee55ff66aa77bb88"}
	sampleServiceNames = []string{"com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"}
	// SampleDataFederationServiceName is MongoDB's real Data Federation
	// service in us-east-1, which events/create-vpc-endpoint-data-federation.json
	// names on purpose: it is not a placeholder, and passes through.
	SampleDataFederationServiceName = "com.amazonaws.vpce.us-east-1.vpce-svc-00e311695874992b4"
)

// ErrNotJSON is returned (wrapped) by RewriteSample for input that is not
// one JSON value: there is nothing to rewrite, and the caller may send it
// as it is, to see what the function answers.
var ErrNotJSON = errors.New("not valid JSON")

// sampleNarrowEndpointID stands for the seeded endpoint whose security group
// is too narrow (Info.NarrowEndpointID), wherever it occurs in a sample.
const sampleNarrowEndpointID = "vpce-0d1e2f3a4b5c6d7e8"

// Rewrite is one sample id RewriteSample replaced, and what with.
type Rewrite struct {
	From, To string
}

// RewriteEvent is RewriteSample without the list of what was replaced.
func (i *Info) RewriteEvent(raw []byte) ([]byte, error) {
	out, _, err := i.RewriteSample(raw)
	return out, err
}

// RewriteSample returns the event in raw (an events/*.json sample or a
// manual {"vpcEndpointId":…} payload) with the samples' placeholder ids
// replaced by the seeded ones, so the function finds the endpoint in moto,
// and says what it replaced. It walks the JSON generically: the values of
// vpcEndpointId, vpcId, subnetId and serviceName keys (any case; plain
// strings or CloudTrail's {"content": …} items) that are placeholders are
// replaced in every string they occur in, DNS names included. The first
// placeholder endpoint found maps to the seeded endpoint (but
// sampleNarrowEndpointID to the narrow one), the first
// placeholder subnets to the seeded subnets in order; every other value,
// malformed or real, is kept.
func (i *Info) RewriteSample(raw []byte) ([]byte, []Rewrite, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber() // keep ownerId and timestamps exactly
	var doc any
	if err := d.Decode(&doc); err != nil {
		return nil, nil, fmt.Errorf("rewrite event: %w: %v", ErrNotJSON, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, nil, fmt.Errorf("rewrite event: %w: unexpected data after the JSON value", ErrNotJSON)
	}
	var r rewriter
	r.collect(doc, "")
	rep, rewrites := r.replacer(i)
	out, err := json.Marshal(rep.replace(doc))
	if err != nil {
		return nil, nil, fmt.Errorf("rewrite event: %w", err)
	}
	return out, rewrites, nil
}

// rewriter collects a sample's placeholder ids, each list distinct and in the order found.
type rewriter struct {
	endpoints, vpcs, subnets, services []string
	narrow                             bool // sampleNarrowEndpointID occurs
}

func appendNew(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// collect records the placeholders found under the known keys.
func (r *rewriter) collect(v any, key string) {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if k == "content" { // a CloudTrail list item keeps its list's key
				r.collect(v[k], key)
				continue
			}
			r.collect(v[k], strings.ToLower(k))
		}
	case []any:
		for _, child := range v {
			r.collect(child, key)
		}
	case string:
		switch {
		case key == "vpcendpointid" && v == sampleNarrowEndpointID:
			r.narrow = true
		case key == "vpcendpointid" && slices.Contains(sampleEndpointIDs, v):
			r.endpoints = appendNew(r.endpoints, v)
		case key == "vpcid" && slices.Contains(sampleVPCIDs, v):
			r.vpcs = appendNew(r.vpcs, v)
		case key == "subnetid" && slices.Contains(sampleSubnetIDs, v):
			r.subnets = appendNew(r.subnets, v)
		case key == "servicename" && slices.Contains(sampleServiceNames, v):
			r.services = appendNew(r.services, v)
		}
	}
}

// replacer maps the placeholders found to the seeded ids, and lists the ids
// that change.
func (r *rewriter) replacer(i *Info) (idReplacer, []Rewrite) {
	var pairs []string
	var rewrites []Rewrite
	add := func(old []string, seeded ...string) {
		for n, o := range old {
			if n < len(seeded) && seeded[n] != "" && o != seeded[n] {
				pairs = append(pairs, o, seeded[n])
				rewrites = append(rewrites, Rewrite{From: o, To: seeded[n]})
			}
		}
	}
	add(r.endpoints, i.EndpointID)
	if r.narrow {
		add([]string{sampleNarrowEndpointID}, i.NarrowEndpointID)
	}
	add(r.vpcs, i.VPCID)
	add(r.subnets, i.SubnetIDs...)
	add(r.services, i.EndpointServiceName)
	// DNS names carry the service's last label (vpce-svc-…) on its own.
	if len(r.services) > 0 && i.EndpointServiceName != "" {
		if o, n := lastLabel(r.services[0]), lastLabel(i.EndpointServiceName); o != n {
			pairs = append(pairs, o, n)
		}
	}
	return idReplacer{strings.NewReplacer(pairs...)}, rewrites
}

func lastLabel(name string) string { return name[strings.LastIndexByte(name, '.')+1:] }

type idReplacer struct{ *strings.Replacer }

// replace returns v with the ids replaced in every string, keys excepted.
func (r idReplacer) replace(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			v[k] = r.replace(child)
		}
	case []any:
		for n, child := range v {
			v[n] = r.replace(child)
		}
	case string:
		return r.Replace(v)
	}
	return v
}

// DefaultStatePath is where `localrun up` records the running stack.
const DefaultStatePath = ".local/stack.json"

// ErrNoState is returned (wrapped) by ReadState when no stack is recorded.
var ErrNoState = errors.New("no local stack is running")

// WriteState records the stack's Info at path (creating its directory), so
// that another process can invoke the function.
func (i *Info) WriteState(path string) error {
	b, err := json.MarshalIndent(i, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write stack state: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write stack state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write stack state: %w", err)
	}
	return nil
}

// ReadState reads the Info WriteState recorded at path. A missing file is
// ErrNoState; so is a file left behind by a process that is gone.
func ReadState(path string) (*Info, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (%s does not exist)", ErrNoState, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read stack state: %w", err)
	}
	var i Info
	if err := json.Unmarshal(b, &i); err != nil {
		return nil, fmt.Errorf("read stack state %s: %w", path, err)
	}
	if i.InvokeURL == "" {
		return nil, fmt.Errorf("read stack state %s: no invokeUrl", path)
	}
	if i.PID > 0 && !proc.Alive(i.PID) {
		return nil, fmt.Errorf("%w (%s was left by process %d, which has exited)", ErrNoState, path, i.PID)
	}
	return &i, nil
}
