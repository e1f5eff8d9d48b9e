package middleware

import (
	"strings"
	"testing"

	"sluice/common"
)

func TestNewRequestIDIsDistinctAndAlphanumeric(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool, 10_000)
	counts := make(map[rune]int)
	for range 10_000 {
		id := newRequestID()
		if len(id) != requestIDLength {
			t.Fatalf("id %q has %d characters, want %d", id, len(id), requestIDLength)
		}
		if seen[id] {
			t.Fatalf("id %q drawn twice", id)
		}
		seen[id] = true
		for _, r := range id {
			if !strings.ContainsRune(idAlphabet, r) {
				t.Fatalf("id %q holds %q, outside [a-zA-Z0-9]", id, r)
			}
			counts[r]++
		}
	}
	// 200,000 draws over 62 characters: each about 3,226 times. A
	// generator stuck on part of the alphabet (a modulo bias, a short
	// range) leaves some far from it.
	if len(counts) != len(idAlphabet) {
		t.Fatalf("%d of the %d characters drawn", len(counts), len(idAlphabet))
	}
	for r, n := range counts {
		if n < 2_700 || n > 3_750 {
			t.Errorf("%q drawn %d times, expected about 3,226", r, n)
		}
	}
}

// BenchmarkRequestID is the id each request gets; common.RandomString,
// what it used before, is the baseline.
func BenchmarkRequestID(b *testing.B) {
	b.Run("math-rand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = newRequestID()
		}
	})
	b.Run("crypto-rand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = common.RandomString(requestIDLength)
		}
	})
}
