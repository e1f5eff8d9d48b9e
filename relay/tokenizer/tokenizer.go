// Package tokenizer counts tokens the way OpenAI's models do, as the usage
// fallback for upstreams that report none.
//
// It is deliberately off the hot path: the reservation is estimated from the
// body size and max_tokens (ARCHITECTURE.md, "Never tokenise just to
// estimate"), and a tokenizer runs only to settle a request whose upstream
// returned no usage. The BPE ranks are embedded in the binary
// (tiktoken-go-loader's offline loader), so nothing is downloaded at run
// time, and each encoding is built on first use because building one costs
// 0.1–0.3 s and tens of megabytes.
//
// Non-OpenAI models are counted with cl100k_base. That is an approximation
// (their own tokenizers differ by roughly ±20 %), good enough for a fallback
// that only matters when the upstream does not say what it charged.
package tokenizer

import (
	"strings"
	"sync"
	"unicode/utf8"

	tiktoken "github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
)

// Encoding names, as tiktoken spells them.
const (
	// O200kBase is the encoding of the gpt-4o generation and later.
	O200kBase = "o200k_base"
	// Cl100kBase is the encoding of gpt-4, gpt-3.5-turbo and the
	// text-embedding models, and the approximation for everything else.
	Cl100kBase = "cl100k_base"
)

// chunkSize bounds the text handed to the BPE library in one call. The
// library's pre-tokenising regexp and its byte-pair merge are quadratic in
// the length of a single piece: 40 KB of one repeated letter takes seconds.
// Cutting the text into chunks keeps any input linear (about 1 µs per byte).
// Cuts are made before a space that follows a non-space, where both
// encodings' regexps start a new piece anyway, so ordinary text counts
// exactly; only space-free runs longer than this (base64, long CJK runs) are
// cut mid-piece, costing at most a token or two per cut.
const chunkSize = 1024

// loaderOnce installs the offline loader before the first encoding is built.
// tiktoken keeps the loader in an unsynchronised package variable, so it is
// set exactly once, ordered before every GetEncoding by the sync.Once.
var loaderOnce sync.Once

func useOfflineLoader() {
	loaderOnce.Do(func() {
		tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader())
	})
}

// lazyEncoding builds one encoding on first use.
type lazyEncoding struct {
	name string
	once sync.Once
	enc  *tiktoken.Tiktoken
	err  error
}

func (l *lazyEncoding) get() (*tiktoken.Tiktoken, error) {
	l.once.Do(func() {
		useOfflineLoader()
		l.enc, l.err = tiktoken.GetEncoding(l.name)
	})
	return l.enc, l.err
}

// counter holds the lazily built encodings. The package uses one; tests
// make fresh ones to exercise a cold start.
type counter struct {
	o200k  lazyEncoding
	cl100k lazyEncoding
}

func newCounter() *counter {
	return &counter{o200k: lazyEncoding{name: O200kBase}, cl100k: lazyEncoding{name: Cl100kBase}}
}

var std = newCounter()

// EncodingFor returns the name of the encoding used to count model's tokens:
// O200kBase for the gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1, o3, o4 and gpt-oss
// families, Cl100kBase for everything else. A routing prefix such as
// "openai/" or a fine-tune prefix "ft:" is ignored, and case does not matter.
func EncodingFor(model string) string {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	m = strings.TrimPrefix(m, "ft:")
	for _, family := range o200kFamilies {
		if strings.HasPrefix(m, family) {
			rest := m[len(family):]
			// "o1" must match "o1-mini" but not "o100k-model".
			if rest == "" || rest[0] == '-' || rest[0] == '.' || rest[0] == ':' || rest[0] == '@' {
				return O200kBase
			}
		}
	}
	return Cl100kBase
}

// o200kFamilies are the model-name prefixes that use o200k_base, per OpenAI's
// tiktoken model table.
var o200kFamilies = []string{
	"gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-oss",
	"o1", "o3", "o4", "codex-mini", "omni-moderation", "computer-use-preview",
}

// CountText returns the number of tokens in text for model (see EncodingFor).
// Special-token text such as "<|endoftext|>" is counted as ordinary text, as
// an API counts it inside a message.
func CountText(model, text string) int {
	return std.countText(EncodingFor(model), text)
}

func (c *counter) countText(encoding, text string) int {
	if text == "" {
		return 0
	}
	l := &c.cl100k
	if encoding == O200kBase {
		l = &c.o200k
	}
	enc, err := l.get()
	if err != nil {
		// Unreachable with embedded ranks; still, never let a fallback
		// counter fail a settlement: about 4 bytes per token.
		return (len(text) + 3) / 4
	}
	n := 0
	for text != "" {
		chunk := text
		if len(chunk) > chunkSize {
			chunk = text[:cut(text)]
		}
		n += len(enc.EncodeOrdinary(chunk))
		text = text[len(chunk):]
	}
	return n
}

// cut returns where to end the first chunk of text, which is longer than
// chunkSize: before the last space that follows a non-space in the second
// half of the window, else at the last rune boundary within the window.
func cut(text string) int {
	for i := chunkSize; i > chunkSize/2; i-- {
		if text[i] == ' ' && !isSpace(text[i-1]) {
			return i
		}
	}
	i := chunkSize
	for i > 0 && !utf8.RuneStart(text[i]) {
		i--
	}
	if i == 0 {
		return chunkSize // invalid UTF-8: any cut will do
	}
	return i
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}
