package common

import (
	"strings"
	"testing"
)

func TestRandomIDIsDistinctAndAlphanumeric(t *testing.T) {
	t.Parallel()
	const n = 20
	seen := make(map[string]bool, 10_000)
	counts := make(map[rune]int)
	for range 10_000 {
		id := RandomID(n)
		if len(id) != n {
			t.Fatalf("id %q has %d characters, want %d", id, len(id), n)
		}
		if seen[id] {
			t.Fatalf("id %q drawn twice", id)
		}
		seen[id] = true
		for _, r := range id {
			if !strings.ContainsRune(keyAlphabet, r) {
				t.Fatalf("id %q holds %q, outside [a-zA-Z0-9]", id, r)
			}
			counts[r]++
		}
	}
	// 200,000 draws over 62 characters: each about 3,226 times. A
	// generator stuck on part of the alphabet (a modulo bias, a short
	// range) leaves some far from it.
	if len(counts) != len(keyAlphabet) {
		t.Fatalf("%d of the %d characters drawn", len(counts), len(keyAlphabet))
	}
	for r, c := range counts {
		if c < 2_700 || c > 3_750 {
			t.Errorf("%q drawn %d times, expected about 3,226", r, c)
		}
	}
}

// BenchmarkRandomID is a request id; RandomString, what request ids used
// before, is the baseline.
func BenchmarkRandomID(b *testing.B) {
	b.Run("math-rand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = RandomID(20)
		}
	})
	b.Run("crypto-rand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = RandomString(20)
		}
	})
}
