package bedrock

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/tidwall/gjson"

	"sluice/model"
	relaycommon "sluice/relay/common"
	"sluice/relay/relayerr"
)

const (
	testAK = "AKIAIOSFODNN7EXAMPLE"
	testSK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

func testInfo(baseURL, key string, stream bool) *relaycommon.RelayInfo {
	return &relaycommon.RelayInfo{
		Mode: relaycommon.ModeMessages, OriginModel: "claude-3-5-sonnet", IsStream: stream,
		UpstreamModel: "anthropic.claude-3-5-sonnet-20240620-v1:0", Dialect: relaycommon.DialectAnthropic,
		Channel: &model.ChannelView{ID: 7, Type: 33, BaseURL: baseURL, Key: key},
	}
}

const messagesBody = `{"model":"claude-3-5-sonnet","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hi"}]}`

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, key, setting string
		want               Credentials
		wantErr            bool
	}{
		{"full", "AK|SK|eu-west-1", "", Credentials{AccessKeyID: "AK", SecretAccessKey: "SK", Region: "eu-west-1"}, false},
		// The key's region wins over the channel setting, as in new-api.
		{"key region wins", "AK|SK|eu-west-1", "us-west-2", Credentials{AccessKeyID: "AK", SecretAccessKey: "SK", Region: "eu-west-1"}, false},
		{"setting region", "AK|SK", "us-west-2", Credentials{AccessKeyID: "AK", SecretAccessKey: "SK", Region: "us-west-2"}, false},
		{"empty region field", "AK|SK||", "", Credentials{AccessKeyID: "AK", SecretAccessKey: "SK", Region: DefaultRegion}, false},
		{"default region", " AK | SK ", "", Credentials{AccessKeyID: "AK", SecretAccessKey: "SK", Region: DefaultRegion}, false},
		{"session token", "AK|SK|ap-northeast-1|TOKEN", "", Credentials{AccessKeyID: "AK", SecretAccessKey: "SK", Region: "ap-northeast-1", SessionToken: "TOKEN"}, false},
		{"one field", "sk-ant-something", "", Credentials{}, true},
		{"too many fields", "a|b|c|d|e", "", Credentials{}, true},
		{"empty secret", "AK||us-east-1", "", Credentials{}, true},
		// The region is spliced into the host name.
		{"hostile region", "AK|SK|evil.com/x", "", Credentials{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseKey(tt.key, tt.setting)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), "SK") {
					t.Fatalf("error echoes key material: %v", err)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	info := testInfo("", "AK|SK", false)
	if got, want := URL(info, "us-east-1"), "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	info = testInfo("https://vpce-1.bedrock-runtime.us-east-1.vpce.amazonaws.com/", "AK|SK", true)
	info.UpstreamModel = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0"
	want := "https://vpce-1.bedrock-runtime.us-east-1.vpce.amazonaws.com/model/" +
		"arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-7-sonnet-20250219-v1%3A0/invoke-with-response-stream"
	if got := URL(info, "us-east-1"); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// verifySigV4 recomputes the signature the way AWS does, from what arrived
// on the wire: the escaped path, the headers listed as signed, the body.
func verifySigV4(r *http.Request, body []byte, creds aws.Credentials, region string) (string, bool) {
	auth := r.Header.Get("Authorization")
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "bad X-Amz-Date", false
	}
	i := strings.Index(auth, "SignedHeaders=")
	if i < 0 {
		return "no SignedHeaders", false
	}
	signed := strings.Split(strings.SplitN(auth[i+len("SignedHeaders="):], ",", 2)[0], ";")
	re, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	re.ContentLength = int64(len(body))
	for _, h := range signed {
		if h != "host" && h != "content-length" {
			re.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	if err := signer.SignHTTP(context.Background(), creds, re, hex.EncodeToString(sum[:]), "bedrock", region, at); err != nil {
		return err.Error(), false
	}
	return re.Header.Get("Authorization"), re.Header.Get("Authorization") == auth
}

func TestBuildRequestSigned(t *testing.T) {
	t.Parallel()
	type seen struct {
		path, auth, date, token, accept, ctype, custom string
		body                                           []byte
		sigOK                                          bool
		sigWant                                        string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		want, ok := verifySigV4(r, body, aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSK, SessionToken: "SESSION"}, "eu-central-1")
		got <- seen{path: r.URL.EscapedPath(), auth: r.Header.Get("Authorization"), date: r.Header.Get("X-Amz-Date"),
			token: r.Header.Get("X-Amz-Security-Token"), accept: r.Header.Get("Accept"), ctype: r.Header.Get("Content-Type"),
			custom: r.Header.Get("X-Custom"), body: body, sigOK: ok, sigWant: want}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(readTestdata(t, "message.json"))
	}))
	defer srv.Close()

	info := testInfo(srv.URL, testAK+"|"+testSK+"|eu-central-1|SESSION", false)
	info.Channel.Headers = map[string]string{"X-Custom": "yes"}
	info.ClientHeaders = map[string]string{"anthropic-beta": "prompt-caching-2024-07-31, output-128k-2025-02-19"}
	req, err := Adaptor{}.BuildRequest(context.Background(), info, []byte(messagesBody))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	s := <-got

	wantPrefix := "AWS4-HMAC-SHA256 Credential=" + testAK + "/" + time.Now().UTC().Format("20060102") + "/eu-central-1/bedrock/aws4_request"
	if !strings.HasPrefix(s.auth, wantPrefix) {
		t.Fatalf("Authorization = %q, want prefix %q", s.auth, wantPrefix)
	}
	if !s.sigOK {
		t.Fatalf("signature does not verify:\n got  %s\n want %s", s.auth, s.sigWant)
	}
	if s.date == "" || s.token != "SESSION" {
		t.Fatalf("X-Amz-Date %q, X-Amz-Security-Token %q", s.date, s.token)
	}
	if s.path != "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke" {
		t.Fatalf("path %s", s.path)
	}
	if s.accept != "application/json" || s.ctype != "application/json" || s.custom != "yes" {
		t.Fatalf("headers: accept %q, content-type %q, custom %q", s.accept, s.ctype, s.custom)
	}
	b := gjson.ParseBytes(s.body)
	if b.Get("model").Exists() || b.Get("stream").Exists() {
		t.Fatalf("model/stream left in body: %s", s.body)
	}
	if b.Get("anthropic_version").String() != AnthropicVersion || b.Get("max_tokens").Int() != 64 {
		t.Fatalf("body: %s", s.body)
	}
	if betas := b.Get("anthropic_beta").Array(); len(betas) != 2 || betas[1].String() != "output-128k-2025-02-19" {
		t.Fatalf("anthropic_beta: %s", s.body)
	}
}

func TestStreamRequestHeaders(t *testing.T) {
	t.Parallel()
	info := testInfo("http://127.0.0.1:1", testAK+"|"+testSK, true)
	req, err := Adaptor{}.BuildRequest(context.Background(), info, []byte(messagesBody))
	if err != nil {
		t.Fatal(err)
	}
	if req.Header.Get("Accept") != "application/vnd.amazon.eventstream" || !strings.HasSuffix(req.URL.EscapedPath(), "/invoke-with-response-stream") {
		t.Fatalf("accept %q, url %s", req.Header.Get("Accept"), req.URL)
	}
	if !strings.Contains(req.Header.Get("Authorization"), "/"+DefaultRegion+"/bedrock/aws4_request") {
		t.Fatalf("region: %s", req.Header.Get("Authorization"))
	}
}

func TestBuildRequestBadKey(t *testing.T) {
	t.Parallel()
	_, err := Adaptor{}.BuildRequest(context.Background(), testInfo("", "just-one-secret", false), []byte(messagesBody))
	if err == nil || !strings.Contains(err.Error(), "ACCESS_KEY_ID|SECRET_ACCESS_KEY") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "just-one-secret") {
		t.Fatal("error echoes the key")
	}
}

func TestNonStream(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(readTestdata(t, "message.json"))
	}))
	defer srv.Close()
	info := testInfo(srv.URL, testAK+"|"+testSK, false)
	req, err := Adaptor{}.BuildRequest(context.Background(), info, []byte(messagesBody))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	out, usage, err := Adaptor{}.ParseResponse(info, body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, body) {
		t.Fatal("body not passed through")
	}
	want := relaycommon.Usage{PromptTokens: 16, CompletionTokens: 12, CachedTokens: 4, TotalTokens: 28}
	if usage != want {
		t.Fatalf("usage %+v, want %+v", usage, want)
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
		showsMsg bool
	}{
		// A model not enabled for the account and a bad key both say 403: the
		// channel can serve nobody, so it is switched off.
		{"403 AccessDeniedException", 403, readTestdata(t, "error_access_denied.json"), relayerr.KindUpstream, 502, true, true, false},
		{"403 UnrecognizedClientException", 403, readTestdata(t, "error_unrecognized_client.json"), relayerr.KindUpstream, 502, true, true, false},
		{"429 ThrottlingException", 429, readTestdata(t, "error_throttling.json"), relayerr.KindRateLimited, 429, true, false, false},
		// ModelNotReadyException is a 429 too: busy, not broken.
		{"429 ModelNotReadyException", 429, []byte(`{"message":"Model is not ready"}`), relayerr.KindRateLimited, 429, true, false, false},
		{"400 ValidationException", 400, readTestdata(t, "error_validation.json"), relayerr.KindInvalidRequest, 400, false, false, true},
		{"404 ResourceNotFoundException", 404, []byte(`{"message":"Could not resolve the foundation model from the provided model identifier."}`), relayerr.KindInvalidRequest, 404, true, false, true},
		{"408 ModelTimeoutException", 408, []byte(`{"message":"Model has timed out in processing the request."}`), relayerr.KindUpstreamTimeout, 504, true, false, false},
		// 424 ModelErrorException: the model failed; Bedrock says retry.
		{"424 ModelErrorException", 424, []byte(`{"message":"The model returned an error"}`), relayerr.KindUpstream, 502, true, false, false},
		{"500 InternalServerException", 500, []byte(`{"message":"Internal server error"}`), relayerr.KindUpstream, 502, true, false, false},
		{"503 ServiceUnavailableException", 503, []byte(`{"message":"Service unavailable"}`), relayerr.KindUpstream, 502, true, false, false},
		{"empty body", 400, nil, relayerr.KindInvalidRequest, 400, false, false, false},
		// Shown to the client, but without the account id of the ARN.
		{"400 redacts account", 400, []byte(`{"message":"Invocation of model ID arn:aws:bedrock:us-east-1:123456789012:inference-profile/x with on-demand throughput isn't supported."}`), relayerr.KindInvalidRequest, 400, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := Adaptor{}.ParseError(tt.status, tt.body)
			if e.Kind != tt.kind || e.Status != tt.client || e.Retryable != tt.retry || e.DisableChannel != tt.disable {
				t.Fatalf("got kind=%d status=%d retry=%v disable=%v", e.Kind, e.Status, e.Retryable, e.DisableChannel)
			}
			msg := gjson.GetBytes(tt.body, "message").String()
			if msg != "" && strings.Contains(e.Message, msg) != tt.showsMsg {
				t.Fatalf("message %q: shows upstream text = %v, want %v", e.Message, !tt.showsMsg, tt.showsMsg)
			}
			if strings.Contains(e.Message, "123456789012") {
				t.Fatalf("message %q names the account", e.Message)
			}
		})
	}
}

// A Bedrock key is AWS credentials: no capability meant for Anthropic's
// own API (model listing with x-api-key) may apply to it.
func TestNoInheritedCapabilities(t *testing.T) {
	t.Parallel()
	var ad any = Adaptor{}
	if _, ok := ad.(interface {
		ModelsRequest(context.Context, *relaycommon.RelayInfo) (*http.Request, error)
	}); ok {
		t.Fatal("the Bedrock adaptor lists models the Anthropic way")
	}
}
