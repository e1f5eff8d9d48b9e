package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// chatBody is a small chat request for model.
func chatBody(model string, stream bool) []byte {
	return fmt.Appendf(nil, `{"model":%q,"messages":[{"role":"user","content":"Hello!"}],"max_tokens":16,"stream":%v}`, model, stream)
}

// checkOpenAIError asserts an OpenAI-shaped error body
// {"error":{"message","type","param","code"}} with the given code, and that
// nothing about the upstream leaked into it.
func checkOpenAIError(t *testing.T, body []byte, wantCode string, upstreams ...*fakeUpstream) {
	t.Helper()
	var e struct {
		Error map[string]json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil {
		t.Fatalf("body is not an OpenAI error: %s", body)
	}
	str := func(name string) string {
		var v string
		_ = json.Unmarshal(e.Error[name], &v)
		return v
	}
	switch _, hasParam := e.Error["param"]; {
	case str("message") == "":
		t.Errorf("error.message is missing: %s", body)
	case str("type") == "":
		t.Errorf("error.type is missing: %s", body)
	case !hasParam:
		t.Errorf("error.param is missing: %s", body)
	case str("code") != wantCode:
		t.Errorf("error.code = %s, want %q: %s", e.Error["code"], wantCode, body)
	}
	checkNoLeak(t, body, upstreams...)
}

// checkNoLeak asserts that a client-visible body names no upstream: not
// its URL, not the channel key, not a loopback address.
func checkNoLeak(t *testing.T, body []byte, upstreams ...*fakeUpstream) {
	t.Helper()
	secrets := []string{upstreamKey, "127.0.0.1"}
	for _, u := range upstreams {
		secrets = append(secrets, u.URL, strings.TrimPrefix(u.URL, "http://"))
	}
	for _, s := range secrets {
		if bytes.Contains(body, []byte(s)) {
			t.Errorf("the client saw %q: %s", s, body)
		}
	}
}

// TestErrorStatuses checks every error status of CONTRACT.md: the status,
// the OpenAI error shape and code, no upstream detail in the message, and
// that a refused or failed request costs nothing and logs no consumption.
func TestErrorStatuses(t *testing.T) {
	t.Parallel()
	ok := newUpstream(t, behaviour{})
	failing := newUpstream(t, behaviour{Status: http.StatusInternalServerError})
	hanging := newUpstream(t, behaviour{Hang: true})
	limited := newUpstream(t, behaviour{Status: http.StatusTooManyRequests})
	refusing := newUpstream(t, behaviour{Status: http.StatusBadRequest})
	upstreams := []*fakeUpstream{ok, failing, hanging, limited, refusing}

	s := startSluice(t, options{Env: map[string]string{
		"STREAMING_TIMEOUT":   "1",
		"RELAY_TIMEOUT":       "1",
		"MAX_REQUEST_BODY_MB": "1",
	}})
	s.setPrices(t, "ok-model", "off-model", "fail-model", "hang-model", "limited-model", "refused-model", "other-model")
	s.createChannel(t, channelSpec{Name: "ok", BaseURL: ok.URL, Models: "ok-model"})
	off := s.createChannel(t, channelSpec{Name: "off", BaseURL: ok.URL, Models: "off-model"})
	s.setChannelStatus(t, off, 2)
	s.createChannel(t, channelSpec{Name: "failing", BaseURL: failing.URL, Models: "fail-model"})
	s.createChannel(t, channelSpec{Name: "hanging", BaseURL: hanging.URL, Models: "hang-model"})
	s.createChannel(t, channelSpec{Name: "limited", BaseURL: limited.URL, Models: "limited-model"})
	s.createChannel(t, channelSpec{Name: "refusing", BaseURL: refusing.URL, Models: "refused-model"})

	const budget = 1_000_000
	good := s.createKey(t, keySpec{RemainQuota: budget})
	disabled := s.createKey(t, keySpec{RemainQuota: budget})
	s.admin(t, http.MethodPut, "/api/token/?status_only=true", map[string]int{"id": disabled.ID, "status": 2}, nil)
	expired := s.createKey(t, keySpec{RemainQuota: budget, ExpiredTime: time.Now().Add(-time.Minute).Unix()})
	modelLimited := s.createKey(t, keySpec{RemainQuota: budget, ModelLimitsEnabled: true, ModelLimits: "other-model"})
	ipLimited := s.createKey(t, keySpec{RemainQuota: budget, AllowIPs: "10.9.9.9"})
	poor := s.createKey(t, keySpec{RemainQuota: 5})
	keys := []apiKey{good, disabled, expired, modelLimited, ipLimited, poor}

	huge := fmt.Appendf(nil, `{"model":"ok-model","messages":[{"role":"user","content":%q}]}`, strings.Repeat("x", 3<<19))
	cases := []struct {
		name   string
		key    string // secret; "" sends none
		body   []byte
		header []string
		// chunked hides the body's length, so only reading it can tell.
		chunked bool
		status  int
		code    string
		// upstream is true where the failure comes from an upstream call.
		upstream bool
	}{
		{name: "missing key", body: chatBody("ok-model", false), status: 401, code: "invalid_api_key"},
		{name: "bad key", key: "sk-not-a-key-of-this-gateway", body: chatBody("ok-model", false), status: 401, code: "invalid_api_key"},
		{name: "disabled key", key: disabled.Secret, body: chatBody("ok-model", false), status: 403, code: "token_disabled"},
		{name: "expired key", key: expired.Secret, body: chatBody("ok-model", false), status: 403, code: "token_expired"},
		{name: "model not allowed for the key", key: modelLimited.Secret, body: chatBody("ok-model", false), status: 403, code: "model_not_allowed"},
		{name: "IP not allowed", key: ipLimited.Secret, body: chatBody("ok-model", false), status: 403, code: "ip_not_allowed"},
		{name: "malformed JSON", key: good.Secret, body: []byte(`{"model":"ok-model","messages":[`), status: 400, code: "invalid_request"},
		{name: "missing model", key: good.Secret, body: []byte(`{"messages":[{"role":"user","content":"Hello!"}]}`), status: 400, code: "invalid_request"},
		{name: "no channel serves the model", key: good.Secret, body: chatBody("nobody-serves-this", false), status: 404, code: "model_not_found"},
		{name: "only a disabled channel serves the model", key: good.Secret, body: chatBody("off-model", false), status: 503, code: "no_available_channel"},
		{name: "body over MAX_REQUEST_BODY_MB", key: good.Secret, body: huge, status: 413, code: "request_too_large"},
		{name: "body over MAX_REQUEST_BODY_MB, chunked", key: good.Secret, body: huge, chunked: true, status: 413, code: "request_too_large"},
		{name: "key cannot cover the reservation", key: poor.Secret, body: chatBody("ok-model", false), status: 429, code: "insufficient_quota"},
		{name: "upstream 500 after retries", key: good.Secret, body: chatBody("fail-model", false), status: 502, code: "upstream_error", upstream: true},
		{name: "upstream stalls a stream (STREAMING_TIMEOUT)", key: good.Secret, body: chatBody("hang-model", true), status: 504, code: "upstream_timeout", upstream: true},
		{name: "upstream stalls a call (RELAY_TIMEOUT)", key: good.Secret, body: chatBody("hang-model", false), status: 504, code: "upstream_timeout", upstream: true},
		{name: "upstream rate limits", key: good.Secret, body: chatBody("limited-model", false), status: 429, code: "rate_limit_exceeded", upstream: true},
		{name: "upstream refuses the request", key: good.Secret, body: chatBody("refused-model", false), status: 400, code: "invalid_value", upstream: true},
	}

	userStart := s.userBalance(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			userBefore := s.userBalance(t)
			balances := map[int]keyBalance{}
			for _, k := range keys {
				balances[k.ID] = s.keyBalance(t, k.ID)
			}
			calls := 0
			for _, u := range upstreams {
				calls += len(u.Calls())
			}

			start := time.Now()
			var body io.Reader = bytes.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body) // not a type net/http can size
			}
			resp := s.post(t, context.Background(), "/v1/chat/completions", tc.key, body, tc.header...)
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.status, got)
			}
			checkOpenAIError(t, got, tc.code, upstreams...)
			if tc.status == http.StatusGatewayTimeout {
				if d := time.Since(start); d > 4*time.Second {
					t.Errorf("the timeout took %v, configured 1 s", d)
				}
			}

			for _, k := range keys {
				if got := s.keyBalance(t, k.ID); got != balances[k.ID] {
					t.Errorf("key %s balance changed from %+v to %+v", k.Name, balances[k.ID], got)
				}
			}
			if got := s.userBalance(t); got != userBefore {
				t.Errorf("user balance changed from %+v to %+v", userBefore, got)
			}
			after := 0
			for _, u := range upstreams {
				after += len(u.Calls())
			}
			if !tc.upstream && after != calls {
				t.Errorf("a request refused at the gateway made %d upstream calls", after-calls)
			}
		})
	}

	// A request that succeeds after all of them: once its log is written,
	// anything the failures had queued would have been written too.
	resp := s.post(t, context.Background(), "/v1/chat/completions", good.Secret, bytes.NewReader(chatBody("ok-model", false)))
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("control request: status %d", resp.StatusCode)
	}
	marker := s.waitConsumeLogs(t, good.Name, 1)
	if all := s.consumeLogs(t, ""); len(all) != 1 {
		t.Errorf("%d consume logs, want only the control request's: %+v", len(all), all)
	}
	if paid := userStart.Quota - s.userBalance(t).Quota; paid != marker[0].Quota {
		t.Errorf("the user paid %d in all, want only the control request's %d", paid, marker[0].Quota)
	}
}

// TestIPAllowListIgnoresForwardedHeaders: a key limited to 10.9.9.9 stays
// refused from 127.0.0.1 when the client itself claims, in
// X-Forwarded-For or X-Real-IP, to be 10.9.9.9 — no trusted proxy is
// configured, so those headers are the client's word.
func TestIPAllowListIgnoresForwardedHeaders(t *testing.T) {
	t.Parallel()
	ok := newUpstream(t, behaviour{})
	s := startSluice(t, options{})
	s.setPrices(t, "ok-model")
	s.createChannel(t, channelSpec{BaseURL: ok.URL, Models: "ok-model"})
	key := s.createKey(t, keySpec{RemainQuota: 1_000_000, AllowIPs: "10.9.9.9"})
	for _, h := range []string{"X-Forwarded-For", "X-Real-IP"} {
		t.Run(h, func(t *testing.T) {
			resp := s.post(t, context.Background(), "/v1/chat/completions", key.Secret, bytes.NewReader(chatBody("ok-model", false)), h, "10.9.9.9")
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403: the allow list trusted a client-supplied %s", resp.StatusCode, h)
			}
			checkOpenAIError(t, body, "ip_not_allowed")
		})
	}
	if n := len(ok.Calls()); n != 0 {
		t.Errorf("the upstream was called %d times for a key refused by its allow list", n)
	}
}
