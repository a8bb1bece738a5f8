// Command hello is the baseline for cmd/bench: the smallest aws-lambda-go
// function, built with the same flags as the registrar, so its cold start and
// memory show what the runtime itself costs.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context) (string, error) { return "hello", nil })
}
