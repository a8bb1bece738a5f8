// Command sdkfloor is the second baseline for cmd/bench: the hello-world
// function of cmd/bench/hello plus blank imports of the AWS SDK packages the
// registrar links, and nothing else. Package init runs for every imported
// package whether or not its code is used, so its cold start is what those
// SDK clients cost before the registrar's own code runs; the bench's test
// keeps its imports equal to the registrar's SDK packages.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials"
	_ "github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	_ "github.com/aws/aws-sdk-go-v2/service/ec2"
	_ "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	_ "github.com/aws/aws-sdk-go-v2/service/sts"
)

func main() {
	lambda.Start(func(context.Context) (string, error) { return "hello", nil })
}
