// Command soak measures bursts of registrations, as Lambda sees them when many
// VPC endpoints are created together, and checks that none is lost or doubled.
//
// By default it runs a time-scaled model of the deployment as shipped: N
// endpoints created at once, their events put in the event queue, and
// Lambda's event source mapping handing them in batches (template.yaml's
// batch size, batching window and maximum concurrency) to containers, each a
// handler.Handler kept warm and reused like a Lambda execution environment,
// authenticating with a service account against an in-process Atlas fake
// that enforces Atlas's limits: the private endpoint rate limit, the token
// endpoint's rate limit and the cap on active tokens. -shape async models the
// earlier shape instead: one asynchronous invocation per event, at most the
// reserved concurrency at once. The same model runs one endpoint alone first,
// and the report compares the burst with it. One model second lasts -scale
// of real time (default 10ms), so a 40-minute burst takes about 25 s.
//
// With -stress it runs the older scenario: every registration at once, each
// in its own handler with API keys, against a tight token bucket in real time.
//
// Every invocation has a deadline and the whole run stops by itself. It
// prints a table and exits 1 if any endpoint is not AVAILABLE in the fake, any
// invocation did not return, or any endpoint was POSTed more than once per
// registration attempt, so `make soak` can run in CI. Speed, request and
// rate-limit goals are printed and compared, not enforced.
//
//	go run ./cmd/soak [-n 100] [-c 4] [-batch-size 100] [-batch-window 10s] [-reject 0.1]
//	go run ./cmd/soak -shape async [-c 25] [-poll-initial 5s -poll-max 30s] [-queue fifo]
//	go run ./cmd/soak -stress [-n 200] [-capacity 100 -refill 50 -interval 1s] [-reject 0.1]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
)

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var failures []string
	if cfg.stress {
		rep := run(ctx, cfg, os.Stderr)
		rep.print(os.Stdout)
		failures = rep.failures()
	} else {
		rep := runDeployment(ctx, cfg, os.Stderr)
		rep.print(os.Stdout)
		failures = rep.failures()
	}
	if len(failures) > 0 {
		stop()
		os.Exit(1)
	}
}

// parseConfig reads the flags in two passes: the first only learns the mode
// (and the template), so that the second can offer that mode's defaults,
// which -h then shows.
func parseConfig(args []string, output io.Writer) (config, error) {
	probe := defaults()
	probe.stress = false
	probe.shape = shapeBatch
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	probe.register(fs)
	probe.registerStress(fs)
	_ = fs.Parse(args) // errors are reported by the second pass

	cfg := defaults()
	if !probe.stress {
		s, err := readTemplate(probe.template)
		if err != nil {
			if slices.Contains(args, "-h") || slices.Contains(args, "-help") || slices.Contains(args, "--help") {
				fmt.Fprintln(output, "soak: the model's defaults come from the SAM template, which could not be read:", err)
			}
			return config{}, err
		}
		cfg = modelDefaults(s, probe.template, probe.shape)
	}
	fs = flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(output)
	cfg.register(fs)
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q; every setting is a flag (-h lists them)", fs.Args())
	}
	return cfg, cfg.validate()
}
