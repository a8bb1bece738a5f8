package handler

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/atlasvpce/registrar/atlas"
)

// RetryLogger returns an atlas.Config.OnRetry hook that writes one line per
// transient Atlas failure the client is about to retry, so an operator can see
// rate limiting and outages that did not (yet) fail the invocation.
func RetryLogger(logger *slog.Logger, projectID string) func(context.Context, error, time.Duration) {
	return func(ctx context.Context, err error, wait time.Duration) {
		attrs := append([]slog.Attr{
			slog.String("vpcEndpointId", endpointFrom(ctx)),
			slog.String("projectId", projectID),
			slog.Int64("waitMs", wait.Milliseconds()),
			slog.String("error", err.Error()),
			slog.String("next", "retry"),
		}, atlasAttrs(err)...)
		logger.LogAttrs(ctx, slog.LevelWarn, "atlas call failed; retrying", attrs...)
	}
}

// atlasAttrs extracts Atlas's HTTP status and errorCode from err, if it holds an
// API error, and what a 400 says was wrong: its parameters and the request
// body fields it refused (badRequestDetail). The atlas package has bounded
// all of them, so a hostile answer cannot flood the line.
func atlasAttrs(err error) []slog.Attr {
	apiErr, ok := errors.AsType[*atlas.ErrorResponse](err)
	if !ok {
		return nil
	}
	attrs := []slog.Attr{
		slog.Int("atlasStatus", apiErr.StatusCode),
		slog.String("atlasErrorCode", apiErr.ErrorCode),
		slog.String("atlasRequest", apiErr.Method+" "+apiErr.Path),
	}
	if len(apiErr.Parameters) > 0 {
		attrs = append(attrs, slog.Any("atlasParameters", apiErr.Parameters))
	}
	if len(apiErr.BadRequestFields) > 0 {
		attrs = append(attrs, slog.Any("atlasBadRequestFields", apiErr.BadRequestFields))
	}
	return attrs
}

type endpointKey struct{}

// withEndpoint records the endpoint an invocation works on, so lines logged
// from inside the Atlas client can name it.
func withEndpoint(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, endpointKey{}, id)
}

func endpointFrom(ctx context.Context) string {
	id, _ := ctx.Value(endpointKey{}).(string)
	return id
}
