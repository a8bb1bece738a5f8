// Command localrun runs the registrar on this machine, end to end: the real
// Lambda binary under the AWS Lambda Runtime Interface Emulator, with
// moto_server standing in for EC2 and Secrets Manager and the Atlas fake for
// Atlas (see internal/localstack). The Makefile's run, up and invoke targets
// call it.
//
//	localrun run    -bootstrap bin/bootstrap -rie bin/aws-lambda-rie -event events/create-vpc-endpoint.json
//	localrun up     -bootstrap bin/bootstrap -rie bin/aws-lambda-rie
//	localrun invoke -event events/manual-register.json
//
// run starts everything, invokes the function once with the event (the
// samples' placeholder ids replaced by the seeded ones; other ids are sent as
// they are), prints the result and the Atlas side, and stops everything; it
// exits non-zero unless the endpoint ends registered. up keeps the stack
// running and records it in .local/stack.json until Ctrl-C; invoke sends an
// event to that running stack, through the stack's queue, which passes
// invocations to the emulator one at a time.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: localrun <command> [flags]

commands:
  run     start the local stack, invoke the function once with -event, print the outcome, stop
  up      start the local stack and keep it running for invoke (Ctrl-C stops it)
  invoke  send -event to the stack that "up" is running

Run "localrun <command> -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one ends the process at once; the
	// children die with it (they are started with a parent-death signal).
	go func() {
		<-ctx.Done()
		stop()
	}()
	err := runCommand(ctx, os.Args[1:], os.Stdout)
	stop()
	var code exitCode
	switch {
	case err == nil:
	case errors.As(err, &code):
		os.Exit(int(code))
	default:
		fmt.Fprintln(os.Stderr, "localrun:", err)
		os.Exit(1)
	}
}

// exitCode ends the program with a status and no further message: the
// command has already said what went wrong.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

func runCommand(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return exitCode(2)
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], out)
	case "up":
		return cmdUp(ctx, args[1:], out)
	case "invoke":
		return cmdInvoke(ctx, args[1:], out)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(out, usage)
		return nil
	}
	fmt.Fprintf(os.Stderr, "localrun: unknown command %q\n\n%s", args[0], usage)
	return exitCode(2)
}
