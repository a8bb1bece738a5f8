package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRefusesNonLoopback(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"-addr", "0.0.0.0:0"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("error = %v, want a refusal naming loopback", err)
	}
}

func TestServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"-pending", "0"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Atlas fake listening on http://127.0.0.1:") {
		t.Errorf("output %q does not give the URL", out.String())
	}
}

func TestCredentialFlagsPair(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"-public-key", "p"}, &out, &errOut); err == nil {
		t.Error("a public key without a private key was accepted")
	}
}
