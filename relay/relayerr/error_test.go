package relayerr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestUpstream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		msg, code string
		kind      Kind
		client    int
		retry     bool
		disable   bool
		showsMsg  bool
	}{
		// A rejected credential is the channel's fault: try another, switch it off,
		// and never show the upstream's text (it may echo part of the key).
		{"401 bad key", 401, "Incorrect API key provided: sk-abc***xyz", "invalid_api_key", KindUpstream, 502, true, true, false},
		{"403 forbidden", 403, "forbidden", "", KindUpstream, 502, true, true, false},
		// OpenAI reports an empty account as 429 insufficient_quota: that channel is dead, not busy.
		{"429 out of credit", 429, "You exceeded your current quota", "insufficient_quota", KindUpstream, 502, true, true, false},
		{"429 rate limited", 429, "Rate limit reached", "rate_limit_exceeded", KindRateLimited, 429, true, false, false},
		{"500", 500, "boom at 10.0.0.1", "", KindUpstream, 502, true, false, false},
		{"503", 503, "", "", KindUpstream, 502, true, false, false},
		{"504", 504, "", "", KindUpstreamTimeout, 504, true, false, false},
		// A 400 is the client's own mistake: same answer anywhere, so no retry, and
		// the upstream's explanation is what the client needs.
		{"400 bad param", 400, "Invalid value for 'temperature'", "invalid_value", KindInvalidRequest, 400, false, false, true},
		// A 404 is usually "model not found" on this channel; another may serve it.
		{"404 model", 404, "The model does not exist", "model_not_found", KindInvalidRequest, 404, true, false, true},
		{"422", 422, "", "", KindInvalidRequest, 422, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Upstream(tt.status, tt.msg, tt.code)
			if e.Kind != tt.kind || e.Status != tt.client || e.Retryable != tt.retry || e.DisableChannel != tt.disable {
				t.Fatalf("got kind=%d status=%d retry=%v disable=%v", e.Kind, e.Status, e.Retryable, e.DisableChannel)
			}
			if tt.msg != "" && strings.Contains(e.Message, tt.msg) != tt.showsMsg {
				t.Fatalf("message %q: shows upstream text = %v, want %v", e.Message, !tt.showsMsg, tt.showsMsg)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func TestFromTransport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		err   error
		kind  Kind
		code  int
		retry bool
	}{
		{"timeout", &net.OpError{Op: "read", Err: timeoutErr{}}, KindUpstreamTimeout, 504, true},
		{"deadline", fmt.Errorf("wrapped: %w", context.DeadlineExceeded), KindUpstreamTimeout, 504, true},
		{"client left", fmt.Errorf("wrapped: %w", context.Canceled), KindClientGone, 499, false},
		{"refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, KindUpstream, 502, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := FromTransport(tt.err)
			if e.Kind != tt.kind || e.Status != tt.code || e.Retryable != tt.retry {
				t.Fatalf("got kind=%d status=%d retry=%v", e.Kind, e.Status, e.Retryable)
			}
			if !errors.Is(e, tt.err) {
				t.Fatal("cause not reachable through errors.Is")
			}
			if strings.Contains(string(e.Body(FormatOpenAI)), tt.err.Error()) {
				t.Fatal("internal error text leaked into the client body")
			}
		})
	}
}

func TestBodyShapes(t *testing.T) {
	t.Parallel()
	e := New(KindQuotaExceeded, "no money")
	var oa struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    string  `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(e.Body(FormatOpenAI), &oa); err != nil {
		t.Fatal(err)
	}
	if oa.Error.Message != "no money" || oa.Error.Code != "insufficient_quota" || oa.Error.Param != nil || e.Status != http.StatusTooManyRequests {
		t.Fatalf("openai shape: %+v", oa)
	}
	var an struct {
		Type  string `json:"type"`
		Error struct{ Type, Message string }
	}
	if err := json.Unmarshal(New(KindUnauthorized, "bad key").Body(FormatAnthropic), &an); err != nil {
		t.Fatal(err)
	}
	if an.Type != "error" || an.Error.Type != "authentication_error" || an.Error.Message != "bad key" {
		t.Fatalf("anthropic shape: %+v", an)
	}
	var ge struct {
		Error struct {
			Code    int
			Message string
			Status  string
		}
	}
	if err := json.Unmarshal(New(KindUnauthorized, "bad key").Body(FormatGemini), &ge); err != nil {
		t.Fatal(err)
	}
	if ge.Error.Code != 401 || ge.Error.Status != "UNAUTHENTICATED" {
		t.Fatalf("gemini shape: %+v", ge)
	}
}

func TestSanitize(t *testing.T) {
	t.Parallel()
	in := "failed to call https://internal.example/v1/chat with key sk-abcdef1234567890 from 10.1.2.3:8080"
	out := Sanitize(in)
	for _, leak := range []string{"internal.example", "sk-abcdef", "10.1.2.3"} {
		if strings.Contains(out, leak) {
			t.Fatalf("%q leaked in %q", leak, out)
		}
	}
	if long := Sanitize(strings.Repeat("a", 2000)); len(long) > 510 {
		t.Fatalf("not bounded: %d", len(long))
	}
}
