package channel

import (
	"strings"
	"testing"
)

// TestTextKeeper checks the blocks read back as the plain concatenation
// (cut at the cap) across block boundaries, whatever the piece sizes.
func TestTextKeeper(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		piece int
		total int
	}{
		{"empty", 0, 0},
		{"short answer", 7, 300},
		{"pieces straddle blocks", 1000, 100_000},
		{"one piece larger than a block", 3*textBlock + 5, 3*textBlock + 5},
		{"past the cap in small pieces", 6, MaxKeptText + 1000},
		{"past the cap in one piece", MaxKeptText + 10, MaxKeptText + 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var k TextKeeper
			var want strings.Builder
			for i := 0; want.Len() < tt.total; i++ {
				p := strings.Repeat(string(rune('a'+i%26)), min(tt.piece, tt.total-want.Len()))
				k.Add(p)
				want.WriteString(p)
			}
			all := want.String()
			kept := all[:min(len(all), MaxKeptText)]
			if got := k.String(); got != kept {
				t.Fatalf("kept %d bytes, want %d (or the content differs)", len(got), len(kept))
			}
			if want := len(all) - len(kept); k.ExtraBytes() != want {
				t.Fatalf("extra bytes %d, want %d", k.ExtraBytes(), want)
			}
			k.Release()
			if k.String() != "" || k.ExtraBytes() != 0 {
				t.Fatal("a released keeper still has text")
			}
			// Released blocks come back dirty: what they held must not
			// show through in the next stream's text.
			var next TextKeeper
			defer next.Release()
			next.Add(strings.Repeat("z", tt.total))
			if got := next.String(); got != strings.Repeat("z", min(tt.total, MaxKeptText)) {
				t.Fatalf("the next keeper reads back %d bytes, not its own text", len(got))
			}
		})
	}
}

// BenchmarkTextKeeperLongStream adds a long answer's text in 1000-byte
// pieces, as the relay does, releasing it at the end: the allocation per
// stream should be about the first block's growth.
func BenchmarkTextKeeperLongStream(b *testing.B) {
	piece := strings.Repeat("tok ", 250)
	b.ReportAllocs()
	for b.Loop() {
		var k TextKeeper
		for range 1000 {
			k.Add(piece)
		}
		k.Release()
	}
}
