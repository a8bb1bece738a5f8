// Package atlas is a small client for the part of the MongoDB Atlas Administration API
// that registers AWS interface endpoints with a project's private endpoint service,
// and with the project's Data Federation / Online Archive endpoint list
// (privateNetworkSettings/endpointIds, a v2 route whatever the client's Version).
//
// It speaks the current versioned API (V2, media type application/vnd.atlas.2023-01-01+json)
// and the legacy v1.0 API, authenticates with programmatic API keys (HTTP Digest) or
// service accounts (OAuth2 client credentials), retries transient failures with
// exponential backoff that honours Retry-After, and decodes every non-2xx answer into
// an *ErrorResponse that works with errors.Is and errors.As.
//
// Every identifier is validated before a URL is built, so a malformed id never reaches
// the network. Credentials never appear in errors, logs or formatted output.
//
// The sibling package atlastest provides a faithful fake of the same API for tests and
// local runs.
package atlas
