package peek

import (
	"bytes"
	"errors"
	"mime/multipart"
	"testing"
)

func buildForm(t testing.TB, fields [][2]string, file []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		_ = mw.WriteField(f[0], f[1])
	}
	if file != nil {
		w, _ := mw.CreateFormFile("file", "a.mp3")
		_, _ = w.Write(file)
	}
	_ = mw.Close()
	return buf.Bytes(), mw.Boundary()
}

func TestMultipart(t *testing.T) {
	body, boundary := buildForm(t, [][2]string{{"prompt", "a cat"}, {"model", "gpt-image-1"}, {"n", "3"},
		{"size", "1024x1536"}, {"quality", "high"}, {"response_format", "srt"}, {"stream", "true"}}, make([]byte, 5000))
	f, err := Multipart(body, boundary)
	if err != nil {
		t.Fatal(err)
	}
	want := Form{Model: "gpt-image-1", N: 3, Size: "1024x1536", Quality: "high", ResponseFormat: "srt", Stream: true,
		Text: "a cat", Files: 1, FileBytes: 5000}
	if f != want {
		t.Errorf("Multipart = %+v, want %+v", f, want)
	}

	tests := []struct {
		name   string
		fields [][2]string
		want   error
	}{
		{"no model", [][2]string{{"prompt", "x"}}, ErrMissingModel},
		{"two models", [][2]string{{"model", "a"}, {"model", "b"}}, ErrInvalidField},
		{"bad n", [][2]string{{"model", "a"}, {"n", "0"}}, ErrInvalidField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, boundary := buildForm(t, tt.fields, []byte("x"))
			if _, err := Multipart(body, boundary); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := Multipart([]byte("--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nx"), "b"); !errors.Is(err, ErrMalformedForm) {
		t.Errorf("a truncated body: err = %v, want ErrMalformedForm", err)
	}
}

func TestMultipartModelSpan(t *testing.T) {
	file := []byte("name=\"model\"\r\n\r\nnot-this")
	body, boundary := buildForm(t, [][2]string{{"prompt", "p"}, {"model", "whisper-1"}}, file)
	from, to, ok := MultipartModelSpan(body, boundary)
	if !ok || string(body[from:to]) != "whisper-1" {
		t.Fatalf("span = %d..%d (%v): %q", from, to, ok, body[from:to])
	}
	patched := append(append(append([]byte(nil), body[:from]...), "mapped-model"...), body[to:]...)
	f, err := Multipart(patched, boundary)
	if err != nil || f.Model != "mapped-model" || f.FileBytes != int64(len(file)) || f.Text != "p" {
		t.Errorf("after splicing: %+v, %v", f, err)
	}
	// A file whose bytes look like a model part is not mistaken for one.
	body, boundary = buildForm(t, nil, []byte("x"))
	if _, _, ok := MultipartModelSpan(body, boundary); ok {
		t.Errorf("found a model in a form without one")
	}
}

func TestMediaJSON(t *testing.T) {
	f := MediaJSON([]byte(`{"model":"dall-e-3","prompt":"p","size":"1024x1792","quality":"hd","n":2}`), Fields{Model: "dall-e-3", N: 2})
	if f.Size != "1024x1792" || f.Quality != "hd" || f.Text != "p" || f.N != 2 {
		t.Errorf("MediaJSON = %+v", f)
	}
	if f := MediaJSON([]byte(`{"model":"tts-1","input":"héllo"}`), Fields{Model: "tts-1"}); f.Text != "héllo" || f.N != 1 {
		t.Errorf("speech MediaJSON = %+v", f)
	}
}

func FuzzMultipart(f *testing.F) {
	body, boundary := buildForm(f, [][2]string{{"model", "m"}, {"n", "2"}}, []byte("data"))
	f.Add(body, boundary)
	f.Add([]byte("--x\r\n\r\n--x--"), "x")
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		if boundary == "" {
			return
		}
		form, err := Multipart(body, boundary)
		if err == nil && form.Model == "" {
			t.Errorf("accepted a form without a model")
		}
		if from, to, ok := MultipartModelSpan(body, boundary); ok && (from > to || to > len(body)) {
			t.Errorf("span %d..%d out of range", from, to)
		}
	})
}
