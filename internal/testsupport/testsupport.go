// Package testsupport holds helpers shared by the tests of several packages.
// Only _test.go files import it.
package testsupport

import (
	"os"
	"testing"
)

// Binary returns the path in the environment variable env, or def (the path
// the Makefile builds) when env is unset. A missing file fails the test,
// never skips it.
func Binary(t testing.TB, env, def string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		p = def
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s (%s): %v: run `make build tools` first", env, p, err)
	}
	return p
}
