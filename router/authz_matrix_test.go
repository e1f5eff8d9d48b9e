package router_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"sluice/common"
	"sluice/constant"
	"sluice/internal/apitest"
	"sluice/router"
)

// Minimum roles of the authorisation matrix. rolePublic routes take no
// credentials; roleKey routes take an API key (sk-…), never an admin
// credential; roleMetrics is GET /metrics, guarded by METRICS_TOKEN alone.
const (
	rolePublic  = 0
	roleKey     = -1
	roleMetrics = -2
)

// authzRoute is one row of the matrix: the least role that may call the
// route and, for routes whose call spends the caller's credentials
// (rotating its access token, deleting the account), fresh says each
// caller gets a throwaway account of its role.
type authzRoute struct {
	role  int
	fresh bool
	// format of a /v1 or /v1beta error: "openai", "anthropic" or "gemini".
	format string
	// ownRule is a role the handler itself refuses with 403 by a rule of
	// its own (not the role gate), such as root not deleting itself.
	ownRule int
}

// authzMatrix lists every route of the engine by "METHOD path". A route the
// router registers but this table does not name fails the test, so a new
// route cannot ship without someone deciding who may call it.
var authzMatrix = map[string]authzRoute{
	// Public: the status probe, first-run setup, login, the pricing page.
	"GET /api/status":       {role: rolePublic},
	"GET /api/setup":        {role: rolePublic},
	"POST /api/setup":       {role: rolePublic},
	"POST /api/user/login":  {role: rolePublic},
	"GET /api/user/logout":  {role: rolePublic, fresh: true}, // ends whatever session it is given; harmless without one
	"GET /api/pricing":      {role: rolePublic},
	"GET /api/ratio_config": {role: rolePublic}, // while ExposeRatioEnabled (switched on below)
	// CORS preflights: headers and 204 only, before any key is asked for.
	"OPTIONS /v1/*path":     {role: rolePublic},
	"OPTIONS /v1beta/*path": {role: rolePublic},

	// A common user's own account, keys, logs and usage.
	"GET /api/user/self":        {role: constant.RoleCommon},
	"PUT /api/user/self":        {role: constant.RoleCommon},
	"DELETE /api/user/self":     {role: constant.RoleCommon, fresh: true, ownRule: constant.RoleRoot}, // root cannot delete itself
	"GET /api/user/self/groups": {role: constant.RoleCommon},
	"GET /api/user/token":       {role: constant.RoleCommon, fresh: true}, // rotates the caller's access token
	"POST /api/user/topup":      {role: constant.RoleCommon},
	"GET /api/token/":           {role: constant.RoleCommon},
	"GET /api/token/:id":        {role: constant.RoleCommon},
	"POST /api/token/":          {role: constant.RoleCommon},
	"PUT /api/token/":           {role: constant.RoleCommon},
	"DELETE /api/token/:id":     {role: constant.RoleCommon},
	"GET /api/log/self":         {role: constant.RoleCommon},
	"GET /api/log/self/stat":    {role: constant.RoleCommon},
	"GET /api/data/self":        {role: constant.RoleCommon},

	// Admin: channels, every user's logs, users, redemption codes, usage.
	"GET /api/channel/":                 {role: constant.RoleAdmin},
	"GET /api/channel/:id":              {role: constant.RoleAdmin},
	"POST /api/channel/":                {role: constant.RoleAdmin},
	"PUT /api/channel/":                 {role: constant.RoleAdmin},
	"DELETE /api/channel/:id":           {role: constant.RoleAdmin},
	"GET /api/channel/test":             {role: constant.RoleAdmin},
	"GET /api/channel/test/:id":         {role: constant.RoleAdmin},
	"GET /api/channel/fetch_models/:id": {role: constant.RoleAdmin},
	"POST /api/channel/fetch_models":    {role: constant.RoleAdmin},
	"POST /api/channel/tag/disabled":    {role: constant.RoleAdmin},
	"POST /api/channel/tag/enabled":     {role: constant.RoleAdmin},
	"PUT /api/channel/tag":              {role: constant.RoleAdmin},
	"GET /api/channel/search":           {role: constant.RoleAdmin},
	"GET /api/channel/models":           {role: constant.RoleAdmin},
	"GET /api/channel/models_enabled":   {role: constant.RoleAdmin},
	"GET /api/log/":                     {role: constant.RoleAdmin},
	"GET /api/log/stat":                 {role: constant.RoleAdmin},
	"DELETE /api/log/":                  {role: constant.RoleAdmin},
	"GET /api/data/":                    {role: constant.RoleAdmin},
	"GET /api/user/":                    {role: constant.RoleAdmin},
	"GET /api/user/search":              {role: constant.RoleAdmin},
	"GET /api/user/:id":                 {role: constant.RoleAdmin},
	"POST /api/user/":                   {role: constant.RoleAdmin},
	"PUT /api/user/":                    {role: constant.RoleAdmin},
	"DELETE /api/user/:id":              {role: constant.RoleAdmin},
	"POST /api/user/manage":             {role: constant.RoleAdmin},
	"GET /api/group/":                   {role: constant.RoleAdmin},
	"GET /api/redemption/":              {role: constant.RoleAdmin},
	"GET /api/redemption/search":        {role: constant.RoleAdmin},
	"GET /api/redemption/:id":           {role: constant.RoleAdmin},
	"POST /api/redemption/":             {role: constant.RoleAdmin},
	"PUT /api/redemption/":              {role: constant.RoleAdmin},
	"DELETE /api/redemption/invalid":    {role: constant.RoleAdmin},
	"DELETE /api/redemption/:id":        {role: constant.RoleAdmin},
	"GET /api/option/":                  {role: constant.RoleRoot},
	"PUT /api/option/":                  {role: constant.RoleRoot},
	"GET /v1/models":                    {role: roleKey, format: "openai"},
	"GET /v1/models/:model":             {role: roleKey, format: "openai"},
	"POST /v1/chat/completions":         {role: roleKey, format: "openai"},
	"POST /v1/completions":              {role: roleKey, format: "openai"},
	"POST /v1/embeddings":               {role: roleKey, format: "openai"},
	"POST /v1/responses":                {role: roleKey, format: "openai"},
	"POST /v1/images/generations":       {role: roleKey, format: "openai"},
	"POST /v1/images/edits":             {role: roleKey, format: "openai"},
	"POST /v1/audio/speech":             {role: roleKey, format: "openai"},
	"POST /v1/audio/transcriptions":     {role: roleKey, format: "openai"},
	"POST /v1/audio/translations":       {role: roleKey, format: "openai"},
	"POST /v1/moderations":              {role: roleKey, format: "openai"},
	"POST /v1/rerank":                   {role: roleKey, format: "openai"},
	"GET /v1/realtime":                  {role: roleKey, format: "openai"}, // refused at the WebSocket upgrade
	"POST /v1/messages":                 {role: roleKey, format: "anthropic"},
	"POST /v1beta/models/*action":       {role: roleKey, format: "gemini"},
	"GET /metrics":                      {role: roleMetrics},
}

// concretePath fills a route pattern's parameters with values that name
// nothing: a sufficient caller then gets 404 or 400, never a side effect
// on a real row.
func concretePath(pattern string) string {
	parts := strings.Split(pattern, "/")
	for i, p := range parts {
		switch {
		case p == ":model":
			parts[i] = "no-such-model"
		case strings.HasPrefix(p, ":"):
			parts[i] = "987654"
		case p == "*action":
			parts[i] = "no-such-model:generateContent"
		}
	}
	return strings.Join(parts, "/")
}

// TestAuthorisationMatrix calls every route the engine registers with no
// credentials, a common user's, an admin's and root's access token, and
// checks the role rule of CONTRACT.md: 401 without credentials, 403 below
// the route's role, anything but 401/403 at or above it. Relay routes must
// refuse a call without an API key (and an admin access token in its place)
// with 401 in their own error format; /metrics opens to its token only.
func TestAuthorisationMatrix(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	engine, ok := s.Config.Handler.(*gin.Engine)
	if !ok {
		t.Fatalf("apitest's handler is a %T, not the gin engine", s.Config.Handler)
	}
	// main.go mounts /metrics on the same engine; do it here so the walk
	// covers it. No request has reached the engine yet.
	const metricsToken = "metrics-token-for-the-matrix"
	router.MountMetrics(engine, router.MetricsConfig{Enabled: true, Token: metricsToken})

	if st, env := s.Do(t, "PUT", "/api/option/", s.RootToken, map[string]string{"key": "ExposeRatioEnabled", "value": "true"}); st != 200 || !env.Success {
		t.Fatalf("enable ExposeRatioEnabled: %d %s", st, env.Message)
	}
	_, userTok := s.NewUser(t, "matrix-user", constant.RoleCommon, 1000)
	_, adminTok := s.NewUser(t, "matrix-admin", constant.RoleAdmin, 1000)
	callers := []struct {
		name string
		role int
		tok  string
	}{
		{"common user", constant.RoleCommon, userTok},
		{"admin", constant.RoleAdmin, adminTok},
		{"root", constant.RoleRoot, s.RootToken},
	}
	freshToken := func(role int) string {
		_, tok := s.NewUser(t, "fresh-"+strings.ToLower(common.RandomString(10)), role, 1000)
		return tok
	}

	seen := map[string]bool{}
	routes := engine.Routes()
	slices.SortFunc(routes, func(a, b gin.RouteInfo) int { return strings.Compare(a.Path+a.Method, b.Path+b.Method) })
	for _, r := range routes {
		id := r.Method + " " + r.Path
		seen[id] = true
		want, ok := authzMatrix[id]
		if !ok {
			t.Errorf("route %s is not in the authorisation matrix: add it with its minimum role", id)
			continue
		}
		path := concretePath(r.Path)
		t.Run(id, func(t *testing.T) {
			body := any(nil)
			if r.Method != http.MethodGet && r.Method != http.MethodDelete {
				body = "{}"
			}
			switch want.role {
			case roleKey:
				checkRelayRefusal(t, s, r.Method, path, "", want.format)
				// An admin access token is not an API key.
				checkRelayRefusal(t, s, r.Method, path, s.RootToken, want.format)
				return
			case roleMetrics:
				for _, tok := range []string{"", userTok, s.RootToken} {
					if st, _ := s.Raw(t, r.Method, path, tok, nil); st != http.StatusUnauthorized {
						t.Errorf("with credentials %q: %d, want 401 (only METRICS_TOKEN opens /metrics)", redact(tok), st)
					}
				}
				if st, _ := s.Raw(t, r.Method, path, metricsToken, nil); st != http.StatusOK {
					t.Errorf("with METRICS_TOKEN: %d, want 200", st)
				}
				return
			}

			st, raw := s.Raw(t, r.Method, path, "", body)
			switch {
			case want.role == rolePublic && (st == http.StatusUnauthorized || st == http.StatusForbidden):
				t.Errorf("no credentials on a public route: %d %s", st, raw)
			case want.role != rolePublic && st != http.StatusUnauthorized:
				t.Errorf("no credentials: %d, want 401: %s", st, raw)
			}
			for _, c := range callers {
				tok := c.tok
				if want.fresh {
					tok = freshToken(c.role)
				}
				st, raw := s.Raw(t, r.Method, path, tok, body)
				switch {
				case c.role < want.role && st != http.StatusForbidden:
					t.Errorf("%s (role %d) on a role-%d route: %d, want 403: %s", c.name, c.role, want.role, st, raw)
				case c.role == want.ownRule && st == http.StatusForbidden:
					if strings.Contains(string(raw), "insufficient privileges") {
						t.Errorf("%s: refused by the role gate, not by the handler's own rule: %s", c.name, raw)
					}
				case c.role >= want.role && (st == http.StatusUnauthorized || st == http.StatusForbidden):
					t.Errorf("%s (role %d) on a role-%d route: %d, want neither 401 nor 403: %s", c.name, c.role, want.role, st, raw)
				}
			}
		})
	}
	for id := range authzMatrix {
		if !seen[id] {
			t.Errorf("the matrix names %s, which the engine does not register: remove or fix the row", id)
		}
	}
}

// checkRelayRefusal asserts a relay route answers 401 in its own format.
func checkRelayRefusal(t *testing.T, s *apitest.Server, method, path, tok, format string) {
	t.Helper()
	st, raw := s.Raw(t, method, path, tok, `{"model":"no-such-model","messages":[]}`)
	if st != http.StatusUnauthorized {
		t.Errorf("credentials %q: %d, want 401: %s", redact(tok), st, raw)
		return
	}
	var body struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
			Code    any    `json:"code"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("401 body is not JSON: %s", raw)
	}
	var ok bool
	switch format {
	case "openai":
		ok = body.Error.Message != "" && body.Error.Type != "" && body.Error.Code == "invalid_api_key"
	case "anthropic":
		ok = body.Type == "error" && body.Error.Type == "authentication_error" && body.Error.Message != ""
	case "gemini":
		code, _ := body.Error.Code.(float64)
		ok = code == http.StatusUnauthorized && body.Error.Status == "UNAUTHENTICATED" && body.Error.Message != ""
	}
	if !ok {
		t.Errorf("credentials %q: the 401 is not in %s's error format: %s", redact(tok), format, raw)
	}
}

func redact(tok string) string {
	if len(tok) > 8 {
		return tok[:8] + "…"
	}
	return tok
}
