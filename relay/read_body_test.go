package relay

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadBodyMatchesLimitedReadAll pins readBody to what it replaced,
// io.ReadAll(io.LimitReader(body, limit+1)), whatever Content-Length
// claims and however the body hands out its bytes.
func TestReadBodyMatchesLimitedReadAll(t *testing.T) {
	t.Parallel()
	const limit = 1000
	boom := errors.New("connection reset")
	tests := []struct {
		name          string
		body          string
		contentLength int64
		wrap          func(io.Reader) io.Reader
		wantErr       error
	}{
		{"length known", strings.Repeat("a", 700), 700, nil, nil},
		{"length unknown", strings.Repeat("a", 700), -1, nil, nil},
		{"empty", "", 0, nil, nil},
		{"exactly the limit", strings.Repeat("a", limit), limit, nil, nil},
		{"one past the limit", strings.Repeat("a", limit+1), limit + 1, nil, nil},
		{"far past the limit, length unknown", strings.Repeat("a", 5*limit), -1, nil, nil},
		// A length that undersells the body must not cut it short.
		{"length too small", strings.Repeat("a", 900), 10, nil, nil},
		{"length too large", strings.Repeat("a", 10), 900, nil, nil},
		{"byte by byte", strings.Repeat("a", 600), 600, iotest.OneByteReader, nil},
		{"EOF with the last bytes", strings.Repeat("a", 600), 600, iotest.DataErrReader, nil},
		{"error mid-body", strings.Repeat("a", 600), 600, func(r io.Reader) io.Reader {
			return io.MultiReader(io.LimitReader(r, 300), iotest.ErrReader(boom))
		}, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := func() io.Reader {
				var r io.Reader = strings.NewReader(tt.body)
				if tt.wrap != nil {
					r = tt.wrap(r)
				}
				return r
			}
			want, wantErr := io.ReadAll(io.LimitReader(src(), limit+1))
			got, err := readBody(&http.Response{Body: io.NopCloser(src()), ContentLength: tt.contentLength}, limit)
			if !errors.Is(err, tt.wantErr) || !errors.Is(wantErr, tt.wantErr) {
				t.Fatalf("err %v, want %v (ReadAll: %v)", err, tt.wantErr, wantErr)
			}
			if err == nil && !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, want %d", len(got), len(want))
			}
		})
	}
}
