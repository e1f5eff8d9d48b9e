package relay

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"sluice/model"
	"sluice/relay/relayerr"
)

const opsKey = "opsupstreamcredential-5a6b7c" // not "sk-…", so only the ops redaction can hide it

// opsCall is what the fake upstream saw.
type opsCall struct {
	method, path, auth, custom string
	body                       map[string]any
}

// opsUpstream answers every request with status and body, recording it.
func opsUpstream(t *testing.T, status int, body string) (*httptest.Server, chan opsCall) {
	t.Helper()
	calls := make(chan opsCall, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		c := opsCall{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization"), custom: r.Header.Get("X-Custom")}
		_ = json.Unmarshal(raw, &c.body)
		calls <- c
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, calls
}

func opsChannel(base string) *model.ChannelView {
	return &model.ChannelView{ID: 1, Type: 1, Name: "ops", BaseURL: base, Key: opsKey, Status: 1, AutoBan: true,
		Models: []string{"gpt-4o"}, ModelMapping: map[string]string{"gpt-4o": "gpt-4o-2024-08-06"},
		Headers: map[string]string{"X-Custom": "yes"}}
}

const (
	opsChatOK  = `{"id":"chatcmpl-9","object":"chat.completion","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"length"}],"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9}}`
	opsEmbedOK = `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":1,"total_tokens":1}}`
	opsRefused = `{"error":{"message":"Incorrect API key provided: ` + opsKey + `.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`
)

func TestTestChannel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		model       string
		status      int
		body        string
		wantPath    string
		wantBody    map[string]any // fields the upstream must see
		wantErr     string         // in the message; "" for success
		wantDisable bool
	}{
		{name: "chat ok", model: "gpt-4o", status: 200, body: opsChatOK, wantPath: "/v1/chat/completions",
			wantBody: map[string]any{"model": "gpt-4o-2024-08-06", "max_tokens": 1.0}},
		{name: "embedding model", model: "text-embedding-3-small", status: 200, body: opsEmbedOK, wantPath: "/v1/embeddings",
			wantBody: map[string]any{"model": "text-embedding-3-small", "input": "hi"}},
		// Reasoning models refuse max_tokens.
		{name: "reasoning model", model: "o3-mini", status: 200, body: opsChatOK, wantPath: "/v1/chat/completions",
			wantBody: map[string]any{"model": "o3-mini", "max_completion_tokens": 16.0}},
		{name: "refused key", model: "gpt-4o", status: 401, body: opsRefused, wantErr: "401", wantDisable: true},
		{name: "account out of credit", model: "gpt-4o", status: 429,
			body:    `{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`,
			wantErr: "out of credit", wantDisable: true},
		{name: "rate limited is not a dead key", model: "gpt-4o", status: 429,
			body: `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`, wantErr: "429"},
		{name: "server error", model: "gpt-4o", status: 503, body: `{"error":{"message":"overloaded"}}`, wantErr: "503"},
		// The message is the upstream's, minus the key it echoed.
		{name: "bad request echoing the key", model: "gpt-4o", status: 400,
			body:    `{"error":{"message":"model not available for ` + opsKey + `","type":"invalid_request_error"}}`,
			wantErr: "model not available for [redacted]"},
		{name: "error inside a 200", model: "gpt-4o", status: 200, body: `{"error":{"message":"no capacity"}}`, wantErr: "no capacity"},
		{name: "not JSON", model: "gpt-4o", status: 200, body: `<html>login</html>`, wantErr: "malformed"},
		{name: "JSON but no choices", model: "gpt-4o", status: 200, body: `{"ok":true}`, wantErr: "no choices"},
		{name: "redirect is not followed", model: "gpt-4o", status: 302, body: ``, wantErr: "redirected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, calls := opsUpstream(t, tt.status, tt.body)
			d, err := TestChannel(context.Background(), NewHTTPClient(), opsChannel(srv.URL), tt.model)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("TestChannel: %v", err)
				}
				if d <= 0 {
					t.Errorf("elapsed %v", d)
				}
			} else {
				var re *relayerr.Error
				if !errors.As(err, &re) {
					t.Fatalf("err = %v, want a *relayerr.Error containing %q", err, tt.wantErr)
				}
				if !strings.Contains(re.Message, tt.wantErr) || strings.Contains(re.Message, opsKey) {
					t.Errorf("message %q: want it to contain %q and not the key", re.Message, tt.wantErr)
				}
				if re.DisableChannel != tt.wantDisable {
					t.Errorf("DisableChannel = %v, want %v", re.DisableChannel, tt.wantDisable)
				}
			}
			c := <-calls
			if c.auth != "Bearer "+opsKey || c.custom != "yes" || c.method != http.MethodPost {
				t.Errorf("upstream saw %s auth %q header %q", c.method, c.auth, c.custom)
			}
			if tt.wantPath != "" && c.path != tt.wantPath {
				t.Errorf("path %s, want %s", c.path, tt.wantPath)
			}
			for k, v := range tt.wantBody {
				if c.body[k] != v {
					t.Errorf("body[%s] = %v, want %v (body %v)", k, c.body[k], v, c.body)
				}
			}
			if _, ok := c.body["stream"]; ok {
				t.Error("a test request must not stream")
			}
		})
	}
}

func TestTestChannelTransportFailures(t *testing.T) {
	t.Parallel()
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		base := srv.URL
		srv.Close()
		_, err := TestChannel(context.Background(), NewHTTPClient(), opsChannel(base), "gpt-4o")
		var re *relayerr.Error
		if !errors.As(err, &re) || !strings.Contains(re.Message, "refused") || strings.Contains(re.Message, base) {
			t.Fatalf("err = %v (want the cause, without the URL)", err)
		}
		if re.DisableChannel {
			t.Error("an unreachable upstream is not a dead key")
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
		t.Cleanup(func() { close(release); srv.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := TestChannel(ctx, NewHTTPClient(), opsChannel(srv.URL), "gpt-4o")
		var re *relayerr.Error
		if !errors.As(err, &re) || re.Kind != relayerr.KindUpstreamTimeout || !strings.Contains(re.Message, "in time") {
			t.Fatalf("err = %v", err)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("the deadline was not honoured: %v", time.Since(start))
		}
	})
	t.Run("unsupported type", func(t *testing.T) {
		t.Parallel()
		ch := opsChannel("http://upstream.invalid")
		ch.Type = 999
		if _, err := TestChannel(context.Background(), NewHTTPClient(), ch, "claude-sonnet-4"); err == nil {
			t.Fatal("a channel type without an adaptor was tested")
		}
	})
}

func TestFetchModels(t *testing.T) {
	t.Parallel()
	list := `{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"},` +
		`{"id":"dall-e-3","object":"model","created":1698785189,"owned_by":"system"},` +
		`{"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"},{"object":"model"}]}`
	tests := []struct {
		name    string
		base    string // appended to the server URL
		status  int
		body    string
		want    []string
		wantErr string
	}{
		{name: "list", status: 200, body: list, want: []string{"dall-e-3", "gpt-4o-mini"}},
		{name: "base ending in /v1", base: "/v1/", status: 200, body: list, want: []string{"dall-e-3", "gpt-4o-mini"}},
		{name: "empty list", status: 200, body: `{"object":"list","data":[]}`, want: nil},
		{name: "refused key", status: 401, body: opsRefused, wantErr: "401"},
		{name: "not a list", status: 200, body: `{"models":["a"]}`, wantErr: "not an OpenAI model list"},
		{name: "too large", status: 200, body: `{"object":"list","data":[` + strings.Repeat(`{"id":"x"},`, maxOpsResponseBytes/10) + `{"id":"y"}]}`,
			wantErr: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, calls := opsUpstream(t, tt.status, tt.body)
			got, err := FetchModels(context.Background(), NewHTTPClient(), opsChannel(srv.URL+tt.base))
			c := <-calls
			if c.method != http.MethodGet || c.path != "/v1/models" || c.auth != "Bearer "+opsKey || c.custom != "yes" {
				t.Errorf("upstream saw %+v", c)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), opsKey) {
					t.Fatalf("err = %v, want %q without the key", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("FetchModels = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	t.Run("unsupported type", func(t *testing.T) {
		t.Parallel()
		ch := opsChannel("http://upstream.invalid")
		ch.Type = 999
		if _, err := FetchModels(context.Background(), NewHTTPClient(), ch); err == nil || CanFetchModels(999) {
			t.Fatal("listed models of a channel type without an adaptor")
		}
		// Bedrock and Vertex list models through their cloud consoles'
		// APIs, which this gateway does not call.
		if CanFetchModels(33) || CanFetchModels(41) {
			t.Fatal("model listing claimed for Bedrock or Vertex")
		}
		for _, typ := range []int{1, 8, 14, 24} {
			if !CanFetchModels(typ) {
				t.Fatalf("type %d must support model listing", typ)
			}
		}
	})
}

func TestIsEmbeddingModel(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"text-embedding-3-small": true, "openai/text-embedding-ada-002": true, "mistral-embed": true,
		"gemini-embedding-001": true, "bge-m3": true, "m3e-base": true,
		"gpt-4o": false, "claude-sonnet-4": false, "o3-mini": false,
	} {
		if got := IsEmbeddingModel(name); got != want {
			t.Errorf("IsEmbeddingModel(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestRedactErr(t *testing.T) {
	t.Parallel()
	tests := []struct{ msg, key, want string }{
		{"bad key abcdef123", "abcdef123", "bad key [redacted]"},
		{"first key1111 second key2222", "key1111\nkey2222", "first [redacted] second [redacted]"},
		// A key too short to be secret is not hunted for in ordinary words.
		{"abc is fine", "abc", "abc is fine"},
		{"no key here", "", "no key here"},
	}
	for _, tt := range tests {
		if got := redactErr(relayerr.New(relayerr.KindUpstream, tt.msg), tt.key).Message; got != tt.want {
			t.Errorf("redactErr(%q, %q) = %q, want %q", tt.msg, tt.key, got, tt.want)
		}
	}
}
