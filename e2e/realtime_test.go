package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// rtTurnCost prices realtimeTurnUsage for rt-model as setupRealtime
// configures it (ratio 1, completion ratio 2, cache ratio 0.5, AudioRatio 4,
// AudioCompletionRatio 2): 60 text + 40 cached × 0.5 + 4 × 200 audio in +
// 2 × 30 text out + 4 × 2 × 120 audio out.
const rtTurnCost = 60 + 20 + 800 + 60 + 960

// setupRealtime starts sluice with a fake Realtime upstream behind a
// channel mapping rt-model to rt-upstream.
func setupRealtime(t *testing.T, b mediaBehaviour, env map[string]string) (*sluice, *mediaUpstream, int) {
	t.Helper()
	up := newMediaUpstream(t, b)
	s := startSluice(t, options{Env: env})
	s.setPrices(t, "rt-model")
	s.setOption(t, "CacheRatio", `{"rt-model":0.5}`)
	s.setOption(t, "AudioRatio", `{"rt-model":4}`)
	s.setOption(t, "AudioCompletionRatio", `{"rt-model":2}`)
	ch := s.createChannel(t, channelSpec{BaseURL: up.URL, Models: "rt-model", ModelMapping: `{"rt-model":"rt-upstream"}`})
	return s, up, ch
}

func (s *sluice) realtimeURL(model string) string {
	return "ws" + strings.TrimPrefix(s.URL, "http") + "/v1/realtime?model=" + model
}

// dialRealtime opens a session with the key as a bearer header.
func dialRealtime(t *testing.T, s *sluice, key string) *websocket.Conn {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + key}, "OpenAI-Beta": {"realtime=v1"}}
	c, resp, err := websocket.DefaultDialer.Dial(s.realtimeURL("rt-model"), h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: %v (status %d)", err, status)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rtEvent is a server event's type and raw JSON.
type rtEvent struct {
	Type string
	Raw  string
}

// readEvent reads the next server event (10 s at most).
func readEvent(t *testing.T, c *websocket.Conn) (rtEvent, error) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := c.ReadMessage()
	if err != nil {
		return rtEvent{}, err
	}
	var ev struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatalf("a server event is not JSON: %s", data)
	}
	return rtEvent{Type: ev.Type, Raw: string(data)}, nil
}

// readUntil reads events up to and including one of type typ.
func readUntil(t *testing.T, c *websocket.Conn, typ string) []rtEvent {
	t.Helper()
	var evs []rtEvent
	for {
		ev, err := readEvent(t, c)
		if err != nil {
			t.Fatalf("waiting for %s after %v: %v", typ, evs, err)
		}
		evs = append(evs, ev)
		if ev.Type == typ {
			return evs
		}
	}
}

func send(t *testing.T, c *websocket.Conn, v string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(v)); err != nil {
		t.Fatalf("send %s: %v", v, err)
	}
}

func types(evs []rtEvent) string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return strings.Join(out, ",")
}

// waitRemain polls until the key's remain_quota is want.
func waitRemain(t *testing.T, s *sluice, key apiKey, want int64) {
	t.Helper()
	var kb keyBalance
	eventually(t, 15*time.Second, func() bool { kb = s.keyBalance(t, key.ID); return kb.RemainQuota == want },
		func() string { return fmt.Sprintf("key remain_quota %d, want %d", kb.RemainQuota, want) })
}

// TestRealtimeSession runs a two-turn session: every event is relayed in
// order both ways, the upstream gets the channel key, the mapped model and
// OpenAI-Beta, and each response.done is one consume log priced with text
// and audio apart. Closing the session refunds the reservation it held.
func TestRealtimeSession(t *testing.T) {
	t.Parallel()
	s, up, chID := setupRealtime(t, mediaBehaviour{}, nil)
	const budget = 1_000_000
	key := s.createKey(t, keySpec{RemainQuota: budget})
	before := s.userBalance(t)
	c := dialRealtime(t, s, key.Secret)

	created := readUntil(t, c, "session.created")
	if !strings.Contains(created[0].Raw, `"model":"rt-upstream"`) {
		t.Errorf("session.created = %s, want the mapped model upstream", created[0].Raw)
	}
	clientEvents := []string{
		`{"type":"session.update","session":{"modalities":["text","audio"]}}`,
		`{"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"Hi"}]}}`,
		`{"type":"response.create"}`,
	}
	for _, e := range clientEvents {
		send(t, c, e)
	}
	want := "response.created,response.output_audio.delta,response.output_audio.delta,response.done"
	if got := types(readUntil(t, c, "response.done")); got != want {
		t.Errorf("turn 1 events = %s, want %s", got, want)
	}
	// The first turn is billed while the session is still open.
	logs := s.waitConsumeLogs(t, key.Name, 1)
	if logs[0].Quota != rtTurnCost || logs[0].Channel != chID || logs[0].ModelName != "rt-model" || !logs[0].IsStream ||
		logs[0].PromptTokens != 300 || logs[0].CompletionTokens != 150 {
		t.Errorf("turn 1 log = %+v, want quota %d, tokens 300/150", logs[0], rtTurnCost)
	}
	send(t, c, `{"type":"response.create"}`)
	if got := types(readUntil(t, c, "response.done")); got != want {
		t.Errorf("turn 2 events = %s, want %s", got, want)
	}
	logs = s.waitConsumeLogs(t, key.Name, 2)
	for _, l := range logs {
		if l.Quota != rtTurnCost {
			t.Errorf("log quota %d, want %d", l.Quota, rtTurnCost)
		}
	}
	_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	c.Close()
	waitRemain(t, s, key, budget-2*rtTurnCost)
	if paid := before.Quota - s.userBalance(t).Quota; paid != 2*rtTurnCost {
		t.Errorf("the user paid %d, want %d", paid, 2*rtTurnCost)
	}

	call := up.last(t)
	if call.Header.Get("Authorization") != "Bearer "+upstreamKey || call.Header.Get("OpenAI-Beta") != "realtime=v1" ||
		call.Query != "model=rt-upstream" {
		t.Errorf("upstream handshake: Authorization %q, OpenAI-Beta %q, query %q", call.Header.Get("Authorization"),
			call.Header.Get("OpenAI-Beta"), call.Query)
	}
	wantEvents := append(append([]string(nil), clientEvents...), `{"type":"response.create"}`)
	if strings.Join(call.Events, "\n") != strings.Join(wantEvents, "\n") {
		t.Errorf("upstream received events\n%s\nwant\n%s", strings.Join(call.Events, "\n"), strings.Join(wantEvents, "\n"))
	}
}

// TestRealtimeAuth: a bad or missing key is refused at the upgrade with
// 401, a key that cannot cover one response with 429; browsers' subprotocol
// key works and the "realtime" subprotocol is confirmed.
func TestRealtimeAuth(t *testing.T) {
	t.Parallel()
	s, up, _ := setupRealtime(t, mediaBehaviour{}, nil)
	for name, h := range map[string]http.Header{
		"bad key":    {"Authorization": {"Bearer sk-not-a-key"}},
		"no key":     {},
		"bad subkey": {"Sec-WebSocket-Protocol": {"realtime, openai-insecure-api-key.sk-wrong"}},
	} {
		_, resp, err := websocket.DefaultDialer.Dial(s.realtimeURL("rt-model"), h)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Errorf("%s: err %v, status %d; want a refused upgrade with 401", name, err, status)
		}
	}

	key := s.createKey(t, keySpec{RemainQuota: 1_000_000})
	d := websocket.Dialer{Subprotocols: []string{"realtime", "openai-insecure-api-key." + key.Secret, "openai-beta.realtime-v1"}}
	c, resp, err := d.Dial(s.realtimeURL("rt-model"), nil)
	if err != nil {
		t.Fatalf("subprotocol key: %v", err)
	}
	defer c.Close()
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "realtime" {
		t.Errorf("confirmed subprotocol %q, want realtime", p)
	}
	readUntil(t, c, "session.created")
	if beta := up.last(t).Header.Get("OpenAI-Beta"); beta != "realtime=v1" {
		t.Errorf("upstream OpenAI-Beta = %q, want realtime=v1 from the subprotocol", beta)
	}

	poor := s.createKey(t, keySpec{RemainQuota: 100})
	_, resp, err = websocket.DefaultDialer.Dial(s.realtimeURL("rt-model"), http.Header{"Authorization": {"Bearer " + poor.Secret}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a key that cannot cover a response: err %v, resp %v; want 429", err, resp)
	}
}

// TestRealtimeClientDisconnect: the client drops mid-response; the gateway
// cancels the response upstream and still bills the response.done that
// follows.
func TestRealtimeClientDisconnect(t *testing.T) {
	t.Parallel()
	s, up, _ := setupRealtime(t, mediaBehaviour{RealtimeWaitCancel: true}, nil)
	const budget = 1_000_000
	key := s.createKey(t, keySpec{RemainQuota: budget})
	c := dialRealtime(t, s, key.Secret)
	readUntil(t, c, "session.created")
	send(t, c, `{"type":"response.create"}`)
	readUntil(t, c, "response.created")
	c.NetConn().Close() // no close frame

	logs := s.waitConsumeLogs(t, key.Name, 1)
	if logs[0].Quota != rtTurnCost {
		t.Errorf("the cancelled response was billed %d, want %d", logs[0].Quota, rtTurnCost)
	}
	waitRemain(t, s, key, budget-rtTurnCost)
	if ev := up.last(t).Events; len(ev) != 2 || !strings.Contains(ev[1], "response.cancel") {
		t.Errorf("upstream events = %v, want response.create then response.cancel", ev)
	}
}

// TestRealtimeUpstreamDisconnect: the upstream drops mid-response; the
// client gets an error event and a 1011 close, and nothing is charged.
func TestRealtimeUpstreamDisconnect(t *testing.T) {
	t.Parallel()
	s, _, _ := setupRealtime(t, mediaBehaviour{RealtimeDropAfterCreated: true}, nil)
	const budget = 1_000_000
	key := s.createKey(t, keySpec{RemainQuota: budget})
	c := dialRealtime(t, s, key.Secret)
	readUntil(t, c, "session.created")
	send(t, c, `{"type":"response.create"}`)
	evs := readUntil(t, c, "error")
	if last := evs[len(evs)-1].Raw; !strings.Contains(last, `"upstream_disconnected"`) || strings.Contains(last, upstreamKey) {
		t.Errorf("error event = %s", last)
	}
	_, err := readEvent(t, c)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseInternalServerErr {
		t.Errorf("after the error event: %v, want a 1011 close frame", err)
	}
	waitRemain(t, s, key, budget)
	time.Sleep(1500 * time.Millisecond)
	if logs := s.consumeLogs(t, key.Name); len(logs) != 0 {
		t.Errorf("a dropped response was billed: %+v", logs)
	}
}

// TestRealtimeQuotaExhausted: a key runs out mid-session. The first turn
// is paid in full; the second costs more than is left, so the balance stops
// at zero with the rest recorded as unpaid, and the session ends with an
// insufficient_quota error event and a close frame. Charges equal logs.
func TestRealtimeQuotaExhausted(t *testing.T) {
	t.Parallel()
	s, _, _ := setupRealtime(t, mediaBehaviour{}, nil)
	// A small allowance makes each response's reservation (10 audio tokens
	// in and out: 4 × 10 + 8 × 10 = 120) far below its real cost.
	s.setOption(t, "PreConsumeCompletionTokens", "10")
	const budget = rtTurnCost + 1000
	key := s.createKey(t, keySpec{RemainQuota: budget})
	c := dialRealtime(t, s, key.Secret)
	readUntil(t, c, "session.created")
	send(t, c, `{"type":"response.create"}`)
	readUntil(t, c, "response.done")
	send(t, c, `{"type":"response.create"}`)
	readUntil(t, c, "response.done")
	ev, err := readEvent(t, c)
	if err != nil || ev.Type != "error" || !strings.Contains(ev.Raw, `"insufficient_quota"`) {
		t.Fatalf("after the unpaid response: %+v, %v; want an insufficient_quota error event", ev, err)
	}
	_, err = readEvent(t, c)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
		t.Errorf("after the error event: %v, want a close frame", err)
	}
	logs := s.waitConsumeLogs(t, key.Name, 2)
	var logged int64
	unpaid := false
	for _, l := range logs {
		logged += l.Quota
		unpaid = unpaid || strings.Contains(l.Other, `"unpaid":900`)
	}
	if logged != budget || !unpaid {
		t.Errorf("logs = %+v; want %d charged in all, 900 unpaid", logs, budget)
	}
	waitRemain(t, s, key, 0)
	if kb := s.keyBalance(t, key.ID); kb.UsedQuota != budget {
		t.Errorf("key used %d, want %d", kb.UsedQuota, budget)
	}
}

// TestRealtimeShutdownBillsTheResponseInProgress: SIGTERM during a
// response. The session is closed as "going away", the response is
// cancelled upstream, its response.done is billed, and the charge is in
// SQL after a restart: a shutdown loses nothing charged.
func TestRealtimeShutdownBillsTheResponseInProgress(t *testing.T) {
	t.Parallel()
	s, up, _ := setupRealtime(t, mediaBehaviour{RealtimeWaitCancel: true}, nil)
	const budget = 1_000_000
	key := s.createKey(t, keySpec{RemainQuota: budget})
	c := dialRealtime(t, s, key.Secret)
	readUntil(t, c, "session.created")
	send(t, c, `{"type":"response.create"}`)
	readUntil(t, c, "response.created")
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var ce *websocket.CloseError
	for {
		if _, err := readEvent(t, c); err != nil {
			if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
				t.Errorf("the session ended with %v, want a 1001 close", err)
			}
			break
		}
	}
	select {
	case <-s.Exited():
	case <-time.After(20 * time.Second):
		t.Fatal("sluice did not exit after SIGTERM with a Realtime session open")
	}
	s.Stop(t) // asserts exit status 0
	if ev := up.last(t).Events; len(ev) != 2 || !strings.Contains(ev[1], "response.cancel") {
		t.Errorf("upstream events = %v, want response.create then response.cancel", ev)
	}
	again := startSluice(t, options{DataDir: s.DataDir, Access: s.Access})
	logs := again.consumeLogs(t, key.Name)
	if len(logs) != 1 || logs[0].Quota != rtTurnCost {
		t.Fatalf("after restart the consume logs are %+v, want one of %d", logs, rtTurnCost)
	}
	if kb := again.keyBalance(t, key.ID); kb.RemainQuota != budget-rtTurnCost {
		t.Errorf("after restart the key holds %d, want %d", kb.RemainQuota, budget-rtTurnCost)
	}
}
