package motoserver

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Region, AccessKeyID and SecretAccessKey are what AWSConfig and Env use.
// moto accepts any credentials; the SDK still needs some to sign requests.
const (
	Region          = "us-east-1"
	AccessKeyID     = "testing"
	SecretAccessKey = "testing"
)

// AWSConfig returns an SDK configuration that sends every service to this
// server. It is built directly rather than with config.LoadDefaultConfig so
// that the host's AWS_* variables and ~/.aws files cannot redirect a test to
// a real account.
func (s *Server) AWSConfig(ctx context.Context) (aws.Config, error) {
	return aws.Config{
		Region:       Region,
		Credentials:  aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")),
		BaseEndpoint: aws.String(s.URL),
	}, nil
}

// Env returns the environment a child process (the Lambda binary) needs so
// that its EC2 and Secrets Manager clients reach this server (and STS, for
// its caller identity and member-account roles): the standard AWS SDK
// variables, which the function's SDK configuration (config.LoadDefaultConfig)
// reads. AWS_ENDPOINT_URL_<SERVICE> is each service's ID ("EC2",
// "Secrets Manager") upper-cased with spaces turned into underscores.
// Append it after os.Environ() so these values win.
func (s *Server) Env() []string {
	return []string{
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
		"AWS_ENDPOINT_URL_EC2=" + s.URL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + s.URL,
		"AWS_ENDPOINT_URL_STS=" + s.URL,
	}
}
