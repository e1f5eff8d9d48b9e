// Package peek reads the few request fields the gateway routes and bills on
// (model, stream, max_tokens, n, stream_options) without decoding the whole
// body, and patches them in place when the body is forwarded as is.
//
// A chat request can be megabytes of messages and base64 images; the relay
// only needs a handful of top-level scalars, so a full encoding/json decode
// would be pure waste on the hot path (see ARCHITECTURE.md, "Read the request
// body once").
package peek

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// MaxInt is the largest value Peek accepts for max_tokens and n. It keeps
// quota arithmetic (tokens × n × price ratios) far from int64 overflow; no
// model comes near it.
const MaxInt = math.MaxInt32

// The errors below are client-facing: their text is what the user sees.
var (
	// ErrInvalidJSON means the body is not valid JSON or not a JSON object.
	ErrInvalidJSON = errors.New("request body must be a valid JSON object")
	// ErrTooDeep refuses hostile nesting before any recursive parser sees it.
	ErrTooDeep = errors.New("request body nests JSON deeper than 512 levels")
	// ErrInvalidUTF8 refuses bodies that are not UTF-8, as JSON requires.
	ErrInvalidUTF8 = errors.New("request body is not valid UTF-8")
	// ErrMissingModel means model is absent, null, empty or not a string.
	ErrMissingModel = errors.New("model must be a non-empty string")
	// ErrInvalidField is wrapped by every *FieldError, so callers can map
	// all field errors to one "invalid request" kind with errors.Is.
	ErrInvalidField = errors.New("invalid request field")
)

// FieldError reports a field Peek reads that has the wrong type or range.
// Its message names the field, e.g. "max_tokens must be a non-negative
// integer".
type FieldError struct {
	// Field is the JSON field name, dotted for nested fields
	// ("stream_options.include_usage").
	Field string
	// Reason completes the sentence that starts with Field.
	Reason string
}

// Error returns the client-facing message.
func (e *FieldError) Error() string { return e.Field + " " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidField) true.
func (e *FieldError) Unwrap() error { return ErrInvalidField }

// Fields are the request fields the gateway needs before it forwards a body.
type Fields struct {
	// Model is the requested model name.
	Model string
	// Stream is the "stream" flag; false when absent or null.
	Stream bool
	// MaxTokens is max_tokens, else max_completion_tokens (chat), else
	// max_output_tokens (Responses API); 0 when none is present.
	MaxTokens int
	// IncludeUsage is stream_options.include_usage.
	IncludeUsage bool
	// N is the number of choices requested; 1 when absent or null.
	N int
	// HasStreamOptions reports a stream_options object (null counts as
	// absent, as the OpenAI API treats it).
	HasStreamOptions bool
}

// field bits, to detect a field that appears twice.
const (
	seenModel uint8 = 1 << iota
	seenStream
	seenMaxTokens
	seenMaxCompletionTokens
	seenMaxOutputTokens
	seenN
	seenStreamOptions
)

// Peek reads Fields from a request body in one pass over its top-level
// members. Nested objects (messages, tools) are skipped, so a "model" key
// inside a message is never picked up. JSON null is treated as absent for
// every field, because several SDKs send explicit nulls for unset options.
//
// A field Peek reads that appears more than once is rejected: JSON parsers
// disagree on which duplicate wins (this package and sjson take the first,
// many upstreams the last), and the gateway must bill and route on the same
// model the upstream serves.
func Peek(body []byte) (Fields, error) {
	if err := checkShape(body); err != nil {
		return Fields{}, err
	}
	if !gjson.ValidBytes(body) {
		return Fields{}, ErrInvalidJSON
	}
	root := gjson.Parse(bytesToString(body))
	if !root.IsObject() {
		return Fields{}, ErrInvalidJSON
	}
	p := peeker{f: Fields{N: 1}}
	root.ForEach(p.member)
	if p.err != nil {
		return Fields{}, p.err
	}
	if p.f.Model == "" {
		return Fields{}, ErrMissingModel
	}
	switch {
	case p.set&seenMaxTokens != 0:
		p.f.MaxTokens = p.maxTokens
	case p.set&seenMaxCompletionTokens != 0:
		p.f.MaxTokens = p.maxCompletionTokens
	case p.set&seenMaxOutputTokens != 0:
		p.f.MaxTokens = p.maxOutputTokens
	}
	return p.f, nil
}

// peeker holds Peek's state while gjson walks the top-level members.
type peeker struct {
	f                   Fields
	seen                uint8 // fields seen, null or not, for duplicate checks
	set                 uint8 // fields seen with a non-null value
	maxTokens           int
	maxCompletionTokens int
	maxOutputTokens     int
	err                 error
}

// member handles one top-level member; it returns false to stop the walk on
// the first error.
func (p *peeker) member(key, v gjson.Result) bool {
	var bit uint8
	switch key.Str {
	case "model":
		bit = seenModel
	case "stream":
		bit = seenStream
	case "max_tokens":
		bit = seenMaxTokens
	case "max_completion_tokens":
		bit = seenMaxCompletionTokens
	case "max_output_tokens":
		bit = seenMaxOutputTokens
	case "n":
		bit = seenN
	case "stream_options":
		bit = seenStreamOptions
	default:
		return true
	}
	// A null duplicate counts too: {"model":null,"model":"x"} would let
	// SetModel patch the null while the upstream reads "x".
	if p.seen&bit != 0 {
		p.err = &FieldError{Field: key.Str, Reason: "must not appear more than once"}
		return false
	}
	p.seen |= bit
	if v.Type == gjson.Null {
		// Treated as absent; a null model is reported by the empty Model.
		return true
	}
	p.set |= bit
	switch bit {
	case seenModel:
		if v.Type != gjson.String || v.Str == "" {
			p.err = ErrMissingModel
			return false
		}
		// v.Str may alias the caller's body (see bytesToString), which is
		// often a pooled buffer: copy it.
		p.f.Model = strings.Clone(v.Str)
	case seenStream:
		p.f.Stream, p.err = boolField("stream", v)
	case seenMaxTokens:
		p.maxTokens, p.err = intField("max_tokens", v, 0)
	case seenMaxCompletionTokens:
		p.maxCompletionTokens, p.err = intField("max_completion_tokens", v, 0)
	case seenMaxOutputTokens:
		p.maxOutputTokens, p.err = intField("max_output_tokens", v, 0)
	case seenN:
		p.f.N, p.err = intField("n", v, 1)
	case seenStreamOptions:
		p.err = p.streamOptions(v)
	}
	return p.err == nil
}

// streamOptions reads the stream_options object.
func (p *peeker) streamOptions(v gjson.Result) error {
	if !v.IsObject() {
		return &FieldError{Field: "stream_options", Reason: "must be an object"}
	}
	p.f.HasStreamOptions = true
	var err error
	seen := false
	v.ForEach(func(key, v gjson.Result) bool {
		if key.Str != "include_usage" {
			return true
		}
		if seen {
			err = &FieldError{Field: "stream_options.include_usage", Reason: "must not appear more than once"}
			return false
		}
		seen = true
		if v.Type != gjson.Null {
			p.f.IncludeUsage, err = boolField("stream_options.include_usage", v)
		}
		return err == nil
	})
	return err
}

// boolField requires a JSON boolean.
func boolField(name string, v gjson.Result) (bool, error) {
	switch v.Type {
	case gjson.True:
		return true, nil
	case gjson.False:
		return false, nil
	}
	return false, &FieldError{Field: name, Reason: "must be a boolean"}
}

// intField requires a JSON number that is an integer in [min, MaxInt].
// Integral floats such as 100.0 or 1e3 are accepted, as the OpenAI API
// accepts them.
func intField(name string, v gjson.Result, min int) (int, error) {
	if v.Type != gjson.Number {
		return 0, notInt(name, min)
	}
	var n float64
	if i, err := strconv.ParseInt(v.Raw, 10, 64); err == nil {
		n = float64(i)
	} else {
		// A fraction, an exponent or an int64 overflow: gjson's float
		// value decides.
		n = v.Num
		if n != math.Trunc(n) {
			return 0, notInt(name, min)
		}
	}
	if n < float64(min) {
		return 0, notInt(name, min)
	}
	if n > MaxInt {
		return 0, &FieldError{Field: name, Reason: "must be at most " + strconv.Itoa(MaxInt)}
	}
	return int(n), nil
}

// notInt builds intField's type error; it is separate so the success path
// does not allocate the error.
func notInt(name string, min int) error {
	if min > 0 {
		return &FieldError{Field: name, Reason: "must be a positive integer"}
	}
	return &FieldError{Field: name, Reason: "must be a non-negative integer"}
}

// bytesToString views b as a string without copying. gjson's own GetBytes
// does the same; it is safe because nothing here retains the string past the
// call (Model is cloned) and the body is not modified meanwhile.
func bytesToString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// SetModel returns body with its top-level model value replaced by model,
// for model mapping. body is not modified. The body should already have
// passed Peek, which rejects duplicate model keys; otherwise the first one
// is replaced.
func SetModel(body []byte, model string) ([]byte, error) {
	if !isObject(body) {
		return nil, ErrInvalidJSON
	}
	return sjson.SetBytes(body, "model", model)
}

// ForceIncludeUsage returns body with stream_options.include_usage set to
// true, so a streaming upstream reports usage in its last chunk and the
// gateway can bill without tokenising. Other stream_options members and the
// rest of the body keep their bytes; a stream_options that is null or not an
// object is replaced. When include_usage is already true, body itself is
// returned. body is never modified.
//
// It runs on most streaming requests (few clients ask for usage), so it
// splices the patch into one new buffer instead of going through sjson,
// which copies the body several times.
func ForceIncludeUsage(body []byte) ([]byte, error) {
	if !isObject(body) {
		return nil, ErrInvalidJSON
	}
	opts := gjson.GetBytes(body, "stream_options")
	switch {
	case !opts.Exists():
		end := bytes.LastIndexByte(body, '}')
		if end < 0 {
			return nil, ErrInvalidJSON
		}
		member := `"stream_options":{"include_usage":true}`
		if !emptyBefore(body, end) {
			member = "," + member
		}
		return splice(body, end, end, member), nil
	case !opts.IsObject():
		// null, or a value Peek would reject: replace it whole.
		if !at(body, opts) {
			break
		}
		return splice(body, opts.Index, opts.Index+len(opts.Raw), `{"include_usage":true}`), nil
	default:
		inc := opts.Get("include_usage")
		if inc.Type == gjson.True {
			return body, nil
		}
		if inc.Exists() {
			if !at(body, inc) {
				break
			}
			return splice(body, inc.Index, inc.Index+len(inc.Raw), "true"), nil
		}
		if !at(body, opts) {
			break
		}
		// Insert as the first member, right after the '{'.
		pos := opts.Index + 1
		member := `"include_usage":true`
		if !emptyBefore(body, opts.Index+len(opts.Raw)-1) {
			member += ","
		}
		return splice(body, pos, pos, member), nil
	}
	// gjson could not report where the value sits: let sjson find it.
	return sjson.SetBytes(body, "stream_options.include_usage", true)
}

// at reports whether r's Index really locates r.Raw in body; gjson leaves
// Index at 0 when it cannot tell.
func at(body []byte, r gjson.Result) bool {
	return r.Index > 0 && r.Index+len(r.Raw) <= len(body) &&
		string(body[r.Index:r.Index+len(r.Raw)]) == r.Raw
}

// emptyBefore reports whether the object closed by the '}' at end has no
// members, i.e. only whitespace separates it from its '{'.
func emptyBefore(body []byte, end int) bool {
	for i := end - 1; i >= 0; i-- {
		switch body[i] {
		case ' ', '\t', '\n', '\r':
			continue
		case '{':
			return true
		}
		return false
	}
	return false
}

// splice returns a new buffer holding body with body[from:to] replaced by s,
// in a single allocation.
func splice(body []byte, from, to int, s string) []byte {
	out := make([]byte, 0, len(body)-(to-from)+len(s))
	out = append(out, body[:from]...)
	out = append(out, s...)
	return append(out, body[to:]...)
}

// isObject is a cheap guard for the setters: the body starts like a JSON
// object. Full validation is Peek's job, done once per request.
func isObject(body []byte) bool {
	for _, c := range body {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c == '{'
	}
	return false
}

// MaxDepth bounds JSON nesting. Real requests nest a handful of levels
// (messages → content parts → tool schemas); the validator recurses per
// level, so millions of nested arrays would overflow the goroutine stack
// and kill the process, which no recover can catch.
const MaxDepth = 512

// checkShape is one iterative pass that refuses what the recursive
// validator must never see: nesting past MaxDepth, and invalid UTF-8
// (which the validator accepts and upstreams then choke on).
func checkShape(body []byte) error {
	depth := 0
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '"':
			// Jump to the closing quote (IndexByte is vectorised): a quote
			// preceded by an odd run of backslashes is escaped.
			for {
				j := bytes.IndexByte(body[i+1:], '"')
				if j < 0 {
					return ErrInvalidJSON
				}
				i += j + 1
				k := i - 1
				for k >= 0 && body[k] == '\\' {
					k--
				}
				if (i-1-k)%2 == 0 {
					break
				}
			}
		case '[', '{':
			if depth++; depth > MaxDepth {
				return ErrTooDeep
			}
		case ']', '}':
			depth--
		}
	}
	if !utf8.Valid(body) {
		return ErrInvalidUTF8
	}
	return nil
}
