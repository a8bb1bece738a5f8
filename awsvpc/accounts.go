package awsvpc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// STSAPI is the part of *sts.Client that Accounts uses.
type STSAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

var _ STSAPI = (*sts.Client)(nil)

// SessionName names the function's sessions in member accounts' CloudTrail.
const SessionName = "atlas-vpce-registrar"

// credentialsEarly renews assumed-role credentials this long before they
// expire, so no call starts with credentials about to lapse.
const credentialsEarly = 5 * time.Minute

// Accounts hands out endpoint lookups for any account and region: the
// function's own credentials in its own account, and a role of RoleName
// assumed in each other account. Clients are built on first use and kept,
// one per account and region; assumed credentials are cached per account
// until shortly before they expire. It is safe for concurrent use.
type Accounts struct {
	Config       aws.Config // the function's own: region, credentials, HTTP client, endpoints
	STS          STSAPI
	RoleName     string
	NotFoundWait time.Duration // passed to each Endpoints

	mu        sync.Mutex
	self      string // the function's account, once known
	partition string
	creds     map[string]aws.CredentialsProvider // by account
	lookups   map[[2]string]*Endpoints           // by account and region
}

// Self returns the function's own account, asking STS once per container.
// A failure is not cached: the next call asks again.
func (a *Accounts) Self(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.selfLocked(ctx)
}

func (a *Accounts) selfLocked(ctx context.Context) (string, error) {
	if a.self != "" {
		return a.self, nil
	}
	out, err := a.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("get caller identity: %w", err)
	}
	account := aws.ToString(out.Account)
	if account == "" {
		return "", errors.New("get caller identity: the answer names no account")
	}
	a.self, a.partition = account, partitionOf(aws.ToString(out.Arn))
	return a.self, nil
}

// partitionOf reads the partition from an ARN ("aws" when it cannot).
func partitionOf(arn string) string {
	if parts := strings.SplitN(arn, ":", 3); len(parts) == 3 && parts[0] == "arn" && parts[1] != "" {
		return parts[1]
	}
	return "aws"
}

// RoleARN is the role assumed in account, in the function's partition.
func (a *Accounts) RoleARN(account string) string {
	a.mu.Lock()
	partition := a.partition
	a.mu.Unlock()
	if partition == "" {
		partition = "aws"
	}
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", partition, account, a.RoleName)
}

// Endpoints returns the lookup for account in region; an empty region is the
// function's own. Nothing is called until the lookup is used, so a role that
// cannot be assumed shows up in the lookup's first error.
func (a *Accounts) Endpoints(ctx context.Context, account, region string) (*Endpoints, error) {
	if region == "" {
		region = a.Config.Region
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	self, err := a.selfLocked(ctx)
	if err != nil {
		return nil, err
	}
	key := [2]string{account, region}
	if e, ok := a.lookups[key]; ok {
		return e, nil
	}
	cfg := a.Config.Copy()
	cfg.Region = region
	if account != self {
		if a.RoleName == "" {
			return nil, fmt.Errorf("account %s is not the function's own (%s), and no member role name is configured", account, self)
		}
		p, ok := a.creds[account]
		if !ok {
			role := fmt.Sprintf("arn:%s:iam::%s:role/%s", a.partition, account, a.RoleName)
			p = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(a.STS, role, func(o *stscreds.AssumeRoleOptions) {
				o.RoleSessionName = SessionName
			}), func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = credentialsEarly })
			if a.creds == nil {
				a.creds = map[string]aws.CredentialsProvider{}
			}
			a.creds[account] = p
		}
		cfg.Credentials = p
	}
	client := ec2.NewFromConfig(cfg)
	e := &Endpoints{EC2: client, Network: client, NotFoundWait: a.NotFoundWait}
	if a.lookups == nil {
		a.lookups = map[[2]string]*Endpoints{}
	}
	a.lookups[key] = e
	return e, nil
}
