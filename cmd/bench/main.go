// Command bench measures what the registrar costs to ship and to run, and
// prints the figures with the machine they were taken on:
//
//   - the size of the arm64 deployable (the stripped bootstrap and its zip)
//     against the 10 MB goal;
//   - cold start under the Lambda runtime interface emulator, against the
//     SDK floor (cmd/bench/sdkfloor: a hello-world aws-lambda-go function
//     with the registrar's AWS SDK packages linked, built the same way),
//     started in interleaved pairs: the goal figure, spawn to first answer
//     as the median of the pairs' ratios (≤ 1.05 over at least 31 pairs:
//     the registrar's own code adds at most 5 % to what the SDK costs); the
//     ratio against plain hello-world (cmd/bench/hello) beside it; then the
//     first invoke's latency (the emulator starts the runtime on the first
//     invoke, so it includes init), the emulator's own INIT and REPORT
//     figures, and the bootstrap's peak RSS, each as a median;
//   - package init time, heap and allocations from GODEBUG=inittrace=1, in
//     total and for the heaviest packages;
//   - the handler's per-event time and allocations (go test -bench ./handler).
//
// Everything is measured when it runs; nothing is taken from elsewhere. It
// needs Linux (/proc) and the emulator binary (`make tools` installs it in bin/):
//
//	go run ./cmd/bench -rie bin/aws-lambda-rie [-runs 31]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	var o options
	flag.StringVar(&o.rie, "rie", "bin/aws-lambda-rie", "path of the aws-lambda-rie binary")
	flag.IntVar(&o.runs, "runs", goalPairs, "cold-start pairs (and init traces per binary)")
	flag.StringVar(&o.event, "event", "events/create-vpc-endpoint-failed-call.json",
		"payload for the registrar's invokes; it must be one the handler answers without network")
	flag.BoolVar(&o.perEvent, "per-event", true, "also run the handler's per-event benchmarks (go test -bench)")
	flag.Parse()
	if o.runs < 1 || o.runs > 100 {
		fmt.Fprintln(os.Stderr, "bench: -runs must be 1 to 100")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}
