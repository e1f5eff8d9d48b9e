package peek

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// ErrMalformedForm means a multipart/form-data body could not be parsed.
var ErrMalformedForm = errors.New("request body is not a valid multipart/form-data upload")

// maxFormField bounds a text field of an upload read into memory: a prompt
// (gpt-image takes up to 32,000 characters) is far below it.
const maxFormField = 256 << 10

// Form is what the media routes (images, audio, moderations, rerank) bill
// and route on, read from a JSON body or a multipart/form-data upload.
type Form struct {
	// Model is the requested model.
	Model string
	// N is the number of images requested; 1 when absent.
	N int
	// Size, Quality and ResponseFormat are the image or transcription
	// options of those names, as sent ("" when absent).
	Size, Quality, ResponseFormat string
	// Stream is the stream flag.
	Stream bool
	// Text is the text priced by characters or tokens: an image prompt, the
	// speech input.
	Text string
	// Files counts the uploaded files; FileBytes is their total size.
	Files     int
	FileBytes int64
}

// MediaJSON reads a media route's JSON body. It takes the Fields Peek
// already read (model, n, stream) and adds the media options.
func MediaJSON(body []byte, f Fields) Form {
	out := Form{Model: f.Model, N: max(f.N, 1), Stream: f.Stream}
	root := gjson.ParseBytes(body)
	out.Size = root.Get("size").String()
	out.Quality = root.Get("quality").String()
	out.ResponseFormat = root.Get("response_format").String()
	if p := root.Get("prompt"); p.Type == gjson.String {
		out.Text = p.Str
	} else if in := root.Get("input"); in.Type == gjson.String {
		out.Text = in.Str
	}
	return out
}

// Boundary returns the boundary of a multipart/form-data content type.
func Boundary(contentType string) (string, bool) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return "", false
	}
	return params["boundary"], true
}

// Multipart reads the fields of a multipart/form-data upload held in body.
// File parts are only counted, never copied. The model is required and
// may appear only once, as in Peek.
func Multipart(body []byte, boundary string) (Form, error) {
	f := Form{N: 1}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	seenModel := false
	parts := 0
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Form{}, ErrMalformedForm
		}
		if parts++; parts > 1000 {
			return Form{}, ErrMalformedForm
		}
		name := p.FormName()
		if p.FileName() != "" {
			n, err := io.Copy(io.Discard, p)
			if err != nil {
				return Form{}, ErrMalformedForm
			}
			f.Files++
			f.FileBytes += n
			continue
		}
		v, err := io.ReadAll(io.LimitReader(p, maxFormField+1))
		if err != nil {
			return Form{}, ErrMalformedForm
		}
		if len(v) > maxFormField {
			return Form{}, &FieldError{Field: name, Reason: "is too long"}
		}
		s := string(v)
		switch name {
		case "model":
			if seenModel {
				return Form{}, &FieldError{Field: "model", Reason: "must not appear more than once"}
			}
			seenModel = true
			f.Model = strings.TrimSpace(s)
		case "n":
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 || n > MaxInt {
				return Form{}, &FieldError{Field: "n", Reason: "must be a positive integer"}
			}
			f.N = n
		case "size":
			f.Size = s
		case "quality":
			f.Quality = s
		case "response_format":
			f.ResponseFormat = s
		case "stream":
			f.Stream = strings.TrimSpace(s) == "true"
		case "prompt":
			f.Text = s
		}
	}
	if f.Model == "" {
		return Form{}, ErrMissingModel
	}
	return f, nil
}

// MultipartModelSpan finds the bytes of the model field's value in a
// multipart body that Multipart accepted, so a mapped model can be spliced
// in without copying the files around it.
func MultipartModelSpan(body []byte, boundary string) (start, end int, ok bool) {
	delim := []byte("--" + boundary)
	i := bytes.Index(body, delim)
	for i >= 0 {
		hdrStart := i + len(delim)
		hdrEnd := bytes.Index(body[hdrStart:], []byte("\r\n\r\n"))
		if hdrEnd < 0 {
			return 0, 0, false
		}
		valStart := hdrStart + hdrEnd + 4
		next := bytes.Index(body[valStart:], append([]byte("\r\n"), delim...))
		if next < 0 {
			return 0, 0, false
		}
		valEnd := valStart + next
		if isModelPart(body[hdrStart : hdrStart+hdrEnd]) {
			return valStart, valEnd, true
		}
		i = valEnd + 2
	}
	return 0, 0, false
}

// isModelPart reports whether a part's header block names the form field
// "model" (and no file).
func isModelPart(hdr []byte) bool {
	for _, line := range strings.Split(string(hdr), "\r\n") {
		k, v, found := strings.Cut(line, ":")
		if !found || textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k)) != "Content-Disposition" {
			continue
		}
		d, params, err := mime.ParseMediaType(strings.TrimSpace(v))
		return err == nil && d == "form-data" && params["name"] == "model" && params["filename"] == ""
	}
	return false
}
