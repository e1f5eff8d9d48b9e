// Package testenv reads the integration-test service variables
// (ARCHITECTURE.md, "Testing") with one rule for every test: unset means
// skip with a message naming the variable, unless SLUICE_REQUIRE_SERVICES=1
// (CI), where unset is a failure. It imports nothing of sluice, so any
// package's internal tests can use it.
package testenv

import (
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// Variables naming the test services.
const (
	Postgres = "SLUICE_TEST_POSTGRES_DSN"
	MySQL    = "SLUICE_TEST_MYSQL_DSN"
	Redis    = "SLUICE_TEST_REDIS_URL"
	Require  = "SLUICE_REQUIRE_SERVICES"
)

// Lookup returns the value of the service variable name, or skips (or, when
// services are required, fails) tb.
func Lookup(tb testing.TB, name string) string {
	tb.Helper()
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	if os.Getenv(Require) == "1" {
		tb.Fatalf("%s is not set but %s=1", name, Require)
	}
	tb.Skipf("%s is not set; skipping (set it to run against a real server)", name)
	return ""
}

// Name returns prefix plus ten random lowercase letters, for rows and keys
// that parallel tests and earlier runs must not collide on. No digits, so a
// name never matches an id searched as a keyword.
func Name(prefix string) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 10)
	for i := range b {
		b[i] = letters[rand.IntN(len(letters))]
	}
	return prefix + string(b)
}
