package channel

import (
	"strings"
	"sync"
)

// MaxKeptText bounds the generated text a stream keeps for counting tokens
// locally (used only when the upstream reports no usage). Past it only the
// byte count grows, so a 10 MB stream does not hold 10 MB, and the rest is
// counted at the kept text's own bytes per token (relay's streamOutcome).
// 64 KB is some 15,000 tokens, a sample that pins that rate; at 256 KB
// every long stream held 192 KB more until its end (the 10 MB stream's
// RSS added, two streams after a warm-up: 0.64-0.78 MB → 0.45-0.58 in
// six alternated pairs).
const MaxKeptText = 64 << 10

// textBlock is the size of the blocks the kept text is stored in once it
// outgrows its first block. One growing buffer would be copied at every
// growth, and append grows large slices by only 1.25x, so reaching the cap
// left about 1.2 MB of garbage per long stream, which the collector's
// headroom turned into resident memory. Full blocks are never copied, and
// Release hands them to the next long stream.
const textBlock = 16 << 10

// firstText is the first block's initial capacity, doubled up to textBlock
// as needed: small, because every open stream holds one and a gateway
// holds thousands of streams open after their first token.
const firstText = 64

// blocks holds released text blocks for later streams.
var blocks = sync.Pool{New: func() any { return new([textBlock]byte) }}

// Block is a pooled buffer of a stream's kept bytes: TextKeeper's blocks,
// also lent to decoders that keep raw chunks for a while.
type Block = [textBlock]byte

// TakeBlock lends a block from the pool; GiveBlock returns it when its
// holder is done with everything in it.
func TakeBlock() *Block { return blocks.Get().(*Block) }

// GiveBlock returns a block TakeBlock lent.
func GiveBlock(b *Block) { blocks.Put(b) }

// TextKeeper keeps at most MaxKeptText bytes of a stream's generated text.
// The zero value is ready to use.
type TextKeeper struct {
	full  [][]byte // full blocks of textBlock bytes
	cur   []byte   // the block being filled
	n     int      // bytes kept
	extra int
}

// Add appends s, or counts it once the cap is reached.
func (k *TextKeeper) Add(s string) {
	if room := MaxKeptText - k.n; room < len(s) {
		room = max(room, 0)
		k.extra += len(s) - room
		s = s[:room]
	}
	k.n += len(s)
	for len(s) > 0 {
		if len(k.cur) == textBlock {
			k.full = append(k.full, k.cur)
			k.cur = blocks.Get().(*[textBlock]byte)[:0]
		}
		m := min(len(s), textBlock-len(k.cur))
		if cap(k.cur)-len(k.cur) < m {
			k.growFirst(m)
		}
		k.cur = append(k.cur, s[:m]...)
		s = s[m:]
	}
}

// growFirst makes room for m more bytes in the first block, the only one
// that grows: it doubles from firstText until it becomes a whole block.
func (k *TextKeeper) growFirst(m int) {
	var b []byte
	if c := max(2*cap(k.cur), len(k.cur)+m, firstText); c < textBlock {
		b = make([]byte, 0, c)
	} else {
		b = blocks.Get().(*[textBlock]byte)[:0]
	}
	k.cur = append(b, k.cur...)
}

// String returns the kept text. It copies, so it is meant for the end of
// the stream.
func (k *TextKeeper) String() string {
	var sb strings.Builder
	sb.Grow(k.n)
	for _, b := range k.full {
		sb.Write(b)
	}
	sb.Write(k.cur)
	return sb.String()
}

// ExtraBytes is how much text came past the cap, counted but not kept.
func (k *TextKeeper) ExtraBytes() int { return k.extra }

// Release gives the whole blocks back for later streams and empties the
// keeper. Strings String returned earlier stay valid (they are copies).
func (k *TextKeeper) Release() {
	for _, b := range k.full {
		blocks.Put((*[textBlock]byte)(b[:textBlock]))
	}
	if cap(k.cur) == textBlock {
		blocks.Put((*[textBlock]byte)(k.cur[:textBlock]))
	}
	*k = TextKeeper{}
}
