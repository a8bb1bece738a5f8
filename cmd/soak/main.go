// Command soak runs many registrations at once, as Lambda does when many VPC
// endpoints are created together, and checks that none is lost or doubled.
//
// Each registration gets its own handler.Handler (its own "container": its own
// credentials cache, service list and Atlas client), and all of them talk to
// one in-process Atlas fake on loopback that enforces a token-bucket rate
// limit, answering 429 RATE_LIMITED_TOKEN_BUCKET with Retry-After when it runs
// dry. EC2 and Secrets Manager are in-process stand-ins. The run is bounded:
// every invocation has a deadline, and the whole run stops by itself.
//
// It prints a table and exits 1 if any endpoint is not AVAILABLE in the fake,
// any invocation did not return, or any endpoint was POSTed more than once per
// registration attempt, so `make soak` can run in CI.
//
//	go run ./cmd/soak [-n 200] [-capacity 100 -refill 50 -interval 1s] [-reject 0.1]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	cfg := defaults()
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	cfg.register(fs)
	_ = fs.Parse(os.Args[1:])
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep := run(ctx, cfg, os.Stderr)
	rep.print(os.Stdout)
	if len(rep.failures()) > 0 {
		stop()
		os.Exit(1)
	}
}
