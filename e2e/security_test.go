package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// exchange is one response sluice sent, as the client received it.
type exchange struct {
	what   string // "POST /api/token/ → 200"
	header http.Header
	body   []byte
	// shows names the secrets this response is the one place to show, and
	// where: "body" or "header".
	shows map[string]string
}

// recorder makes HTTP calls to sluice and keeps every response.
type recorder struct {
	t   *testing.T
	s   *sluice
	mu  sync.Mutex
	all []*exchange
	// auth headers sent with admin calls: a session or an access token.
	cookie, userID, access string
}

// do sends a request and records the response; header holds name, value
// pairs. It returns the response's exchange.
func (r *recorder) do(method, path string, body []byte, header ...string) (int, *exchange) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.s.URL+path, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	e := &exchange{what: method + " " + path + " → " + strconv.Itoa(resp.StatusCode), header: resp.Header, body: raw,
		shows: map[string]string{}}
	r.mu.Lock()
	r.all = append(r.all, e)
	r.mu.Unlock()
	return resp.StatusCode, e
}

// admin makes an admin call with the current credentials and decodes the
// envelope's data into out; it must succeed.
func (r *recorder) admin(method, path string, body any, out any) *exchange {
	r.t.Helper()
	var b []byte
	if body != nil {
		b = []byte(mustJSON(r.t, body))
	}
	var hdr []string
	if r.access != "" {
		hdr = []string{"Authorization", "Bearer " + r.access}
	} else {
		hdr = []string{"Cookie", r.cookie, "New-Api-User", r.userID}
	}
	status, e := r.do(method, path, b, hdr...)
	var env envelope
	if err := json.Unmarshal(e.body, &env); err != nil || status != http.StatusOK || !env.Success {
		r.t.Fatalf("%s: %s", e.what, e.body)
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			r.t.Fatalf("%s: data %s: %v", e.what, env.Data, err)
		}
	}
	return e
}

// echoUpstream answers every call with an error that echoes the credential
// it received, as careless providers do: 401 for model "sec-401", 500
// otherwise.
func echoUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Model string `json:"model"`
		}
		_ = json.Unmarshal(body, &req)
		auth := r.Header.Get("Authorization")
		key := strings.TrimPrefix(auth, "Bearer ")
		if req.Model == "sec-401" {
			writeOpenAIError(w, http.StatusUnauthorized, "Incorrect API key provided: "+key+".", "invalid_request_error", "invalid_api_key")
			return
		}
		writeOpenAIError(w, http.StatusInternalServerError, "backend failure for "+auth+" (key "+key+")", "server_error", "")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestNoSecretLeaks runs a full session through the real binary — login,
// an access token, an API key, channels with a distinctive upstream key, a
// redemption code, chats (stream and not), upstream errors that echo the
// upstream key, failed logins — then scans every response and the whole
// log for each secret. Each may appear only in the one response that
// shows it once; the database file holds none of them in clear.
func TestNoSecretLeaks(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{
		"root password":        "pw-" + randomString(24),
		"initial access token": randomString(32),
		"channel key":          "sk-chan-" + randomString(32),
	}
	s := startSluice(t, options{Access: secrets["initial access token"],
		Env: map[string]string{"INITIAL_ROOT_PASSWORD": secrets["root password"]}})
	r := &recorder{t: t, s: s}

	// Failed logins: a wrong password that contains the right one, the right
	// one for a user that does not exist, and no password.
	for _, in := range []map[string]string{
		{"username": "root", "password": secrets["root password"] + "-wrong"},
		{"username": "nobody", "password": secrets["root password"]},
		{"username": "root", "password": ""},
	} {
		if status, e := r.do(http.MethodPost, "/api/user/login", []byte(mustJSON(t, in))); status/100 != 4 {
			t.Fatalf("failed login: %s: %s", e.what, e.body)
		}
	}

	// Login with the password: the session cookie is shown in Set-Cookie.
	status, login := r.do(http.MethodPost, "/api/user/login",
		[]byte(mustJSON(t, map[string]string{"username": "root", "password": secrets["root password"]})))
	if status != http.StatusOK {
		t.Fatalf("login: %s: %s", login.what, login.body)
	}
	for _, c := range (&http.Response{Header: login.header}).Cookies() {
		if c.Value != "" {
			secrets["session cookie"] = c.Value
			r.cookie = c.Name + "=" + c.Value
		}
	}
	if r.cookie == "" {
		t.Fatalf("login set no cookie: %v", login.header)
	}
	login.shows["session cookie"] = "header"
	var user struct {
		ID int `json:"id"`
	}
	var env envelope
	_ = json.Unmarshal(login.body, &env)
	_ = json.Unmarshal(env.Data, &user)
	r.userID = strconv.Itoa(user.ID)

	// The access token, shown once by GET /api/user/token; the rest of the
	// admin calls use it.
	var access string
	r.admin(http.MethodGet, "/api/user/token", nil, &access).shows["access token"] = "body"
	if access == "" {
		t.Fatal("no access token")
	}
	secrets["access token"] = access
	r.access = access

	// Prices, channels: one that works, one whose errors echo the key, one
	// that answers 401 with the key.
	const okModel, echoModel, authModel = "sec-ok", "sec-echo", "sec-401"
	r.admin(http.MethodPut, "/api/option/", map[string]string{"key": "ModelRatio",
		"value": mustJSON(t, map[string]float64{okModel: 1, echoModel: 1, authModel: 1})}, nil)
	up := newUpstream(t, behaviour{})
	echo := echoUpstream(t)
	channel := func(name, base, models string) int {
		var out struct {
			ID int `json:"id"`
		}
		r.admin(http.MethodPost, "/api/channel/", map[string]any{"name": name, "type": 8, "key": secrets["channel key"],
			"base_url": base, "models": models}, &out)
		return out.ID
	}
	channel("sec-ok", up.URL, okModel)
	echoID := channel("sec-echo", echo.URL, echoModel)
	channel("sec-401", echo.URL, authModel)

	// An API key, shown once by POST /api/token/.
	var key struct {
		ID  int    `json:"id"`
		Key string `json:"key"`
	}
	r.admin(http.MethodPost, "/api/token/", map[string]any{"name": "sec-key", "unlimited_quota": true,
		"expired_time": -1}, &key).shows["API key"] = "body"
	if !strings.HasPrefix(key.Key, "sk-") {
		t.Fatalf("API key %q", key.Key)
	}
	secrets["API key"] = key.Key

	// Redemption codes, shown once by POST /api/redemption/; one is redeemed
	// (with the session), then redeemed again, which fails.
	var codes []string
	r.admin(http.MethodPost, "/api/redemption/", map[string]any{"name": "sec", "quota": 1000, "count": 2},
		&codes).shows["redemption code"] = "body"
	if len(codes) != 2 {
		t.Fatalf("codes: %v", codes)
	}
	secrets["redemption code"], secrets["second redemption code"] = codes[0], codes[1]
	codes[1] = "" // the second is never used: it must not turn up anywhere either
	sessionHdr := []string{"Cookie", r.cookie, "New-Api-User", r.userID}
	for i, want := range []int{http.StatusOK, 0} {
		status, e := r.do(http.MethodPost, "/api/user/topup", []byte(mustJSON(t, map[string]string{"key": codes[0]})), sessionHdr...)
		_ = json.Unmarshal(e.body, &env)
		if (i == 0) != (status == want && env.Success) {
			t.Fatalf("redemption %d: %s: %s", i+1, e.what, e.body)
		}
	}
	r.do(http.MethodGet, "/api/user/self", nil, sessionHdr...)

	// Relay calls: a chat and a stream that work, the upstream's key echoed
	// in a 500 and a 401, a wrong key on each dialect.
	bearer := []string{"Authorization", "Bearer " + secrets["API key"]}
	for _, c := range []struct {
		model  string
		stream bool
		status int
	}{
		{okModel, false, 200}, {okModel, true, 200}, {echoModel, false, 502}, {echoModel, true, 502}, {authModel, false, 502},
	} {
		if status, e := r.do(http.MethodPost, "/v1/chat/completions", chatBody(c.model, c.stream), bearer...); status != c.status {
			t.Fatalf("%s: %s", e.what, e.body)
		}
	}
	wrong := secrets["API key"] + "x"
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, "/v1/chat/completions"}, {http.MethodPost, "/v1/embeddings"}, {http.MethodGet, "/v1/models"},
	} {
		if status, e := r.do(c.method, c.path, chatBody(okModel, false), "Authorization", "Bearer "+wrong); status != http.StatusUnauthorized {
			t.Fatalf("wrong key: %s: %s", e.what, e.body)
		}
	}
	if status, e := r.do(http.MethodGet, "/api/user/self", nil, "Authorization", "Bearer "+access+"x"); status != http.StatusUnauthorized {
		t.Fatalf("wrong access token: %s: %s", e.what, e.body)
	}

	// Admin views that could echo a secret: channel tests and model lists
	// against the echoing upstream, and every list.
	id := strconv.Itoa(echoID)
	r.do(http.MethodGet, "/api/channel/test/"+id, nil, "Authorization", "Bearer "+access)
	r.do(http.MethodGet, "/api/channel/fetch_models/"+id, nil, "Authorization", "Bearer "+access)
	r.do(http.MethodPost, "/api/channel/fetch_models", []byte(mustJSON(t, map[string]any{"type": 8,
		"base_url": echo.URL, "key": secrets["channel key"]})), "Authorization", "Bearer "+access)
	for _, path := range []string{"/api/channel/", "/api/channel/" + id, "/api/token/", "/api/token/" + strconv.Itoa(key.ID),
		"/api/redemption/", "/api/log/?p=1&page_size=100", "/api/user/", "/api/user/self", "/api/option/"} {
		r.admin(http.MethodGet, path, nil, nil)
	}
	r.do(http.MethodGet, "/api/user/logout", nil, sessionHdr...)

	s.Stop(t)
	scanForSecrets(t, r.all, s.output.String(), secrets)
	scanDatabase(t, s.DataDir, secrets)
}

// scanForSecrets fails for each secret found outside the one place that
// shows it.
func scanForSecrets(t *testing.T, all []*exchange, logs string, secrets map[string]string) {
	t.Helper()
	shown := map[string]bool{}
	for name, secret := range secrets {
		for _, e := range all {
			var headers bytes.Buffer
			_ = e.header.Write(&headers)
			for part, text := range map[string][]byte{"body": e.body, "header": headers.Bytes()} {
				if !bytes.Contains(text, []byte(secret)) {
					continue
				}
				if base := strings.SplitN(name, " ", 2); e.shows[name] == part || (base[0] == "second" && e.shows[base[1]] == part) {
					shown[name] = true
					continue
				}
				t.Errorf("the %s appears in the %s of %s: %.400s", name, part, e.what, text)
			}
		}
		if strings.Contains(logs, secret) {
			i := strings.Index(logs, secret)
			start, end := max(0, strings.LastIndexByte(logs[:i], '\n')+1), i+len(secret)
			if j := strings.IndexByte(logs[end:], '\n'); j >= 0 {
				end += j
			}
			t.Errorf("the %s appears in the log: %s", name, logs[start:end])
		}
	}
	for _, name := range []string{"session cookie", "access token", "API key", "redemption code"} {
		if !shown[name] {
			t.Errorf("the %s was never shown where it should be", name)
		}
	}
}

// scanDatabase reads the SQLite files (main file, WAL, shared memory) and
// fails for any secret stored in clear.
func scanDatabase(t *testing.T, dir string, secrets map[string]string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "sluice.db*"))
	if len(files) == 0 {
		t.Fatalf("no database file in %s", dir)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for name, secret := range secrets {
			if name == "session cookie" {
				continue // sessions are signed, not stored
			}
			needles := []string{secret}
			if rest, ok := strings.CutPrefix(secret, "sk-"); ok {
				needles = append(needles, rest) // the secret part without its prefix
			}
			for _, n := range needles {
				if bytes.Contains(raw, []byte(n)) {
					t.Errorf("%s holds the %s in clear", filepath.Base(f), name)
				}
			}
		}
	}
}

// TestSSRFGuard checks the upstream address policy through the binary:
// metadata addresses are refused at save time whatever the option says;
// with AllowPrivateUpstreams off, loopback base URLs are refused at save
// time, and at dial time for a host name or a channel saved earlier — the
// client sees a plain 502 naming no address. Header injection through a
// channel's headers is refused too.
func TestSSRFGuard(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, behaviour{})
	s := startSluice(t, options{})
	const model = "ssrf-model"
	s.setPrices(t, model, "ssrf-named")
	s.createChannel(t, channelSpec{Name: "loopback", BaseURL: up.URL, Models: model})
	port := strings.TrimPrefix(up.URL, "http://127.0.0.1:")
	s.createChannel(t, channelSpec{Name: "named", BaseURL: "http://localhost:" + port, Models: "ssrf-named"})
	key := s.createKey(t, keySpec{UnlimitedQuota: true}).Secret

	createStatus := func(c map[string]any) (int, envelope) {
		c["type"], c["key"] = 8, upstreamKey
		if c["models"] == nil {
			c["models"] = model
		}
		if c["name"] == nil {
			c["name"] = "c-" + randomString(6)
		}
		return s.call(t, s.Access, http.MethodPost, "/api/channel/", c)
	}
	refused := func(c map[string]any, want string) {
		t.Helper()
		status, env := createStatus(c)
		if status != http.StatusBadRequest || !strings.Contains(env.Message, want) {
			t.Errorf("channel %v: status %d %q, want 400 containing %q", c, status, env.Message, want)
		}
	}
	chat := func(model string) (int, []byte) {
		resp := s.post(t, t.Context(), "/v1/chat/completions", key, bytes.NewReader(chatBody(model, false)))
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}

	// Always refused, whatever the option.
	for _, base := range []string{"http://169.254.169.254/latest/meta-data", "http://[fd00:ec2::254]",
		"http://100.100.100.200", "http://[::ffff:169.254.169.254]", "http://0.0.0.0:" + port} {
		refused(map[string]any{"base_url": base}, "refused by the upstream address policy")
	}

	// Option off: loopback and private literals refused at save time…
	s.setOption(t, "AllowPrivateUpstreams", "false")
	for _, base := range []string{up.URL, "http://10.0.0.1:8000", "http://[::1]:" + port} {
		refused(map[string]any{"base_url": base}, "AllowPrivateUpstreams")
	}
	status, env := s.call(t, s.Access, http.MethodPost, "/api/channel/fetch_models",
		map[string]any{"type": 8, "key": upstreamKey, "base_url": up.URL})
	if status != http.StatusBadRequest || !strings.Contains(env.Message, "AllowPrivateUpstreams") {
		t.Errorf("fetch_models for an unsaved loopback channel: %d %q", status, env.Message)
	}
	// …and at dial time: a channel saved while allowed, and a host name.
	before := len(up.Calls())
	for _, m := range []string{model, "ssrf-named"} {
		status, body := chat(m)
		if status != http.StatusBadGateway {
			t.Fatalf("%s with AllowPrivateUpstreams off: %d %s", m, status, body)
		}
		checkOpenAIError(t, body, "upstream_error", up)
		if bytes.Contains(body, []byte("localhost")) {
			t.Errorf("the client saw the upstream host: %s", body)
		}
	}
	if n := len(up.Calls()) - before; n != 0 {
		t.Errorf("the upstream received %d calls with AllowPrivateUpstreams off", n)
	}

	// Option back on: the same channels work.
	s.setOption(t, "AllowPrivateUpstreams", "true")
	for _, m := range []string{model, "ssrf-named"} {
		if status, body := chat(m); status != http.StatusOK {
			t.Fatalf("%s with AllowPrivateUpstreams on: %d %s", m, status, body)
		}
	}

	// Header injection.
	for _, h := range []struct{ headers, want string }{
		{`{"X-Trace":"a\r\nX-Injected: 1"}`, `"X-Trace"`},
		{`{"X-Trace":"a\u0000"}`, `"X-Trace"`},
		{`{"X-Bad Name":"v"}`, `"X-Bad Name"`},
		{`{"Transfer-Encoding":"chunked"}`, `"Transfer-Encoding"`},
		{`{"content-length":"1"}`, `"content-length"`},
		{`{"Host":"metadata.google.internal"}`, `"Host"`},
		{`{"Connection":"close"}`, `"Connection"`},
		{`{"Proxy-Authorization":"Basic eA=="}`, `"Proxy-Authorization"`},
	} {
		refused(map[string]any{"base_url": up.URL, "headers": h.headers}, h.want)
	}
	// Overriding Authorization is allowed: some providers need their own scheme.
	status, env = createStatus(map[string]any{"name": "custom-auth", "base_url": up.URL,
		"headers": `{"Authorization":"Token custom-scheme","X-Title":"sluice"}`, "models": "ssrf-auth"})
	if status != http.StatusOK {
		t.Fatalf("custom Authorization header refused: %d %s", status, env.Message)
	}
	s.setPrices(t, model, "ssrf-named", "ssrf-auth")
	if status, body := chat("ssrf-auth"); status != http.StatusOK {
		t.Fatalf("chat through the custom-auth channel: %d %s", status, body)
	}
	call := up.lastCall(t)
	if got := call.Header.Get("Authorization"); got != "Token custom-scheme" || call.Header.Get("X-Title") != "sluice" {
		t.Errorf("the upstream got Authorization %q, X-Title %q", got, call.Header.Get("X-Title"))
	}
}
