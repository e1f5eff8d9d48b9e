package channel

import "strings"

// MaxKeptText bounds the generated text a stream keeps for counting tokens
// locally (used only when the upstream reports no usage). Past it only the
// byte count grows, so a 10 MB stream does not hold 10 MB.
const MaxKeptText = 256 << 10

// TextKeeper keeps at most MaxKeptText bytes of a stream's generated text.
// The zero value is ready to use.
type TextKeeper struct {
	b     strings.Builder
	extra int
}

// Add appends s, or counts it once the cap is reached.
func (k *TextKeeper) Add(s string) {
	if room := MaxKeptText - k.b.Len(); room < len(s) {
		if room > 0 {
			k.b.WriteString(s[:room])
		}
		k.extra += len(s) - max(room, 0)
		return
	}
	k.b.WriteString(s)
}

// String returns the kept text.
func (k *TextKeeper) String() string { return k.b.String() }

// ExtraTokens estimates the tokens of the text beyond the cap, at 4 bytes
// per token.
func (k *TextKeeper) ExtraTokens() int { return (k.extra + 3) / 4 }
