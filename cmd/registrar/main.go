// Command registrar is the Lambda function: it registers each new VPC
// interface endpoint with the matching MongoDB Atlas private endpoint service.
//
// main only wires. The function's own configuration is read once; a missing
// or invalid variable stops the init phase with its name. Nothing here
// touches the network: the first event fetches the secret and lists the
// Atlas endpoint services. The AWS configuration is the SDK's standard one,
// loaded with the clients when an event first reaches AWS (aws.go), so init
// does only what must fail early.
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/emf"
	"github.com/atlasvpce/registrar/handler"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	logger := lambdacontext.NewLogger()
	h, err := newHandler(os.Getenv, logger)
	if err != nil {
		logger.Error("init failed", slog.String("error", err.Error()))
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// newHandler builds the handler from the environment. The end-to-end tests
// call it too, so the wiring they test is the wiring that ships. It does no
// I/O beyond reading the environment (unless neither AWS_REGION nor
// AWS_DEFAULT_REGION is set: then the SDK's configuration is loaded at once).
func newHandler(getenv func(string) string, logger *slog.Logger) (*handler.Handler, error) {
	cfg, err := handler.LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	clients, err := newAWSClients(cfg.MemberRoleName)
	if err != nil {
		return nil, err
	}
	cfg.Region = clients.region
	// The metrics go to stdout raw, one JSON object per line, beside the
	// logger's lines and not through it: Lambda makes each stdout line a log
	// event and passes JSON lines through unchanged under LogFormat JSON, and
	// CloudWatch Logs extracts metrics only from an event that is the whole
	// EMF object (see package emf).
	metrics, err := emf.New(os.Stdout, cfg.MetricsNamespace)
	if err != nil {
		return nil, &handler.ConfigError{Variable: "METRICS_NAMESPACE", Problem: err.Error()}
	}
	return handler.New(cfg, handler.Deps{
		Endpoints: &awsvpc.Endpoints{EC2: lazyEC2{clients}, Network: lazyEC2{clients}},
		Accounts:  accountLookups{clients},
		Secrets:   &awsvpc.Secrets{SM: lazySecrets{clients}},
		NewAtlas: func(creds atlas.Credentials, project string) (handler.AtlasAPI, error) {
			return atlas.NewClient(atlas.Config{
				BaseURL:   cfg.BaseURL,
				Version:   cfg.APIVersion,
				ProjectID: project,
				UserAgent: "atlas-vpce-registrar/" + version,
				OnRetry:   handler.RetryLogger(logger, project),
				OnRequest: handler.CountAtlasRequest,
			}, creds)
		},
		Logger:  logger,
		Metrics: metrics,
	}), nil
}
