package router_test

import (
	"net/http"
	"strings"
	"testing"

	"sluice/constant"
	"sluice/internal/apitest"
)

// corsCall sends method path with the given headers (and a JSON body when
// body is not empty) and returns the response, its body closed.
func corsCall(t *testing.T, s *apitest.Server, method, path, body string, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestBrowserPreflightIsAnsweredWithoutAKey(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	asked := "authorization, content-type, x-stainless-lang, x-stainless-package-version"
	for _, path := range []string{"/v1/chat/completions", "/v1/models", "/v1beta/models/gemini-2.0-flash:streamGenerateContent"} {
		resp := corsCall(t, s, http.MethodOptions, path, "", map[string]string{
			"Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": asked})
		h := resp.Header
		if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") || h.Get("Access-Control-Allow-Headers") != asked ||
			h.Get("Access-Control-Max-Age") == "" {
			t.Errorf("preflight %s: %d %v", path, resp.StatusCode, h)
		}
	}
}

func TestOnlyCrossOriginRequestsGetCORSHeaders(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	_, userTok := s.NewUser(t, "bob", constant.RoleCommon, 1000)
	key := createKey(t, s, userTok, map[string]any{"name": "app", "remain_quota": 500, "expired_time": -1})
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`

	// From a page on another origin: the answer (an error here, which the
	// page must be able to read too) allows any origin and shows the
	// request id. Without a key, the 401 carries them as well.
	for _, auth := range []string{"Bearer " + key.Key, ""} {
		resp := corsCall(t, s, http.MethodPost, "/v1/chat/completions", body,
			map[string]string{"Origin": "https://app.example", "Authorization": auth, "Content-Type": "application/json"})
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
			resp.Header.Get("Access-Control-Expose-Headers") != constant.HeaderRequestID {
			t.Errorf("cross-origin POST (auth %t): %d, CORS headers %v", auth != "", resp.StatusCode, resp.Header)
		}
	}
	// From an SDK or a server: no CORS headers at all.
	resp := corsCall(t, s, http.MethodPost, "/v1/chat/completions", body,
		map[string]string{"Authorization": "Bearer " + key.Key, "Content-Type": "application/json"})
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("POST without a channel: %d, want 404", resp.StatusCode)
	}
	for k := range resp.Header {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("a request without Origin got %s: %v", k, resp.Header)
		}
	}
}
