package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"sluice/relay/tokenizer"
)

const mediaBudget = 1_000_000

// checkMediaCharge asserts the request's one consume log (its quota,
// channel and model) and that the key and the user paid exactly quota.
func checkMediaCharge(t *testing.T, s *sluice, key apiKey, before userBalance, quota int64, ch int, modelName string) consumeLog {
	t.Helper()
	logs := s.waitConsumeLogs(t, key.Name, 1)
	if len(logs) != 1 {
		t.Fatalf("%d consume logs, want 1: %+v", len(logs), logs)
	}
	l := logs[0]
	if l.Quota != quota || l.Channel != ch || l.ModelName != modelName {
		t.Errorf("consume log = %+v, want quota %d, channel %d, model %q", l, quota, ch, modelName)
	}
	kb := s.keyBalance(t, key.ID)
	if kb.RemainQuota != mediaBudget-quota || kb.UsedQuota != quota {
		t.Errorf("key remain/used = %d/%d, want %d/%d", kb.RemainQuota, kb.UsedQuota, mediaBudget-quota, quota)
	}
	if paid := before.Quota - s.userBalance(t).Quota; paid != quota {
		t.Errorf("the user paid %d, want %d", paid, quota)
	}
	return l
}

// checkNoCharge asserts a failed request left no consume log and cost the
// key nothing, once the batch writer had time to flush.
func checkNoCharge(t *testing.T, s *sluice, key apiKey, before userBalance) {
	t.Helper()
	time.Sleep(1500 * time.Millisecond) // BATCH_UPDATE_INTERVAL is 1 s
	if logs := s.consumeLogs(t, key.Name); len(logs) != 0 {
		t.Errorf("a failed request left %d consume logs: %+v", len(logs), logs)
	}
	if kb := s.keyBalance(t, key.ID); kb.RemainQuota != mediaBudget || kb.UsedQuota != 0 {
		t.Errorf("a failed request cost the key: remain %d, used %d", kb.RemainQuota, kb.UsedQuota)
	}
	if ub := s.userBalance(t); ub.Quota != before.Quota {
		t.Errorf("a failed request cost the user %d", before.Quota-ub.Quota)
	}
}

// upload is a multipart body built for a raw request.
type upload struct {
	body  *bytes.Buffer
	ctype string
}

// newUpload builds a multipart body with the fields in order and, when
// file is non-nil, a file part named fileField.
func newUpload(t *testing.T, fields [][2]string, fileField string, file []byte) upload {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	if file != nil {
		w, err := mw.CreateFormFile(fileField, "upload.bin")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(file)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return upload{body: &buf, ctype: mw.FormDataContentType()}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return strconv.Itoa(len(b)) + ":" + hex.EncodeToString(h[:])
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkNoSecrets(t *testing.T, body []byte, up *mediaUpstream) {
	t.Helper()
	if s := string(body); strings.Contains(s, upstreamKey) || strings.Contains(s, up.URL) ||
		strings.Contains(s, strings.TrimPrefix(up.URL, "http://")) {
		t.Errorf("the answer leaks the channel key or upstream URL: %s", body)
	}
}

// TestImages covers /v1/images/generations and /v1/images/edits with the
// SDK: per-image pricing with size and quality multipliers, token pricing
// from gpt-image usage, a streamed multipart upload with model mapping, an
// upstream error and malformed uploads.
func TestImages(t *testing.T) {
	t.Parallel()
	up := newMediaUpstream(t, mediaBehaviour{})
	s := startSluice(t, options{})
	s.setPrices(t, "gpt-image-test", "img-edit")
	s.setOption(t, "ModelPrice", `{"img-price":0.01}`)
	chID := s.createChannel(t, channelSpec{BaseURL: up.URL, Models: "img-price,gpt-image-test"})
	editCh := s.createChannel(t, channelSpec{BaseURL: up.URL, Models: "img-edit",
		ModelMapping: `{"img-edit":"gpt-image-edit-upstream"}`})
	ctx := context.Background()

	t.Run("GeneratePerImage", func(t *testing.T) {
		key := s.createKey(t, keySpec{RemainQuota: mediaBudget})
		before := s.userBalance(t)
		resp, err := s.client(key.Secret).Images.Generate(ctx, openai.ImageGenerateParams{
			Prompt: "a lighthouse at dusk", Model: "img-price", N: openai.Int(2),
			Size: openai.ImageGenerateParamsSize("1024x1792"), Quality: openai.ImageGenerateParamsQuality("hd")})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Data) != 2 || resp.Data[0].B64JSON != "aW1hZ2U=" {
			t.Errorf("data = %+v", resp.Data)
		}
		call := up.last(t)
		if call.Path != "/v1/images/generations" || call.Fields["model"] != "img-price" || call.Header.Get("Authorization") != "Bearer "+upstreamKey {
			t.Errorf("upstream call = %s %v %q", call.Path, call.Fields, call.Header.Get("Authorization"))
		}
		// $0.01 × 500000 × 2 images × size 2 × quality 2 (ImageSizeRatio and ImageQualityRatio defaults).
		checkMediaCharge(t, s, key, before, 40000, chID, "img-price")
	})

	t.Run("GenerateByTokens", func(t *testing.T) {
		key := s.createKey(t, keySpec{RemainQuota: mediaBudget})
		before := s.userBalance(t)
		if _, err := s.client(key.Secret).Images.Generate(ctx, openai.ImageGenerateParams{
			Prompt: "a lighthouse", Model: "gpt-image-test"}); err != nil {
			t.Fatal(err)
		}
		l := checkMediaCharge(t, s, key, before, cost(imageUsage), chID, "gpt-image-test")
		if l.PromptTokens != imageUsage.Prompt || l.CompletionTokens != imageUsage.Completion {
			t.Errorf("log tokens = %d/%d, want the upstream's %+v", l.PromptTokens, l.CompletionTokens, imageUsage)
		}
	})

	t.Run("EditMultipartMapped", func(t *testing.T) {
		key := s.createKey(t, keySpec{RemainQuota: mediaBudget})
		before := s.userBalance(t)
		img := randomBytes(t, 300<<10)
		if _, err := s.client(key.Secret).Images.Edit(ctx, openai.ImageEditParams{
			Image:  openai.ImageEditParamsImageUnion{OfFile: openai.File(bytes.NewReader(img), "in.png", "image/png")},
			Prompt: "add a moon", Model: "img-edit"}); err != nil {
			t.Fatal(err)
		}
		call := up.last(t)
		if call.Path != "/v1/images/edits" || call.Fields["model"] != "gpt-image-edit-upstream" || call.Fields["prompt"] != "add a moon" {
			t.Errorf("upstream call = %s %v", call.Path, call.Fields)
		}
		if call.Files["image"] != digest(img) {
			t.Errorf("the upstream received image %q, want %q", call.Files["image"], digest(img))
		}
		checkMediaCharge(t, s, key, before, cost(imageUsage), editCh, "img-edit")
	})

	t.Run("UpstreamError", func(t *testing.T) {
		up.set(mediaBehaviour{Status: http.StatusInternalServerError})
		defer up.set(mediaBehaviour{})
		key := s.createKey(t, keySpec{RemainQuota: mediaBudget})
		before := s.userBalance(t)
		_, err := s.client(key.Secret).Images.Generate(ctx, openai.ImageGenerateParams{Prompt: "x", Model: "img-price"})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadGateway {
			t.Fatalf("err = %v, want a 502", err)
		}
		checkNoSecrets(t, []byte(apiErr.RawJSON()), up)
		checkNoCharge(t, s, key, before)
	})

	t.Run("MalformedUpload", func(t *testing.T) {
		key := s.createKey(t, keySpec{RemainQuota: mediaBudget})
		calls := len(up.Calls())
		noModel := newUpload(t, [][2]string{{"prompt", "x"}}, "image", []byte("png"))
		noFile := newUpload(t, [][2]string{{"model", "img-edit"}, {"prompt", "x"}}, "", nil)
		for name, c := range map[string]struct {
			ctype string
			body  string
		}{
			"not multipart": {"application/json", `{"model":"img-edit","prompt":"x"}`},
			"broken":        {"multipart/form-data; boundary=xyz", "--xyz\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nimg-edit"},
			"no model":      {noModel.ctype, noModel.body.String()},
			"no file":       {noFile.ctype, noFile.body.String()},
		} {
			resp := s.post(t, ctx, "/v1/images/edits", key.Secret, strings.NewReader(c.body), "Content-Type", c.ctype)
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"error"`) {
				t.Errorf("%s: status %d, body %s; want 400 with an OpenAI error", name, resp.StatusCode, body)
			}
		}
		if n := len(up.Calls()); n != calls {
			t.Errorf("malformed uploads reached the upstream (%d calls)", n-calls)
		}
	})
}

// TestMediaUploadTooLarge sends an upload over MAX_REQUEST_BODY_MB: 413
// before any upstream call.
func TestMediaUploadTooLarge(t *testing.T) {
	t.Parallel()
	up := newMediaUpstream(t, mediaBehaviour{})
	s := startSluice(t, options{Env: map[string]string{"MAX_REQUEST_BODY_MB": "1"}})
	s.setPrices(t, "whisper-test", "img-edit")
	s.createChannel(t, channelSpec{BaseURL: up.URL, Models: "whisper-test,img-edit"})
	key := s.createKey(t, keySpec{RemainQuota: mediaBudget})
	for path, fields := range map[string][][2]string{
		"/v1/audio/transcriptions": {{"model", "whisper-test"}},
		"/v1/images/edits":         {{"model", "img-edit"}, {"prompt", "x"}},
	} {
		u := newUpload(t, fields, "file", randomBytes(t, 2<<20))
		resp := s.post(t, context.Background(), path, key.Secret, u.body, "Content-Type", u.ctype)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: status %d, body %s; want 413", path, resp.StatusCode, body)
		}
	}
	if n := len(up.Calls()); n != 0 {
		t.Errorf("oversized uploads reached the upstream (%d calls)", n)
	}
}

// TestAudio covers speech (binary, streamed as it arrives), transcriptions
// in every response format and translations, with their pricing.
func TestAudio(t *testing.T) {
	t.Parallel()
	up := newMediaUpstream(t, mediaBehaviour{})
	s := startSluice(t, options{})
	s.setPrices(t, "tts-test", "whisper-test", "gpt-4o-transcribe-test")
	s.setOption(t, "AudioRatio", `{"gpt-4o-transcribe-test":3}`)
	chID := s.createChannel(t, channelSpec{BaseURL: up.URL, Models: "tts-test,whisper-test,gpt-4o-transcribe-test"})
	ctx := context.Background()

	t.Run("SpeechStreamed", func(t *testing.T) {
		gate := make(chan struct{})
		up.set(mediaBehaviour{SpeechGate: gate})
		defer up.set(mediaBehaviour{})
		key := s.createKey(t, keySpec{RemainQuota: mediaBudget})
		before := s.userBalance(t)
		const input = "Hello, wörld!" // 13 characters, 14 bytes
		resp, err := s.client(key.Secret).Audio.Speech.New(ctx, openai.AudioSpeechNewParams{
			Model: "tts-test", Input: input, Voice: openai.AudioSpeechNewParamsVoiceUnion{OfString: openai.String("alloy")}})
		if err != nil {
			close(gate)
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "audio/mpeg" {
			t.Errorf("Content-Type = %q, want the upstream's audio/mpeg", ct)
		}
		// The first chunk arrives while the upstream still holds the rest:
		// nothing is buffered on the way.
		first := make([]byte, len(speechChunks[0]))
		got := make(chan error, 1)
		go func() { _, err := io.ReadFull(resp.Body, first); got <- err }()
		select {
		case err := <-got:
			if err != nil || !bytes.Equal(first, speechChunks[0]) {
				t.Errorf("first chunk = %q, %v", first, err)
			}
		case <-time.After(10 * time.Second):
			t.Error("the first audio chunk did not reach the client before the upstream finished")
		}
		close(gate)
		rest, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if want := bytes.Join(speechChunks[1:], nil); !bytes.Equal(rest, want) {
			t.Errorf("rest of the audio = %q, want %q", rest, want)
		}
		l := checkMediaCharge(t, s, key, before, 13, chID, "tts-test") // 13 characters × ratio 1
		if l.PromptTokens != 13 {
			t.Errorf("prompt tokens = %d, want 13 (one per character)", l.PromptTokens)
		}
	})

	t.Run("TranscriptionSDK", func(t *testing.T) {
		key := s.createKey(t, keySpec{RemainQuota: mediaBudget})
		before := s.userBalance(t)
		audio := randomBytes(t, 50<<10)
		resp, err := s.client(key.Secret).Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{
			File: openai.File(bytes.NewReader(audio), "speech.mp3", "audio/mpeg"), Model: "whisper-test"})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text != "Hello from the fake upstream." {
			t.Errorf("text = %q", resp.Text)
		}
		if call := up.last(t); call.Files["file"] != digest(audio) || call.Fields["model"] != "whisper-test" {
			t.Errorf("upstream received %v %v", call.Fields, call.Files)
		}
		// usage {type: duration, seconds: 7} × AudioTokensPerSecond 10.
		checkMediaCharge(t, s, key, before, 70, chID, "whisper-test")
	})

	for _, c := range []struct {
		name, path, model, format string
		fileSize                  int
		quota                     int64
	}{
		{"verbose_json", "/v1/audio/transcriptions", "whisper-test", "verbose_json", 1000, int64(math.Ceil(verboseSeconds * 10))},
		{"srt", "/v1/audio/transcriptions", "whisper-test", "srt", 1000, int64(srtEndSeconds * 10)},
		{"vtt", "/v1/audio/transcriptions", "whisper-test", "vtt", 1000, int64(srtEndSeconds * 10)},
		// No duration at all: the file's size at 16000 bytes per second.
		{"text", "/v1/audio/transcriptions", "whisper-test", "text", 32000, 20},
		// Token usage with audio apart: 10 text + 3 × 90 audio + 2 × 20 out.
		{"tokens", "/v1/audio/transcriptions", "gpt-4o-transcribe-test", "json", 1000, 10 + 3*90 + 2*20},
		{"translation", "/v1/audio/translations", "whisper-test", "json", 1000, int64(transcriptSeconds * 10)},
	} {
		t.Run("Format/"+c.name, func(t *testing.T) {
			key := s.createKey(t, keySpec{RemainQuota: mediaBudget})
			before := s.userBalance(t)
			u := newUpload(t, [][2]string{{"model", c.model}, {"response_format", c.format}}, "file", randomBytes(t, c.fileSize))
			resp := s.post(t, ctx, c.path, key.Secret, u.body, "Content-Type", u.ctype)
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			call := up.last(t)
			if call.Path != c.path {
				t.Errorf("upstream path = %q", call.Path)
			}
			wantType := map[string]string{"srt": "application/x-subrip", "vtt": "text/vtt", "text": "text/plain; charset=utf-8"}[c.format]
			if wantType == "" {
				wantType = "application/json"
			}
			if ct := resp.Header.Get("Content-Type"); ct != wantType {
				t.Errorf("Content-Type = %q, want %q", ct, wantType)
			}
			if c.format == "srt" && !strings.Contains(string(body), "00:00:09,500") {
				t.Errorf("srt body = %q", body)
			}
			checkMediaCharge(t, s, key, before, c.quota, chID, c.model)
		})
	}

	t.Run("UpstreamError", func(t *testing.T) {
		up.set(mediaBehaviour{Status: http.StatusServiceUnavailable})
		defer up.set(mediaBehaviour{})
		key := s.createKey(t, keySpec{RemainQuota: mediaBudget})
		before := s.userBalance(t)
		u := newUpload(t, [][2]string{{"model", "whisper-test"}}, "file", []byte("audio"))
		resp := s.post(t, ctx, "/v1/audio/transcriptions", key.Secret, u.body, "Content-Type", u.ctype)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("status %d, want 502: %s", resp.StatusCode, body)
		}
		checkNoSecrets(t, body, up)
		resp = s.post(t, ctx, "/v1/audio/speech", key.Secret, strings.NewReader(`{"model":"tts-test","input":"hi","voice":"alloy"}`))
		if body := readAll(t, resp); resp.StatusCode != http.StatusBadGateway {
			t.Errorf("speech: status %d, want 502: %s", resp.StatusCode, body)
		}
		checkNoCharge(t, s, key, before)
	})

	t.Run("MalformedUpload", func(t *testing.T) {
		key := s.createKey(t, keySpec{RemainQuota: mediaBudget})
		u := newUpload(t, [][2]string{{"model", "whisper-test"}, {"model", "tts-test"}}, "file", []byte("audio"))
		resp := s.post(t, ctx, "/v1/audio/transcriptions", key.Secret, u.body, "Content-Type", u.ctype)
		if body := readAll(t, resp); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a doubled model field: status %d, want 400: %s", resp.StatusCode, body)
		}
	})
}

// TestModerationsAndRerank covers /v1/moderations (usage counted locally)
// and /v1/rerank in Jina's and Cohere's shapes.
func TestModerationsAndRerank(t *testing.T) {
	t.Parallel()
	up := newMediaUpstream(t, mediaBehaviour{})
	s := startSluice(t, options{})
	s.setPrices(t, "mod-test", "omni-moderation-latest", "rerank-test", "cohere-rerank-test")
	chID := s.createChannel(t, channelSpec{BaseURL: up.URL, Models: "mod-test,omni-moderation-latest,rerank-test,cohere-rerank-test"})
	ctx := context.Background()

	t.Run("Moderation", func(t *testing.T) {
		key := s.createKey(t, keySpec{RemainQuota: mediaBudget})
		before := s.userBalance(t)
		const input = "I want to hurt them. How do I do it?"
		resp, err := s.client(key.Secret).Moderations.New(ctx, openai.ModerationNewParams{
			Model: "mod-test", Input: openai.ModerationNewParamsInputUnion{OfString: openai.String(input)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Results) != 1 || !resp.Results[0].Flagged {
			t.Errorf("results = %+v", resp.Results)
		}
		want := tokenizer.CountText("mod-test", input)
		l := checkMediaCharge(t, s, key, before, int64(want), chID, "mod-test")
		if l.PromptTokens != want || !strings.Contains(l.Other, `"usage_source":"local_count"`) {
			t.Errorf("log = %+v, want %d locally counted prompt tokens", l, want)
		}
	})

	t.Run("ModerationDefaultModel", func(t *testing.T) {
		key := s.createKey(t, keySpec{RemainQuota: mediaBudget})
		before := s.userBalance(t)
		resp := s.post(t, ctx, "/v1/moderations", key.Secret, strings.NewReader(`{"input":"hello"}`))
		if body := readAll(t, resp); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if _, sent := up.last(t).Fields["model"]; sent {
			t.Errorf("a model was added to the upstream body")
		}
		checkMediaCharge(t, s, key, before, int64(tokenizer.CountText("omni-moderation-latest", "hello")), chID, "omni-moderation-latest")
	})

	for _, c := range []struct {
		model string
		quota int64
	}{{"rerank-test", int64(rerankTokens)}, {"cohere-rerank-test", int64(cohereTokens)}} {
		t.Run("Rerank/"+c.model, func(t *testing.T) {
			key := s.createKey(t, keySpec{RemainQuota: mediaBudget})
			before := s.userBalance(t)
			resp := s.post(t, ctx, "/v1/rerank", key.Secret, strings.NewReader(
				`{"model":"`+c.model+`","query":"capital of France","documents":["Berlin","Paris"],"top_n":2}`))
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var out struct {
				Results []struct {
					Index          int     `json:"index"`
					RelevanceScore float64 `json:"relevance_score"`
				} `json:"results"`
			}
			if err := json.Unmarshal(body, &out); err != nil || len(out.Results) != 2 || out.Results[0].Index != 1 {
				t.Errorf("results = %s", body)
			}
			if call := up.last(t); call.Path != "/v1/rerank" || call.Fields["query"] != "capital of France" {
				t.Errorf("upstream call = %s %v", call.Path, call.Fields)
			}
			checkMediaCharge(t, s, key, before, c.quota, chID, c.model)
		})
	}

	t.Run("UpstreamError", func(t *testing.T) {
		up.set(mediaBehaviour{Status: http.StatusInternalServerError})
		defer up.set(mediaBehaviour{})
		key := s.createKey(t, keySpec{RemainQuota: mediaBudget})
		before := s.userBalance(t)
		resp := s.post(t, ctx, "/v1/rerank", key.Secret, strings.NewReader(`{"model":"rerank-test","query":"q","documents":["a"]}`))
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("status %d, want 502: %s", resp.StatusCode, body)
		}
		checkNoSecrets(t, body, up)
		_, err := s.client(key.Secret).Moderations.New(ctx, openai.ModerationNewParams{
			Model: "mod-test", Input: openai.ModerationNewParamsInputUnion{OfString: openai.String("x")}})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadGateway {
			t.Errorf("moderation err = %v, want a 502", err)
		}
		checkNoCharge(t, s, key, before)
	})
}

// TestMediaChannelDialects: only OpenAI-dialect channels serve the media
// routes; an Anthropic channel is passed over, and a model served by none
// other is 503.
func TestMediaChannelDialects(t *testing.T) {
	t.Parallel()
	up := newMediaUpstream(t, mediaBehaviour{})
	s := startSluice(t, options{})
	s.setPrices(t, "rerank-test", "only-anthropic")
	s.createChannel(t, channelSpec{Type: 14, BaseURL: up.URL, Models: "rerank-test,only-anthropic", Priority: 10})
	chID := s.createChannel(t, channelSpec{BaseURL: up.URL, Models: "rerank-test"})
	key := s.createKey(t, keySpec{RemainQuota: mediaBudget})
	ctx := context.Background()

	resp := s.post(t, ctx, "/v1/rerank", key.Secret, strings.NewReader(`{"model":"rerank-test","query":"q","documents":["a"]}`))
	if body := readAll(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if logs := s.waitConsumeLogs(t, key.Name, 1); logs[0].Channel != chID {
		t.Errorf("served by channel %d, want the OpenAI-dialect %d", logs[0].Channel, chID)
	}
	resp = s.post(t, ctx, "/v1/rerank", key.Secret, strings.NewReader(`{"model":"only-anthropic","query":"q","documents":["a"]}`))
	if body := readAll(t, resp); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a model only an Anthropic channel serves: status %d, want 503: %s", resp.StatusCode, body)
	}
}
