package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

type envelope struct {
	Success bool            `json:"success"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// call makes an admin API call with root's access token (or none when
// token is empty) and returns the status and the decoded envelope.
func (s *sluice) call(t *testing.T, token, method, path string, body any) (int, envelope) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("%s %s: status %d, body is not the envelope: %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, env
}

// admin makes a root admin call that must succeed and decodes data into out.
func (s *sluice) admin(t *testing.T, method, path string, body, out any) {
	t.Helper()
	status, env := s.call(t, s.Access, method, path, body)
	if status != http.StatusOK || !env.Success {
		t.Fatalf("%s %s: status %d, success %v, message %q", method, path, status, env.Success, env.Message)
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			t.Fatalf("%s %s: data %s: %v", method, path, env.Data, err)
		}
	}
}

// channelSpec is a channel to create; zero fields get the test defaults
// (type 8 custom OpenAI-compatible, upstreamKey, weight 10).
type channelSpec struct {
	Name         string `json:"name"`
	BaseURL      string `json:"base_url"`
	Models       string `json:"models"`
	ModelMapping string `json:"model_mapping,omitempty"`
	Priority     int64  `json:"priority"`
	Type         int    `json:"type"`
	Key          string `json:"key"`
	Weight       int    `json:"weight"`
}

func (s *sluice) createChannel(t *testing.T, c channelSpec) int {
	t.Helper()
	if c.Type == 0 {
		c.Type = 8
	}
	if c.Key == "" {
		c.Key = upstreamKey
	}
	if c.Weight == 0 {
		c.Weight = 10
	}
	if c.Name == "" {
		c.Name = "ch-" + randomString(6)
	}
	var out struct {
		ID int `json:"id"`
	}
	s.admin(t, http.MethodPost, "/api/channel/", c, &out)
	if out.ID <= 0 {
		t.Fatalf("created channel has no id")
	}
	return out.ID
}

// channelStatus reads a channel's status (1 enabled, 2 manual, 3 auto-disabled).
func (s *sluice) channelStatus(t *testing.T, id int) int {
	t.Helper()
	var ch struct {
		Status int `json:"status"`
	}
	s.admin(t, http.MethodGet, "/api/channel/"+strconv.Itoa(id), nil, &ch)
	return ch.Status
}

// setChannelStatus changes a channel's status through PUT with the whole
// object, as the web UI does.
func (s *sluice) setChannelStatus(t *testing.T, id, status int) {
	t.Helper()
	var ch map[string]any
	s.admin(t, http.MethodGet, "/api/channel/"+strconv.Itoa(id), nil, &ch)
	ch["status"] = status
	s.admin(t, http.MethodPut, "/api/channel/", ch, nil)
}

// keySpec is an API key to create; ExpiredTime 0 means never (-1).
type keySpec struct {
	Name               string `json:"name"`
	RemainQuota        int64  `json:"remain_quota"`
	UnlimitedQuota     bool   `json:"unlimited_quota"`
	ExpiredTime        int64  `json:"expired_time"`
	ModelLimitsEnabled bool   `json:"model_limits_enabled,omitempty"`
	ModelLimits        string `json:"model_limits,omitempty"`
	AllowIPs           string `json:"allow_ips,omitempty"`
}

// apiKey is a created key: its id, name and full secret.
type apiKey struct {
	ID     int
	Name   string
	Secret string
}

func (s *sluice) createKey(t *testing.T, k keySpec) apiKey {
	t.Helper()
	if k.Name == "" {
		k.Name = "key-" + randomString(8)
	}
	if k.ExpiredTime == 0 {
		k.ExpiredTime = -1
	}
	var out struct {
		ID  int    `json:"id"`
		Key string `json:"key"`
	}
	s.admin(t, http.MethodPost, "/api/token/", k, &out)
	if !strings.HasPrefix(out.Key, "sk-") {
		t.Fatalf("created key's secret %q does not start with sk-", out.Key)
	}
	return apiKey{ID: out.ID, Name: k.Name, Secret: out.Key}
}

// keyBalance is a key's balance as GET /api/token/:id shows it.
type keyBalance struct {
	RemainQuota int64 `json:"remain_quota"`
	UsedQuota   int64 `json:"used_quota"`
	Status      int   `json:"status"`
}

func (s *sluice) keyBalance(t *testing.T, id int) keyBalance {
	t.Helper()
	var b keyBalance
	s.admin(t, http.MethodGet, "/api/token/"+strconv.Itoa(id), nil, &b)
	return b
}

// userBalance is root's balance as GET /api/user/self shows it.
type userBalance struct {
	Quota     int64 `json:"quota"`
	UsedQuota int64 `json:"used_quota"`
}

func (s *sluice) userBalance(t *testing.T) userBalance {
	t.Helper()
	var b userBalance
	s.admin(t, http.MethodGet, "/api/user/self", nil, &b)
	return b
}

func (s *sluice) setOption(t *testing.T, key, value string) {
	t.Helper()
	s.admin(t, http.MethodPut, "/api/option/", map[string]string{"key": key, "value": value}, nil)
}

// setPrices sets every model's ratio to 1 and completion ratio to 2, so a
// request costs prompt + 2 × completion quota exactly.
func (s *sluice) setPrices(t *testing.T, models ...string) {
	t.Helper()
	ratio, completion := map[string]float64{}, map[string]float64{}
	for _, m := range models {
		ratio[m], completion[m] = 1, 2
	}
	s.setOption(t, "ModelRatio", mustJSON(t, ratio))
	s.setOption(t, "CompletionRatio", mustJSON(t, completion))
}

// consumeLog is one consume log (type 2) as GET /api/log/ shows it.
type consumeLog struct {
	Quota            int64  `json:"quota"`
	PromptTokens     int    `json:"prompt_tokens"`
	CompletionTokens int    `json:"completion_tokens"`
	IsStream         bool   `json:"is_stream"`
	Channel          int    `json:"channel"`
	ModelName        string `json:"model_name"`
	TokenName        string `json:"token_name"`
	Other            string `json:"other"`
}

// consumeLogs lists the consume logs, narrowed to one key when keyName is set.
func (s *sluice) consumeLogs(t *testing.T, keyName string) []consumeLog {
	t.Helper()
	q := url.Values{"type": {"2"}, "p": {"1"}, "page_size": {"1000"}}
	if keyName != "" {
		q.Set("token_name", keyName)
	}
	var page struct {
		Items []consumeLog `json:"items"`
	}
	s.admin(t, http.MethodGet, "/api/log/?"+q.Encode(), nil, &page)
	return page.Items
}

// waitConsumeLogs polls until keyName has at least n consume logs (the
// batch writer flushes every second) and returns them.
func (s *sluice) waitConsumeLogs(t *testing.T, keyName string, n int) []consumeLog {
	t.Helper()
	var logs []consumeLog
	eventually(t, 15*time.Second, func() bool {
		logs = s.consumeLogs(t, keyName)
		return len(logs) >= n
	}, func() string { return fmt.Sprintf("key %q has %d consume logs, want %d", keyName, len(logs), n) })
	return logs
}
