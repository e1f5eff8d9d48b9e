package peek

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func TestPeek(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		want    Fields
		wantErr error
		wantMsg string // exact client-facing message, when it matters
	}{
		{
			name: "minimal",
			body: `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
			want: Fields{Model: "gpt-4o", N: 1},
		},
		{
			name: "streaming with usage",
			body: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"max_tokens":256,"n":2,"messages":[]}`,
			want: Fields{Model: "gpt-4o-mini", Stream: true, MaxTokens: 256, IncludeUsage: true, N: 2, HasStreamOptions: true},
		},
		{
			name: "tools, vision parts and unknown fields",
			body: `{"messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},` +
				`{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}}]}],` +
				`"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"model":{"type":"string"}}}}}],` +
				`"x_vendor":{"stream":"not ours"},"logit_bias":{"50256":-100},"model":"gpt-4.1","temperature":0.7}`,
			want: Fields{Model: "gpt-4.1", N: 1},
		},
		{
			// Only the top-level key counts; messages and metadata may
			// carry their own "model".
			name: "nested model keys ignored",
			body: `{"messages":[{"role":"user","model":"evil","content":"x"}],"metadata":{"model":"evil"},"model":"good"}`,
			want: Fields{Model: "good", N: 1},
		},
		{name: "unicode model", body: `{"model":"通义千问-max ✨"}`, want: Fields{Model: "通义千问-max ✨", N: 1}},
		{name: "escaped model", body: `{"model":"a\u00e9\"b\/c"}`, want: Fields{Model: "aé\"b/c", N: 1}},
		{name: "escaped key", body: `{"mod\u0065l":"m"}`, want: Fields{Model: "m", N: 1}},
		{name: "whitespace around", body: " \n\t{ \"model\" : \"m\" , \"stream\" : false } \n", want: Fields{Model: "m", N: 1}},
		{
			name: "max_completion_tokens",
			body: `{"model":"o3","max_completion_tokens":1000}`,
			want: Fields{Model: "o3", MaxTokens: 1000, N: 1},
		},
		{
			name: "max_output_tokens (Responses API)",
			body: `{"model":"gpt-5","input":"hi","max_output_tokens":500}`,
			want: Fields{Model: "gpt-5", MaxTokens: 500, N: 1},
		},
		{
			name: "max_tokens wins over the others",
			body: `{"model":"m","max_output_tokens":3,"max_completion_tokens":2,"max_tokens":1}`,
			want: Fields{Model: "m", MaxTokens: 1, N: 1},
		},
		{
			name: "null max_tokens falls back",
			body: `{"model":"m","max_tokens":null,"max_completion_tokens":7}`,
			want: Fields{Model: "m", MaxTokens: 7, N: 1},
		},
		{name: "zero max_tokens", body: `{"model":"m","max_tokens":0}`, want: Fields{Model: "m", N: 1}},
		{
			// SDKs send explicit nulls for unset options.
			name: "nulls are absent",
			body: `{"model":"m","stream":null,"n":null,"stream_options":null,"max_tokens":null}`,
			want: Fields{Model: "m", N: 1},
		},
		{
			name: "stream_options without include_usage",
			body: `{"model":"m","stream":true,"stream_options":{"include_obfuscation":false}}`,
			want: Fields{Model: "m", Stream: true, N: 1, HasStreamOptions: true},
		},
		{name: "integral float accepted", body: `{"model":"m","max_tokens":100.0,"n":1e0}`, want: Fields{Model: "m", MaxTokens: 100, N: 1}},
		{name: "max int", body: `{"model":"m","max_tokens":2147483647}`, want: Fields{Model: "m", MaxTokens: MaxInt, N: 1}},

		{name: "empty body", body: ``, wantErr: ErrInvalidJSON},
		{name: "truncated", body: `{"model":"m"`, wantErr: ErrInvalidJSON},
		{name: "trailing garbage", body: `{"model":"m"} x`, wantErr: ErrInvalidJSON},
		{name: "array", body: `[{"model":"m"}]`, wantErr: ErrInvalidJSON},
		{name: "string", body: `"model"`, wantErr: ErrInvalidJSON},
		{name: "null", body: `null`, wantErr: ErrInvalidJSON},
		{name: "single quotes", body: `{'model':'m'}`, wantErr: ErrInvalidJSON},
		{name: "missing model", body: `{"messages":[]}`, wantErr: ErrMissingModel},
		{name: "empty model", body: `{"model":""}`, wantErr: ErrMissingModel},
		{name: "null model", body: `{"model":null}`, wantErr: ErrMissingModel},
		{name: "numeric model", body: `{"model":4}`, wantErr: ErrMissingModel},
		{name: "object model", body: `{"model":{"name":"m"}}`, wantErr: ErrMissingModel},
		{name: "stream as string", body: `{"model":"m","stream":"true"}`, wantErr: ErrInvalidField, wantMsg: "stream must be a boolean"},
		{name: "stream as number", body: `{"model":"m","stream":1}`, wantErr: ErrInvalidField, wantMsg: "stream must be a boolean"},
		{
			name: "negative max_tokens", body: `{"model":"m","max_tokens":-1}`,
			wantErr: ErrInvalidField, wantMsg: "max_tokens must be a non-negative integer",
		},
		{
			name: "fractional max_tokens", body: `{"model":"m","max_tokens":10.5}`,
			wantErr: ErrInvalidField, wantMsg: "max_tokens must be a non-negative integer",
		},
		{
			name: "string max_tokens", body: `{"model":"m","max_tokens":"100"}`,
			wantErr: ErrInvalidField, wantMsg: "max_tokens must be a non-negative integer",
		},
		{
			name: "huge max_tokens", body: `{"model":"m","max_tokens":1e300}`,
			wantErr: ErrInvalidField, wantMsg: "max_tokens must be at most 2147483647",
		},
		{
			name: "int64 overflow", body: `{"model":"m","max_completion_tokens":99999999999999999999}`,
			wantErr: ErrInvalidField, wantMsg: "max_completion_tokens must be at most 2147483647",
		},
		{
			// Validated even when max_tokens takes precedence.
			name: "bad shadowed max_output_tokens", body: `{"model":"m","max_tokens":5,"max_output_tokens":true}`,
			wantErr: ErrInvalidField, wantMsg: "max_output_tokens must be a non-negative integer",
		},
		{name: "zero n", body: `{"model":"m","n":0}`, wantErr: ErrInvalidField, wantMsg: "n must be a positive integer"},
		{name: "negative n", body: `{"model":"m","n":-3}`, wantErr: ErrInvalidField, wantMsg: "n must be a positive integer"},
		{name: "array n", body: `{"model":"m","n":[1]}`, wantErr: ErrInvalidField, wantMsg: "n must be a positive integer"},
		{
			name: "stream_options not an object", body: `{"model":"m","stream_options":true}`,
			wantErr: ErrInvalidField, wantMsg: "stream_options must be an object",
		},
		{
			name: "include_usage not a bool", body: `{"model":"m","stream_options":{"include_usage":"yes"}}`,
			wantErr: ErrInvalidField, wantMsg: "stream_options.include_usage must be a boolean",
		},
		{
			// JSON parsers disagree on which duplicate wins; billing on
			// one model while the upstream serves another is not allowed.
			name: "duplicate model", body: `{"model":"cheap","model":"expensive"}`,
			wantErr: ErrInvalidField, wantMsg: "model must not appear more than once",
		},
		{
			name: "duplicate model with null first", body: `{"model":null,"model":"expensive"}`,
			wantErr: ErrInvalidField, wantMsg: "model must not appear more than once",
		},
		{
			name: "duplicate model via escaped key", body: `{"model":"a","m\u006fdel":"b"}`,
			wantErr: ErrInvalidField, wantMsg: "model must not appear more than once",
		},
		{
			name: "duplicate stream", body: `{"model":"m","stream":false,"stream":true}`,
			wantErr: ErrInvalidField, wantMsg: "stream must not appear more than once",
		},
		{
			name: "duplicate include_usage", body: `{"model":"m","stream_options":{"include_usage":true,"include_usage":false}}`,
			wantErr: ErrInvalidField, wantMsg: "stream_options.include_usage must not appear more than once",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Peek([]byte(tt.body))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantMsg != "" && (err == nil || err.Error() != tt.wantMsg) {
				t.Fatalf("message = %q, want %q", err, tt.wantMsg)
			}
			if err != nil {
				return
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestFieldErrorAs(t *testing.T) {
	t.Parallel()
	_, err := Peek([]byte(`{"model":"m","n":"2"}`))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "n" {
		t.Fatalf("err = %#v, want a *FieldError for n", err)
	}
}

func TestPeekModelDoesNotAliasBody(t *testing.T) {
	t.Parallel()
	body := []byte(`{"model":"gpt-4o"}`)
	f, err := Peek(body)
	if err != nil {
		t.Fatal(err)
	}
	// Bodies live in pooled buffers that are reused after the request.
	copy(body, bytes.Repeat([]byte("X"), len(body)))
	if f.Model != "gpt-4o" {
		t.Fatalf("Model changed with the body: %q", f.Model)
	}
}

func TestPeekFixture(t *testing.T) {
	t.Parallel()
	f, err := Peek(mustRead(t, "testdata/chat_request.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := Fields{Model: "gpt-4o-2024-08-06", Stream: true, MaxTokens: 4096, N: 1, HasStreamOptions: true}
	if f != want {
		t.Fatalf("got %+v, want %+v", f, want)
	}
}

func TestSetModel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, model, want string
	}{
		{"simple", `{"model":"a","stream":true}`, "b", `{"model":"b","stream":true}`},
		{
			"only the top-level key",
			`{"messages":[{"model":"a"}],"model":"a","metadata":{"model":"a"}}`, "gpt-4o-2024-08-06",
			`{"messages":[{"model":"a"}],"model":"gpt-4o-2024-08-06","metadata":{"model":"a"}}`,
		},
		{"escaping", `{"model":"a"}`, `x"y\z`, `{"model":"x\"y\\z"}`},
		{"unicode", `{"model":"a"}`, "模型", `{"model":"模型"}`},
		{"formatting kept", "{\n  \"model\": \"a\",\n  \"n\": 1\n}", "b", "{\n  \"model\": \"b\",\n  \"n\": 1\n}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := []byte(tt.body)
			got, err := SetModel(in, tt.model)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			if string(in) != tt.body {
				t.Fatalf("input modified: %s", in)
			}
			f, err := Peek(got)
			if err != nil || f.Model != tt.model {
				t.Fatalf("Peek after SetModel = %q, %v", f.Model, err)
			}
		})
	}
	if _, err := SetModel([]byte(`[1]`), "m"); err != ErrInvalidJSON {
		t.Fatalf("array body: err = %v, want ErrInvalidJSON", err)
	}
}

func TestForceIncludeUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
	}{
		{
			"absent", `{"model":"m","stream":true}`,
			`{"model":"m","stream":true,"stream_options":{"include_usage":true}}`,
		},
		{
			"other members kept", `{"model":"m","stream_options":{"include_obfuscation":false},"stream":true}`,
			`{"model":"m","stream_options":{"include_usage":true,"include_obfuscation":false},"stream":true}`,
		},
		{
			"false flipped in place", `{"model":"m","stream_options":{"include_usage":false,"x":1}}`,
			`{"model":"m","stream_options":{"include_usage":true,"x":1}}`,
		},
		{"already true", `{"model":"m","stream_options": {"include_usage" : true}}`, `{"model":"m","stream_options": {"include_usage" : true}}`},
		{"null options", `{"model":"m","stream_options":null}`, `{"model":"m","stream_options":{"include_usage":true}}`},
		{"empty options", `{"model":"m","stream_options":{}}`, `{"model":"m","stream_options":{"include_usage":true}}`},
		{"empty options with space", `{"model":"m","stream_options":{ }}`, `{"model":"m","stream_options":{"include_usage":true }}`},
		{"string options", `{"model":"m","stream_options":"x"}`, `{"model":"m","stream_options":{"include_usage":true}}`},
		{"absent, trailing space", "{\"model\":\"m\" }\n", "{\"model\":\"m\" ,\"stream_options\":{\"include_usage\":true}}\n"},
		{
			"nested stream_options untouched",
			`{"metadata":{"stream_options":{}},"model":"m"}`,
			`{"metadata":{"stream_options":{}},"model":"m","stream_options":{"include_usage":true}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := []byte(tt.body)
			got, err := ForceIncludeUsage(in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if string(in) != tt.body {
				t.Fatalf("input modified: %s", in)
			}
			f, err := Peek(got)
			if err != nil || !f.IncludeUsage || !f.HasStreamOptions {
				t.Fatalf("Peek after ForceIncludeUsage = %+v, %v", f, err)
			}
		})
	}
	if _, err := ForceIncludeUsage([]byte(` "x"`)); err != ErrInvalidJSON {
		t.Fatalf("string body: err = %v, want ErrInvalidJSON", err)
	}
}

func TestForceIncludeUsageFixture(t *testing.T) {
	t.Parallel()
	body := mustRead(t, "testdata/chat_request.json")
	got, err := ForceIncludeUsage(body)
	if err != nil {
		t.Fatal(err)
	}
	// Everything but the patched object is byte-identical.
	const before, after = `"stream_options": {"include_obfuscation"`, `"stream_options": {"include_usage":true,"include_obfuscation"`
	if want := bytes.Replace(body, []byte(before), []byte(after), 1); !bytes.Equal(got, want) {
		t.Fatalf("unexpected patch near %q", got[bytes.Index(got, []byte(`"stream_options"`)):])
	}
	if !gjson.ValidBytes(got) {
		t.Fatal("patched body is not valid JSON")
	}
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func FuzzPeek(f *testing.F) {
	f.Add(mustRead(f, "testdata/chat_request.json"), "mapped-model")
	f.Add([]byte(`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":false},"max_tokens":16,"n":2}`), "x")
	f.Add([]byte(`{"model":"a","model":"b"}`), "")
	f.Add([]byte(`{"mod\u0065l":"m","stream_options":null}`), "模型\n\"q\"")
	f.Add([]byte(`{"model":"m","max_tokens":1e3,"messages":[{"model":"n"}]}`), "m")
	f.Add([]byte(`[]`), "m")
	f.Fuzz(func(t *testing.T, body []byte, model string) {
		fields, err := Peek(body)
		if err != nil {
			return
		}
		if !gjson.ValidBytes(body) {
			t.Fatalf("Peek accepted invalid JSON %q", body)
		}
		if fields.Model == "" || fields.N < 1 || fields.MaxTokens < 0 {
			t.Fatalf("Peek returned impossible fields %+v", fields)
		}

		if model != "" {
			out, err := SetModel(body, model)
			if err != nil {
				t.Fatalf("SetModel: %v", err)
			}
			got, err := Peek(out)
			if err != nil {
				t.Fatalf("Peek after SetModel(%q): %v\n%s", model, err, out)
			}
			if want := validUTF8(model); got.Model != want {
				t.Fatalf("Peek after SetModel = %q, want %q", got.Model, want)
			}
			want := fields
			want.Model = got.Model
			if got != want {
				t.Fatalf("SetModel changed other fields: %+v, want %+v", got, want)
			}
		}

		out, err := ForceIncludeUsage(body)
		if err != nil {
			t.Fatalf("ForceIncludeUsage: %v", err)
		}
		got, err := Peek(out)
		if err != nil {
			t.Fatalf("Peek after ForceIncludeUsage: %v\n%s", err, out)
		}
		if !got.IncludeUsage || !got.HasStreamOptions || got.Model != fields.Model || got.Stream != fields.Stream {
			t.Fatalf("after ForceIncludeUsage: %+v, before %+v", got, fields)
		}
	})
}

// validUTF8 is what a model name reads back as after sjson encodes it:
// each invalid UTF-8 byte becomes U+FFFD, as converting through []rune does.
func validUTF8(s string) string {
	return string([]rune(s))
}

func BenchmarkPeek(b *testing.B) {
	body := mustRead(b, "testdata/chat_request.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Peek(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkForceIncludeUsage(b *testing.B) {
	body := mustRead(b, "testdata/chat_request.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ForceIncludeUsage(body); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPeekRefusesHostileShapes(t *testing.T) {
	t.Parallel()
	deep := `{"model":"m","messages":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`
	if _, err := Peek([]byte(deep)); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("deep nesting: %v", err)
	}
	ok := `{"model":"m","x":` + strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1) + `}`
	if _, err := Peek([]byte(ok)); err != nil {
		t.Fatalf("nesting at the bound refused: %v", err)
	}
	// Brackets inside strings, and escaped quotes, are not nesting.
	str := `{"model":"m","content":"` + strings.Repeat(`[{\"`, 1000) + `"}`
	if _, err := Peek([]byte(str)); err != nil {
		t.Fatalf("brackets in a string: %v", err)
	}
	if _, err := Peek([]byte("{\"model\":\"m\",\"content\":\"caf\xe9 \xff\"}")); !errors.Is(err, ErrInvalidUTF8) {
		t.Fatalf("invalid UTF-8: %v", err)
	}
}
