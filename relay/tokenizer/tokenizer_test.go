package tokenizer

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// netAttempts counts HTTP requests made by anything in this test binary.
var netAttempts atomic.Int64

// noNetwork fails every request. tiktoken's default loader fetches the
// ranks with http.Get, so if the offline loader were not in effect the
// encoders would fail to build and the counts below would be wrong.
type noNetwork struct{}

func (noNetwork) RoundTrip(*http.Request) (*http.Response, error) {
	netAttempts.Add(1)
	return nil, errors.New("network access is forbidden in tokenizer tests")
}

// TestMain runs every test with networking unavailable and an empty tiktoken
// cache directory, then fails the run if anything tried the network: the
// encodings must come from the embedded ranks alone.
func TestMain(m *testing.M) {
	http.DefaultTransport = noNetwork{}
	dir, err := os.MkdirTemp("", "tiktoken-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("TIKTOKEN_CACHE_DIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	if n := netAttempts.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d network request(s) attempted\n", n)
		code = 1
	}
	os.Exit(code)
}

func TestEncodingFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		model, want string
	}{
		{"gpt-4o", O200kBase},
		{"gpt-4o-mini-2024-07-18", O200kBase},
		{"chatgpt-4o-latest", O200kBase},
		{"gpt-4.1-nano", O200kBase},
		{"gpt-5", O200kBase},
		{"gpt-5.1-codex", O200kBase},
		{"o1", O200kBase},
		{"o1-mini", O200kBase},
		{"o3-pro", O200kBase},
		{"o4-mini-2025-04-16", O200kBase},
		{"openai/gpt-4o", O200kBase}, // OpenRouter-style routing prefix
		{"ft:gpt-4o-mini:acme::abc123", O200kBase},
		{"GPT-4O", O200kBase},
		{"gpt-4", Cl100kBase},
		{"gpt-4-turbo", Cl100kBase},
		{"gpt-3.5-turbo", Cl100kBase},
		{"text-embedding-3-small", Cl100kBase},
		{"o100-custom", Cl100kBase}, // not the o1 family
		{"claude-sonnet-4-20250514", Cl100kBase},
		{"deepseek-chat", Cl100kBase},
		{"", Cl100kBase},
	}
	for _, tt := range tests {
		if got := EncodingFor(tt.model); got != tt.want {
			t.Errorf("EncodingFor(%q) = %s, want %s", tt.model, got, tt.want)
		}
	}
}

func TestCountText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		text        string
		cl100k      int
		o200k       int
		explanation string
	}{
		{"hello world", "hello world", 2, 2, "two common words"},
		// tiktoken's README: "tiktoken is great!" -> t|ik|token| is| great|!
		// in cl100k; o200k splits "tiktoken" the same way.
		{"readme example", "tiktoken is great!", 6, 6, "t, ik, token, is, great, !"},
		{"pangram", "The quick brown fox jumps over the lazy dog.", 10, 10, "nine words and a period"},
		// o200k's larger vocabulary has whole-word CJK tokens.
		{"cjk", "日本語", 4, 2, "cl100k falls back to bytes for 語"},
		// Special tokens inside user text are ordinary text, never a panic.
		{"special token text", "<|endoftext|>", 7, 7, "<, |, endo/end, ..."},
		{"empty", "", 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := CountText("gpt-4", tt.text); got != tt.cl100k {
				t.Errorf("cl100k: %d tokens, want %d", got, tt.cl100k)
			}
			if got := CountText("gpt-4o", tt.text); got != tt.o200k {
				t.Errorf("o200k: %d tokens, want %d", got, tt.o200k)
			}
		})
	}
}

// TestChunkingIsExactOnText checks that cutting long text before a space
// changes nothing for ordinary prose and code.
func TestChunkingIsExactOnText(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile("testdata/long_chat.json")
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	gjson.GetBytes(body, "messages.#.content").ForEach(func(_, v gjson.Result) bool {
		if v.Type == gjson.String {
			sb.WriteString(v.Str)
			sb.WriteString("\n\n")
		}
		return true
	})
	text := strings.Repeat(sb.String(), 4)
	if len(text) < 8*chunkSize {
		t.Fatalf("text too short to exercise chunking: %d bytes", len(text))
	}
	for _, enc := range []string{Cl100kBase, O200kBase} {
		e, err := lazyFor(std, enc).get()
		if err != nil {
			t.Fatal(err)
		}
		whole := len(e.EncodeOrdinary(text))
		if got := std.countText(enc, text); got != whole {
			t.Errorf("%s: chunked count %d, whole-text count %d", enc, got, whole)
		}
	}
}

func lazyFor(c *counter, enc string) *lazyEncoding {
	if enc == O200kBase {
		return &c.o200k
	}
	return &c.cl100k
}

// TestPathologicalInputIsLinear guards the chunking: unchunked, 40 KB of one
// repeated character takes the BPE library seconds, growing quadratically.
func TestPathologicalInputIsLinear(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want int // exact where the chunk cuts cannot change the count
	}{
		{"one long word", strings.Repeat("a", 200_000), -1},
		{"spaces", strings.Repeat(" ", 200_000), -1},
		{"newlines", strings.Repeat("\n", 200_000), -1},
		{"two-byte runes", strings.Repeat("é", 100_000), 100_000}, // one token each in cl100k
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			got := CountText("gpt-4", tt.text)
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %v for %d bytes", d, len(tt.text))
			}
			if tt.want >= 0 && got != tt.want {
				t.Errorf("count = %d, want %d", got, tt.want)
			}
			if got <= 0 || got > len(tt.text) {
				t.Errorf("count = %d for %d bytes", got, len(tt.text))
			}
		})
	}
}

func TestCut(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("word ", chunkSize)
	if i := cut(long); long[i] != ' ' || long[i-1] == ' ' || i > chunkSize {
		t.Errorf("cut at %d, want before a space following a non-space", i)
	}
	runes := strings.Repeat("語", chunkSize)
	if i := cut(runes); i > chunkSize || i%3 != 0 {
		t.Errorf("cut at %d, want a rune boundary <= %d", i, chunkSize)
	}
	invalid := strings.Repeat("\x80", 2*chunkSize)
	if i := cut(invalid); i != chunkSize {
		t.Errorf("cut at %d in invalid UTF-8, want %d", i, chunkSize)
	}
}

func TestCountChatPromptCookbook(t *testing.T) {
	t.Parallel()
	// OpenAI's cookbook "How to count tokens with tiktoken" reports these
	// prompt_tokens from the API itself for this exact conversation.
	body, err := os.ReadFile("testdata/cookbook_chat.json")
	if err != nil {
		t.Fatal(err)
	}
	for model, want := range map[string]int{"gpt-4-0613": 129, "gpt-3.5-turbo": 129, "gpt-4o": 124, "gpt-4o-mini": 124} {
		if got := CountChatPrompt(model, body); got != want {
			t.Errorf("%s: %d prompt tokens, want %d", model, got, want)
		}
	}
}

func TestCountChatPrompt(t *testing.T) {
	t.Parallel()
	const m = "gpt-4o"
	c := func(s string) int { return CountText(m, s) }
	tools := `[{"type":"function","function":{"name":"lookup","parameters":{"type":"object"}}}]`
	tests := []struct {
		name string
		body string
		want int
	}{
		{"no messages", `{"model":"gpt-4o"}`, 3},
		{
			"string content",
			`{"messages":[{"role":"user","content":"hello world"}]}`,
			3 + c("user") + 2 + 3,
		},
		{
			"name adds one",
			`{"messages":[{"role":"user","name":"bob","content":"hi"}]}`,
			3 + c("user") + c("hi") + 1 + c("bob") + 3,
		},
		{
			"text and image parts",
			`{"messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},` +
				`{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},{"type":"text","text":"be brief"}]}]}`,
			3 + c("user") + c("what is this?") + 85 + c("be brief") + 3,
		},
		{
			"audio part counts nothing",
			`{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}`,
			3 + c("user") + 3,
		},
		{
			"tool calls and tool results",
			`{"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",` +
				`"function":{"name":"lookup","arguments":"{\"q\":\"x\"}"}}]},{"role":"tool","tool_call_id":"c1","content":"found"}]}`,
			3 + c("assistant") + c("lookup") + c(`{"q":"x"}`) + 3 + c("tool") + c("found") + 3,
		},
		{
			"tools array counted as raw text",
			`{"messages":[{"role":"user","content":"hi"}],"tools":` + tools + `}`,
			3 + c("user") + c("hi") + 3 + c(tools),
		},
		{
			"escaped content is unescaped first",
			`{"messages":[{"role":"user","content":"line\nbreak \u00e9"}]}`,
			3 + c("user") + c("line\nbreak é") + 3,
		},
		{"not JSON", `not json`, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := CountChatPrompt(m, []byte(tt.body)); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestCountCompletionsAndEmbeddings(t *testing.T) {
	t.Parallel()
	const m = "text-embedding-3-small"
	tests := []struct {
		name string
		val  string
		want int
	}{
		{"string", `"hello world"`, 2},
		{"strings", `["hello world","hello world","The quick brown fox jumps over the lazy dog."]`, 14},
		{"token array", `[15339, 1917, 0]`, 3},
		{"token arrays", `[[15339, 1917], [1, 2, 3, 4]]`, 6},
		{"empty string", `""`, 0},
		{"empty array", `[]`, 0},
		{"null", `null`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := CountEmbeddingInput(m, []byte(`{"model":"m","input":`+tt.val+`}`)); got != tt.want {
				t.Errorf("embeddings: got %d, want %d", got, tt.want)
			}
			if got := CountCompletionsPrompt(m, []byte(`{"model":"m","prompt":`+tt.val+`}`)); got != tt.want {
				t.Errorf("completions: got %d, want %d", got, tt.want)
			}
		})
	}
	if got := CountEmbeddingInput(m, []byte(`{"model":"m"}`)); got != 0 {
		t.Errorf("absent input: got %d, want 0", got)
	}
}

// TestConcurrentColdStart builds both encodings from a cold counter while
// many goroutines count at once; run it with -race.
func TestConcurrentColdStart(t *testing.T) {
	t.Parallel()
	c := newCounter()
	texts := []string{"hello world", "The quick brown fox jumps over the lazy dog.", "日本語", strings.Repeat("token ", 300)}
	want := map[string][]int{}
	for _, enc := range []string{Cl100kBase, O200kBase} {
		for _, s := range texts {
			want[enc] = append(want[enc], std.countText(enc, s))
		}
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			enc := Cl100kBase
			if g%2 == 1 {
				enc = O200kBase
			}
			for range 5 {
				for i, s := range texts {
					if got := c.countText(enc, s); got != want[enc][i] {
						t.Errorf("%s %q: %d, want %d", enc, s, got, want[enc][i])
					}
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkCountText(b *testing.B) {
	text := strings.Repeat("The gateway counts tokens itself only when the upstream reports no usage. ", 50)
	CountText("gpt-4o", "warm up")
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		CountText("gpt-4o", text)
	}
}

func BenchmarkCountChatPrompt(b *testing.B) {
	body, err := os.ReadFile("testdata/long_chat.json")
	if err != nil {
		b.Fatal(err)
	}
	CountText("gpt-4o-mini", "warm up")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		CountChatPrompt("gpt-4o-mini", body)
	}
}
