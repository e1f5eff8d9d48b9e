package vertex

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tidwall/gjson"

	"sluice/model"
	"sluice/relay/channel"
	relaycommon "sluice/relay/common"
	"sluice/relay/relayerr"
	"sluice/relay/sse"
)

var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// serviceAccountJSON is a key file shaped like the one the Cloud console
// downloads, its token_uri pointing at tokenURI.
func serviceAccountJSON(t testing.TB, email, tokenURI string) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(testKey())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "my-project", "private_key_id": "0123456789abcdef",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": email, "client_id": "100000000000000000001",
		"auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": tokenURI,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs", "universe_domain": "googleapis.com",
	})
	return string(b)
}

// tokenServer is Google's OAuth token endpoint for the JWT-bearer grant:
// it checks the assertion's signature and claims and counts exchanges.
type tokenServer struct {
	*httptest.Server
	calls atomic.Int32
	fail  atomic.Bool
}

func newTokenServer(t *testing.T) *tokenServer {
	ts := &tokenServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := ts.calls.Add(1)
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
			return
		}
		if ts.fail.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`))
			return
		}
		parts := strings.Split(r.Form.Get("assertion"), ".")
		if len(parts) != 3 {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(&testKey().PublicKey, crypto.SHA256, sum[:], sig); err != nil {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
		if gjson.GetBytes(claims, "scope").String() != Scope || gjson.GetBytes(claims, "aud").String() != ts.URL+"/token" {
			http.Error(w, `{"error":"invalid_scope"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"ya29.` + gjson.GetBytes(claims, "iss").String() + `.` + strconv.Itoa(int(n)) +
			`","expires_in":3599,"token_type":"Bearer"}`))
	}))
	t.Cleanup(ts.Close)
	return ts
}

// upstream is a Vertex endpoint: it records each call and answers in the
// publisher's wire format.
type upstreamCall struct {
	path, rawQuery, auth, accept, beta string
	body                               []byte
}

func newUpstream(t *testing.T) (*httptest.Server, chan upstreamCall) {
	calls := make(chan upstreamCall, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		calls <- upstreamCall{path: r.URL.EscapedPath(), rawQuery: r.URL.RawQuery, auth: r.Header.Get("Authorization"),
			accept: r.Header.Get("Accept"), beta: r.Header.Get("anthropic-beta"), body: body}
		var file string
		switch {
		case strings.HasSuffix(r.URL.Path, ":generateContent"):
			file = "gemini_response.json"
		case strings.HasSuffix(r.URL.Path, ":streamGenerateContent"):
			file = "gemini_stream.txt"
		case strings.HasSuffix(r.URL.Path, ":rawPredict"):
			file = "claude_message.json"
		case strings.HasSuffix(r.URL.Path, ":streamRawPredict"):
			file = "claude_stream.txt"
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write(readTestdata(t, "error_permission_denied.json"))
			return
		}
		if strings.HasSuffix(file, ".txt") {
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		_, _ = w.Write(readTestdata(t, file))
	}))
	t.Cleanup(srv.Close)
	return srv, calls
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testInfo(channelID int, baseURL, key, upstreamModel string, stream bool) *relaycommon.RelayInfo {
	info := &relaycommon.RelayInfo{Mode: relaycommon.ModeChatCompletions, OriginModel: upstreamModel, UpstreamModel: upstreamModel, IsStream: stream,
		Channel: &model.ChannelView{ID: channelID, Type: 41, BaseURL: baseURL, Key: key}}
	info.Dialect = Adaptor{}.Dialect(info)
	return info
}

const (
	geminiReq = `{"contents":[{"parts":[{"text":"Hi"}]},{"role":"model","parts":[{"text":"Hello"}]},{"parts":[{"text":"How are you?"}]}],"generationConfig":{"maxOutputTokens":64}}`
	claudeReq = `{"model":"claude-sonnet-4@20250514","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hi"}]}`
)

// call runs one relayed attempt the way the engine does: build, send,
// then parse or decode the stream.
type result struct {
	out   []byte
	usage relaycommon.Usage
	done  bool
}

func call(t *testing.T, info *relaycommon.RelayInfo, body string) result {
	t.Helper()
	ad := Adaptor{}
	req, err := ad.BuildRequest(context.Background(), info, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if !info.IsStream {
		b, _ := io.ReadAll(resp.Body)
		out, u, err := ad.ParseResponse(info, b)
		if err != nil {
			t.Fatal(err)
		}
		return result{out: out, usage: u, done: true}
	}
	dec := ad.NewStreamDecoder(info)
	r := sse.NewReader(resp.Body, 0)
	defer r.Release()
	var res result
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			if end, ok := dec.(channel.EndsAtEOF); ok && end.CompleteAtEOF() {
				res.done = true
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out, done, derr := dec.Decode(ev)
		if derr != nil {
			t.Fatal(derr)
		}
		res.out = append(res.out, out...)
		if done {
			res.done = true
			break
		}
	}
	if u := dec.Usage(); u != nil {
		res.usage = *u
	}
	return res
}

func TestTokenCachedAcrossCalls(t *testing.T) {
	t.Parallel()
	tok := newTokenServer(t)
	up, calls := newUpstream(t)
	key := serviceAccountJSON(t, "relay@my-project.iam.gserviceaccount.com", tok.URL+"/token")
	const channelID = 1001
	call(t, testInfo(channelID, up.URL, key, "gemini-2.5-flash", false), geminiReq)
	call(t, testInfo(channelID, up.URL, key, "claude-sonnet-4@20250514", false), claudeReq)
	call(t, testInfo(channelID, up.URL, key, "gemini-2.5-flash", true), geminiReq)
	if n := tok.calls.Load(); n != 1 {
		t.Fatalf("%d token requests for 3 calls, want 1", n)
	}
	for range 3 {
		c := <-calls
		if c.auth != "Bearer ya29.relay@my-project.iam.gserviceaccount.com.1" {
			t.Fatalf("Authorization %q", c.auth)
		}
	}
	// Concurrent requests on a fresh channel share one exchange too.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := accessToken(1002, mustParseKey(t, key)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := tok.calls.Load(); n != 2 {
		t.Fatalf("%d token requests after 8 concurrent calls on a new channel, want 2", n)
	}
}

func mustParseKey(t testing.TB, key string) *serviceAccount {
	t.Helper()
	sa, err := parseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

func TestTokenKeyRotation(t *testing.T) {
	t.Parallel()
	tok := newTokenServer(t)
	const channelID = 1003
	a := mustParseKey(t, serviceAccountJSON(t, "a@my-project.iam.gserviceaccount.com", tok.URL+"/token"))
	b := mustParseKey(t, serviceAccountJSON(t, "b@my-project.iam.gserviceaccount.com", tok.URL+"/token"))
	ta, err := accessToken(channelID, a)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := accessToken(channelID, b)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ta, "a@") || !strings.Contains(tb, "b@") || tok.calls.Load() != 2 {
		t.Fatalf("tokens %q %q after %d exchanges: a rotated key must get its own token", ta, tb, tok.calls.Load())
	}
	if again, _ := accessToken(channelID, b); again != tb || tok.calls.Load() != 2 {
		t.Fatal("the rotated key's token was not cached")
	}
}

func TestTokenFailure(t *testing.T) {
	t.Parallel()
	tok := newTokenServer(t)
	tok.fail.Store(true)
	up, _ := newUpstream(t)
	key := serviceAccountJSON(t, "revoked@my-project.iam.gserviceaccount.com", tok.URL+"/token")
	info := testInfo(1004, up.URL, key, "gemini-2.5-flash", false)
	for range 3 {
		_, err := Adaptor{}.BuildRequest(context.Background(), info, []byte(geminiReq))
		if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Fatal("error echoes the private key")
		}
	}
	// Requests right behind a failure do not hammer the token endpoint.
	if n := tok.calls.Load(); n != 1 {
		t.Fatalf("%d token requests, want 1 within the failure backoff", n)
	}
}

func TestGemini(t *testing.T) {
	t.Parallel()
	tok := newTokenServer(t)
	up, calls := newUpstream(t)
	key := serviceAccountJSON(t, "g@my-project.iam.gserviceaccount.com", tok.URL+"/token")

	res := call(t, testInfo(1005, up.URL, key, "gemini-2.5-flash", false), geminiReq)
	c := <-calls
	if c.path != "/v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent" || c.rawQuery != "" {
		t.Fatalf("path %s?%s", c.path, c.rawQuery)
	}
	roles := gjson.GetBytes(c.body, "contents.#.role").Array()
	if len(roles) != 3 || roles[0].String() != "user" || roles[1].String() != "model" || roles[2].String() != "user" {
		t.Fatalf("roles: %s", c.body)
	}
	if gjson.GetBytes(c.body, "generationConfig.maxOutputTokens").Int() != 64 {
		t.Fatalf("body: %s", c.body)
	}
	want := relaycommon.Usage{PromptTokens: 4, CompletionTokens: 31, ReasoningTokens: 22, TotalTokens: 35}
	if res.usage != want || !bytes.Equal(res.out, readTestdata(t, "gemini_response.json")) {
		t.Fatalf("usage %+v, want %+v", res.usage, want)
	}

	res = call(t, testInfo(1005, up.URL, key, "gemini-2.5-flash", true), geminiReq)
	c = <-calls
	if !strings.HasSuffix(c.path, ":streamGenerateContent") || c.rawQuery != "alt=sse" || c.accept != "text/event-stream" {
		t.Fatalf("stream request %s?%s accept %s", c.path, c.rawQuery, c.accept)
	}
	if !res.done {
		t.Fatal("a stream with a finishReason must be complete at EOF")
	}
	if want := (relaycommon.Usage{PromptTokens: 4, CompletionTokens: 3, TotalTokens: 7}); res.usage != want {
		t.Fatalf("stream usage %+v, want %+v", res.usage, want)
	}
}

func TestClaude(t *testing.T) {
	t.Parallel()
	tok := newTokenServer(t)
	up, calls := newUpstream(t)
	key := serviceAccountJSON(t, "c@my-project.iam.gserviceaccount.com", tok.URL+"/token")

	info := testInfo(1006, up.URL, key, "claude-sonnet-4@20250514", false)
	info.ClientHeaders = map[string]string{"anthropic-beta": "context-1m-2025-08-07"}
	res := call(t, info, `{"model":"claude-sonnet-4@20250514","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}`)
	c := <-calls
	if c.path != "/v1/projects/my-project/locations/us-central1/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict" {
		t.Fatalf("path %s", c.path)
	}
	b := gjson.ParseBytes(c.body)
	if b.Get("model").Exists() || b.Get("anthropic_version").String() != AnthropicVersion || b.Get("max_tokens").Int() != 64 {
		t.Fatalf("body %s", c.body)
	}
	if c.beta != "context-1m-2025-08-07" {
		t.Fatalf("anthropic-beta %q", c.beta)
	}
	if want := (relaycommon.Usage{PromptTokens: 10, CompletionTokens: 12, TotalTokens: 22}); res.usage != want {
		t.Fatalf("usage %+v, want %+v", res.usage, want)
	}

	res = call(t, testInfo(1006, up.URL, key, "claude-sonnet-4@20250514", true), claudeReq)
	c = <-calls
	if !strings.HasSuffix(c.path, ":streamRawPredict") || c.rawQuery != "" || !gjson.GetBytes(c.body, "stream").Bool() {
		t.Fatalf("stream request %s?%s body %s", c.path, c.rawQuery, c.body)
	}
	if !res.done {
		t.Fatal("message_stop not seen")
	}
	if want := (relaycommon.Usage{PromptTokens: 10, CompletionTokens: 6, TotalTokens: 16}); res.usage != want {
		t.Fatalf("stream usage %+v, want %+v", res.usage, want)
	}
	// The client gets Anthropic SSE with event names.
	if !bytes.Contains(res.out, []byte("event: content_block_delta\ndata: ")) || !bytes.Contains(res.out, []byte("event: message_stop\n")) {
		t.Fatalf("client stream:\n%s", res.out)
	}
}

func TestDialect(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]relaycommon.Dialect{
		"claude-3-5-sonnet-v2@20241022": relaycommon.DialectAnthropic,
		"Claude-opus-4@20250514":        relaycommon.DialectAnthropic,
		"gemini-2.5-pro":                relaycommon.DialectGemini,
		"claud":                         relaycommon.DialectGemini,
	} {
		if got := (Adaptor{}).Dialect(testInfo(1, "", "", name, false)); got != want {
			t.Errorf("%s: got %d, want %d", name, got, want)
		}
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, region, base, model string
		stream                    bool
		want                      string
	}{
		{"default region", "", "", "gemini-2.5-flash", false,
			"https://us-central1-aiplatform.googleapis.com/v1/projects/p-1/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"},
		{"gemini stream", "europe-west4", "", "gemini-2.5-flash", true,
			"https://europe-west4-aiplatform.googleapis.com/v1/projects/p-1/locations/europe-west4/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"},
		// The global endpoint has no region prefix on the host.
		{"global", "global", "", "gemini-2.5-pro", false,
			"https://aiplatform.googleapis.com/v1/projects/p-1/locations/global/publishers/google/models/gemini-2.5-pro:generateContent"},
		{"claude", "us-east5", "", "claude-opus-4@20250514", false,
			"https://us-east5-aiplatform.googleapis.com/v1/projects/p-1/locations/us-east5/publishers/anthropic/models/claude-opus-4@20250514:rawPredict"},
		{"claude stream, base URL", "us-east5", "https://vertex.internal.example/", "claude-opus-4@20250514", true,
			"https://vertex.internal.example/v1/projects/p-1/locations/us-east5/publishers/anthropic/models/claude-opus-4@20250514:streamRawPredict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := testInfo(1, tt.base, "", tt.model, tt.stream)
			info.Channel.Settings.Region = tt.region
			region, err := Region(info)
			if err != nil {
				t.Fatal(err)
			}
			if got := URL(info, "p-1", region); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	info := testInfo(1, "", "", "gemini-2.5-pro", false)
	info.Channel.Settings.Region = "evil.com/"
	if _, err := Region(info); err == nil {
		t.Fatal("a region that is not a region code was accepted")
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	good := serviceAccountJSON(t, "x@p.iam.gserviceaccount.com", "https://oauth2.googleapis.com/token")
	tests := []struct {
		name, key, wantErr string
	}{
		{"good", good, ""},
		{"not json", "AIzaSyExample", "not valid JSON"},
		{"user credentials", `{"type":"authorized_user","client_id":"x","client_secret":"y","refresh_token":"z"}`, `"type": "service_account"`},
		// External-account configs can run commands to fetch tokens: never accepted.
		{"external account", `{"type":"external_account","credential_source":{"executable":{"command":"/bin/sh"}}}`, `"type": "service_account"`},
		{"missing fields", `{"type":"service_account","client_email":"x@p"}`, "lacks project_id, private_key"},
		{"bad token uri", strings.Replace(good, "https://oauth2.googleapis.com/token", "file:///etc/passwd", 1), "token_uri"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseKey(tt.key)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestErrorFrom(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		body     []byte
		kind     relayerr.Kind
		client   int
		retry    bool
		disable  bool
		showsMsg string
	}{
		{"403 PERMISSION_DENIED", 403, readTestdata(t, "error_permission_denied.json"), relayerr.KindUpstream, 502, true, true, ""},
		{"401 UNAUTHENTICATED", 401, []byte(`{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`), relayerr.KindUpstream, 502, true, true, ""},
		// Vertex's shared-capacity 429 is a busy region, not an empty account.
		{"429 RESOURCE_EXHAUSTED", 429, readTestdata(t, "error_resource_exhausted.json"), relayerr.KindRateLimited, 429, true, false, ""},
		// Claude's own errors keep Anthropic's classification and message.
		{"400 claude invalid_request_error", 400, readTestdata(t, "error_claude_invalid_request.json"), relayerr.KindInvalidRequest, 400, false, false, "max_tokens: 100000"},
		{"529 claude overloaded", 529, []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`), relayerr.KindUpstream, 502, true, false, ""},
		// Streaming endpoints may wrap Google's error in an array.
		{"400 array-wrapped", 400, readTestdata(t, "error_array_invalid_argument.json"), relayerr.KindInvalidRequest, 400, false, false, "valid role"},
		{"404 model", 404, []byte(`{"error":{"code":404,"message":"Publisher Model ` + "`x`" + ` not found.","status":"NOT_FOUND"}}`), relayerr.KindInvalidRequest, 404, true, false, "not found"},
		{"empty 503", 503, nil, relayerr.KindUpstream, 502, true, false, ""},
		// A message shown to the client names neither the project nor the service account.
		{"404 redacts project", 404, []byte(`{"error":{"code":404,"message":"Publisher Model ` + "`projects/my-secret-project/locations/us-central1/publishers/google/models/gemini-9`" + ` not found; caller relay@my-secret-project.iam.gserviceaccount.com","status":"NOT_FOUND"}}`), relayerr.KindInvalidRequest, 404, true, false, "projects/[redacted]/locations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Adaptor{}.ParseError(tt.status, tt.body)
			if e.Kind != tt.kind || e.Status != tt.client || e.Retryable != tt.retry || e.DisableChannel != tt.disable {
				t.Fatalf("got kind=%d status=%d retry=%v disable=%v", e.Kind, e.Status, e.Retryable, e.DisableChannel)
			}
			if tt.showsMsg != "" && !strings.Contains(e.Message, tt.showsMsg) {
				t.Fatalf("message %q lacks %q", e.Message, tt.showsMsg)
			}
			if strings.Contains(e.Message, "my-secret-project") {
				t.Fatalf("message %q names the project", e.Message)
			}
		})
	}
}
