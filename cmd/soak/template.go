package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// shipped is what the deployment model takes from template.yaml, so that it
// measures the defaults users deploy rather than numbers copied into the soak.
type shipped struct {
	concurrency  int           // ReservedConcurrentExecutions
	pollInitial  time.Duration // ATLAS_POLL_INITIAL
	pollMax      time.Duration // ATLAS_POLL_MAX
	maxAttempts  int           // ATLAS_MAX_ATTEMPTS
	timeout      time.Duration // the function's Timeout
	asyncRetries int           // EventInvokeConfig.MaximumRetryAttempts
	maxEventAge  time.Duration // EventInvokeConfig.MaximumEventAgeInSeconds

	// The event queue and its event source mapping.
	batchSize        int           // BatchSize
	batchWindow      time.Duration // MaximumBatchingWindowInSeconds
	batchConcurrency int           // ScalingConfig.MaximumConcurrency
	visibility       time.Duration // the queue's VisibilityTimeout
	maxReceive       int           // the queue's RedrivePolicy.maxReceiveCount
}

// Logical ids of the event queue and its mapping in template.yaml.
const (
	mappingName = "RegistrarEventSourceMapping"
	queueName   = "EventQueue"
)

// functionName is the function's logical id in template.yaml.
const functionName = "RegistrarFunction"

// readTemplate reads the function's settings from a SAM template. A setting
// written as !Ref of a parameter takes the parameter's default.
func readTemplate(path string) (shipped, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return shipped{}, fmt.Errorf("read the SAM template (run from the repository root or pass -template): %w", err)
	}
	var doc struct {
		Parameters map[string]struct {
			Default yaml.Node `yaml:"Default"`
		} `yaml:"Parameters"`
		Resources map[string]yaml.Node `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return shipped{}, fmt.Errorf("parse %s: %w", path, err)
	}
	node, ok := doc.Resources[functionName]
	if !ok {
		return shipped{}, fmt.Errorf("%s: no resource %s", path, functionName)
	}
	var fn struct {
		Properties struct {
			Timeout                      yaml.Node `yaml:"Timeout"`
			ReservedConcurrentExecutions yaml.Node `yaml:"ReservedConcurrentExecutions"`
			Environment                  struct {
				Variables map[string]yaml.Node `yaml:"Variables"`
			} `yaml:"Environment"`
			EventInvokeConfig struct {
				MaximumRetryAttempts     yaml.Node `yaml:"MaximumRetryAttempts"`
				MaximumEventAgeInSeconds yaml.Node `yaml:"MaximumEventAgeInSeconds"`
			} `yaml:"EventInvokeConfig"`
		} `yaml:"Properties"`
	}
	if err := node.Decode(&fn); err != nil {
		return shipped{}, fmt.Errorf("%s: %s: %w", path, functionName, err)
	}
	var esm struct {
		Properties struct {
			BatchSize                      yaml.Node `yaml:"BatchSize"`
			MaximumBatchingWindowInSeconds yaml.Node `yaml:"MaximumBatchingWindowInSeconds"`
			ScalingConfig                  struct {
				MaximumConcurrency yaml.Node `yaml:"MaximumConcurrency"`
			} `yaml:"ScalingConfig"`
		} `yaml:"Properties"`
	}
	var queue struct {
		Properties struct {
			VisibilityTimeout yaml.Node `yaml:"VisibilityTimeout"`
			RedrivePolicy     struct {
				MaxReceiveCount yaml.Node `yaml:"maxReceiveCount"`
			} `yaml:"RedrivePolicy"`
		} `yaml:"Properties"`
	}
	for _, r := range []struct {
		name string
		into any
	}{{mappingName, &esm}, {queueName, &queue}} {
		name := r.name
		n, ok := doc.Resources[name]
		if !ok {
			return shipped{}, fmt.Errorf("%s: no resource %s", path, name)
		}
		if err := n.Decode(r.into); err != nil {
			return shipped{}, fmt.Errorf("%s: %s: %w", path, name, err)
		}
	}

	// value resolves a literal, or a !Ref to a parameter's default.
	value := func(name string, n yaml.Node) (string, error) {
		switch {
		case n.Kind == 0:
			return "", fmt.Errorf("%s: %s has no %s", path, functionName, name)
		case n.Tag == "!Ref":
			p, ok := doc.Parameters[n.Value]
			if !ok || p.Default.Kind != yaml.ScalarNode {
				return "", fmt.Errorf("%s: %s refers to parameter %s, which has no default", path, name, n.Value)
			}
			return p.Default.Value, nil
		case n.Kind == yaml.ScalarNode:
			return n.Value, nil
		}
		return "", fmt.Errorf("%s: %s of %s is neither a value nor a !Ref", path, name, functionName)
	}
	var errs []error
	number := func(name string, n yaml.Node) int {
		v, err := value(name, n)
		if err != nil {
			errs = append(errs, err)
			return 0
		}
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 {
			errs = append(errs, fmt.Errorf("%s: %s is %q, want a whole number", path, name, v))
		}
		return i
	}
	duration := func(name string, n yaml.Node) time.Duration {
		v, err := value(name, n)
		if err != nil {
			errs = append(errs, err)
			return 0
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s: %s is %q, want a Go duration", path, name, v))
		}
		return d
	}
	p := fn.Properties
	vars := p.Environment.Variables
	s := shipped{
		concurrency:  number("ReservedConcurrentExecutions", p.ReservedConcurrentExecutions),
		pollInitial:  duration("ATLAS_POLL_INITIAL", vars["ATLAS_POLL_INITIAL"]),
		pollMax:      duration("ATLAS_POLL_MAX", vars["ATLAS_POLL_MAX"]),
		maxAttempts:  number("ATLAS_MAX_ATTEMPTS", vars["ATLAS_MAX_ATTEMPTS"]),
		timeout:      time.Duration(number("Timeout", p.Timeout)) * time.Second,
		asyncRetries: number("EventInvokeConfig.MaximumRetryAttempts", p.EventInvokeConfig.MaximumRetryAttempts),
		maxEventAge:  time.Duration(number("EventInvokeConfig.MaximumEventAgeInSeconds", p.EventInvokeConfig.MaximumEventAgeInSeconds)) * time.Second,

		batchSize:        number(mappingName+".BatchSize", esm.Properties.BatchSize),
		batchWindow:      time.Duration(number(mappingName+".MaximumBatchingWindowInSeconds", esm.Properties.MaximumBatchingWindowInSeconds)) * time.Second,
		batchConcurrency: number(mappingName+".ScalingConfig.MaximumConcurrency", esm.Properties.ScalingConfig.MaximumConcurrency),
		visibility:       time.Duration(number(queueName+".VisibilityTimeout", queue.Properties.VisibilityTimeout)) * time.Second,
		maxReceive:       number(queueName+".RedrivePolicy.maxReceiveCount", queue.Properties.RedrivePolicy.MaxReceiveCount),
	}
	if len(errs) == 0 && s.concurrency < 1 {
		errs = append(errs, fmt.Errorf("%s: ReservedConcurrentExecutions is %d, want at least 1", path, s.concurrency))
	}
	if len(errs) == 0 && (s.batchSize < 1 || s.batchConcurrency < 1 || s.maxReceive < 1) {
		errs = append(errs, fmt.Errorf("%s: %s's BatchSize, MaximumConcurrency and %s's maxReceiveCount must be at least 1", path, mappingName, queueName))
	}
	return s, errors.Join(errs...)
}
