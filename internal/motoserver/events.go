package motoserver

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// BusQueue creates the event bus bus (a new, unique name is best on a
// shared server), a rule on it with the given event pattern, and an SQS
// queue that is the rule's target, and returns the queue's URL: the events
// the rule matches arrive there, as a real rule would deliver them.
func BusQueue(ctx context.Context, cfg aws.Config, bus, pattern string) (string, error) {
	eb := eventbridge.NewFromConfig(cfg)
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
		return "", fmt.Errorf("create event bus %s: %w", bus, err)
	}
	q := sqs.NewFromConfig(cfg)
	queue, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(bus + "-target")})
	if err != nil {
		return "", fmt.Errorf("create queue: %w", err)
	}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: queue.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", fmt.Errorf("get queue arn: %w", err)
	}
	rule := bus + "-rule"
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule), EventBusName: aws.String(bus), EventPattern: aws.String(pattern)}); err != nil {
		return "", fmt.Errorf("put rule: %w", err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(rule), EventBusName: aws.String(bus),
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(attrs.Attributes["QueueArn"])}}}); err != nil {
		return "", fmt.Errorf("put targets: %w", err)
	}
	return aws.ToString(queue.QueueUrl), nil
}

// Receive reads the bodies of messages from the queue until it has n or ctx
// ends, deleting what it reads.
func Receive(ctx context.Context, cfg aws.Config, queueURL string, n int) ([]string, error) {
	q := sqs.NewFromConfig(cfg)
	var bodies []string
	for len(bodies) < n {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			return bodies, fmt.Errorf("receive from %s (%d of %d messages): %w", queueURL, len(bodies), n, err)
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return bodies, fmt.Errorf("delete message: %w", err)
			}
		}
	}
	return bodies, nil
}
