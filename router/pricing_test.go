package router_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sluice/common"
	"sluice/constant"
	"sluice/internal/apitest"
	"sluice/model"
	"sluice/setting/ratio_setting"
)

type prRow struct {
	ModelName       string   `json:"model_name"`
	QuotaType       int      `json:"quota_type"`
	ModelRatio      float64  `json:"model_ratio"`
	ModelPrice      float64  `json:"model_price"`
	CompletionRatio float64  `json:"completion_ratio"`
	CacheRatio      float64  `json:"cache_ratio"`
	EnableGroups    []string `json:"enable_groups"`
}

type prAnswer struct {
	Success     bool               `json:"success"`
	Message     string             `json:"message"`
	Data        []prRow            `json:"data"`
	GroupRatio  map[string]float64 `json:"group_ratio"`
	UsableGroup map[string]string  `json:"usable_group"`
	// present tells whether usable_group was in the answer at all.
	present map[string]json.RawMessage
}

func prGet(t *testing.T, s *apitest.Server, token string) prAnswer {
	t.Helper()
	status, raw := s.Raw(t, "GET", "/api/pricing", token, nil)
	if status != http.StatusOK {
		t.Fatalf("GET /api/pricing: %d %s", status, raw)
	}
	var a prAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("pricing answer %s: %v", raw, err)
	}
	_ = json.Unmarshal(raw, &a.present)
	if !a.Success {
		t.Fatalf("pricing answer not successful: %s", raw)
	}
	return a
}

func (a prAnswer) names() []string {
	out := make([]string, len(a.Data))
	for i, r := range a.Data {
		out[i] = r.ModelName
	}
	return out
}

func (a prAnswer) row(t *testing.T, name string) prRow {
	t.Helper()
	for _, r := range a.Data {
		if r.ModelName == name {
			return r
		}
	}
	t.Fatalf("no pricing row for %s in %v", name, a.names())
	return prRow{}
}

// prUser creates a user of role in group and returns an access token for
// it. Unlike apitest's NewUser it hashes no password (bcrypt costs seconds
// under -race); the user cannot log in with a password, only with the token.
func prUser(t *testing.T, s *apitest.Server, name string, role int, group string) string {
	t.Helper()
	u := &model.User{Username: name, Password: "!no-password", Role: role, Status: constant.UserStatusEnabled, Group: group}
	if err := s.Store.CreateUser(u); err != nil {
		t.Fatal(err)
	}
	tok := "access-" + name + "-" + common.RandomString(16)
	if err := s.Store.SetAccessTokenHash(u.ID, common.HashSecret(tok)); err != nil {
		t.Fatal(err)
	}
	s.Cache.PutUser(u)
	return tok
}

// prChannel creates a channel through the admin API.
func prChannel(t *testing.T, s *apitest.Server, ch map[string]any) int {
	t.Helper()
	base := map[string]any{"type": 1, "name": "c", "key": "sk-pricing-test", "base_url": "http://upstream.invalid"}
	for k, v := range ch {
		base[k] = v
	}
	status, env := s.Do(t, "POST", "/api/channel/", s.RootToken, base)
	if status != http.StatusOK || !env.Success {
		t.Fatalf("create channel %v: %d %s", ch, status, env.Message)
	}
	var out struct {
		ID int `json:"id"`
	}
	apitest.Decode(t, env, &out)
	return out.ID
}

// TestPricing reads the compiled-in ratios (no test in this package may change them while parallel tests run).
func TestPricing(t *testing.T) {
	t.Parallel()
	s := apitest.New(t, apitest.Options{})
	prChannel(t, s, map[string]any{"models": "gpt-4o,dall-e-3,pr-unpriced", "group": "default,vip"})
	prChannel(t, s, map[string]any{"models": "gpt-4o-mini", "group": "vip"})
	prChannel(t, s, map[string]any{"models": "o3", "group": "default", "status": constant.ChannelStatusManuallyDisabled})

	commonTok := prUser(t, s, "pr-common", constant.RoleCommon, "default")
	vip := prUser(t, s, "pr-vip", constant.RoleCommon, "vip")
	admin := prUser(t, s, "pr-admin", constant.RoleAdmin, "default")

	t.Run("anonymous sees every served model", func(t *testing.T) {
		a := prGet(t, s, "")
		if want := []string{"dall-e-3", "gpt-4o", "gpt-4o-mini", "pr-unpriced"}; !slices.Equal(a.names(), want) {
			t.Fatalf("models = %v, want %v (a model only a disabled channel serves is not listed)", a.names(), want)
		}
		if _, ok := a.present["usable_group"]; ok {
			t.Error("anonymous answer carries usable_group")
		}
		r := a.row(t, "gpt-4o")
		if r.QuotaType != 0 || r.ModelRatio != 1.25 || r.CompletionRatio != 4 || r.CacheRatio != 0.5 || r.ModelPrice != 0 {
			t.Errorf("gpt-4o row = %+v", r)
		}
		if !slices.Equal(r.EnableGroups, []string{"default", "vip"}) {
			t.Errorf("gpt-4o enable_groups = %v", r.EnableGroups)
		}
		if r := a.row(t, "dall-e-3"); r.QuotaType != 1 || r.ModelPrice != 0.04 {
			t.Errorf("dall-e-3 row = %+v, want a fixed price of 0.04", r)
		}
		if r := a.row(t, "gpt-4o-mini"); !slices.Equal(r.EnableGroups, []string{"vip"}) {
			t.Errorf("gpt-4o-mini enable_groups = %v", r.EnableGroups)
		}
		if r := a.row(t, "pr-unpriced"); r.QuotaType != 0 || r.ModelRatio != 0 || r.ModelPrice != 0 {
			t.Errorf("unpriced row = %+v", r)
		}
		for _, g := range []string{"default", "vip", "svip"} {
			if _, ok := a.GroupRatio[g]; !ok {
				t.Errorf("group_ratio lacks %s: %v", g, a.GroupRatio)
			}
		}
	})

	t.Run("a bad token is treated as anonymous", func(t *testing.T) {
		a := prGet(t, s, "not-a-token")
		if _, ok := a.present["usable_group"]; ok || len(a.Data) != 4 {
			t.Fatalf("bad token answer: %d rows, usable_group present %v", len(a.Data), ok)
		}
	})

	t.Run("a user sees their group's models", func(t *testing.T) {
		a := prGet(t, s, commonTok)
		if want := []string{"dall-e-3", "gpt-4o", "pr-unpriced"}; !slices.Equal(a.names(), want) {
			t.Errorf("default user models = %v, want %v", a.names(), want)
		}
		if len(a.UsableGroup) != 1 || a.UsableGroup["default"] == "" {
			t.Errorf("default user usable_group = %v", a.UsableGroup)
		}
		a = prGet(t, s, vip)
		if want := []string{"dall-e-3", "gpt-4o", "gpt-4o-mini", "pr-unpriced"}; !slices.Equal(a.names(), want) {
			t.Errorf("vip user models = %v, want %v", a.names(), want)
		}
		if len(a.UsableGroup) != 1 || a.UsableGroup["vip"] == "" {
			t.Errorf("vip user usable_group = %v", a.UsableGroup)
		}
	})

	t.Run("an admin may use every group", func(t *testing.T) {
		a := prGet(t, s, admin)
		if len(a.Data) != 4 {
			t.Errorf("admin sees %v", a.names())
		}
		for _, g := range []string{"default", "vip", "svip"} {
			if _, ok := a.UsableGroup[g]; !ok {
				t.Errorf("admin usable_group lacks %s: %v", g, a.UsableGroup)
			}
		}
	})
}

// TestRatioConfig changes the process-wide ratios and ExposeRatioEnabled, so it must not run in parallel.
func TestRatioConfig(t *testing.T) {
	s := apitest.New(t, apitest.Options{})
	savedRatios := ratio_setting.ModelRatioJSON()
	t.Cleanup(func() {
		if err := ratio_setting.SetModelRatio(savedRatios); err != nil {
			t.Error(err)
		}
		ratio_setting.SetExposeRatioEnabled(false)
	})
	commonTok := prUser(t, s, "rc-common", constant.RoleCommon, "default")

	status, env := s.Do(t, "GET", "/api/ratio_config", "", nil)
	if status != http.StatusForbidden || env.Success || env.Message == "" {
		t.Fatalf("while not exposed: %d %+v", status, env)
	}
	if status, _ := s.Do(t, "GET", "/api/ratio_config", commonTok, nil); status != http.StatusForbidden {
		t.Fatalf("while not exposed, logged in: %d", status)
	}

	if st, env := s.Do(t, "PUT", "/api/option/", s.RootToken, map[string]any{"key": "ExposeRatioEnabled", "value": "true"}); st != 200 {
		t.Fatalf("enable exposure: %d %s", st, env.Message)
	}
	var data map[string]map[string]float64
	status, env = s.Do(t, "GET", "/api/ratio_config", "", nil)
	if status != http.StatusOK || !env.Success {
		t.Fatalf("exposed: %d %+v", status, env)
	}
	apitest.Decode(t, env, &data)
	if len(data) != 4 || data["model_ratio"]["gpt-4o"] != 1.25 || data["completion_ratio"]["gpt-4o"] != 4 ||
		data["cache_ratio"]["gpt-4o"] != 0.5 || data["model_price"]["dall-e-3"] != 0.04 {
		t.Fatalf("ratio_config data = %v", env.Data)
	}
	if _, ok := data["group_ratio"]; ok {
		t.Error("group ratios are not part of the public configuration")
	}

	// A change is visible at once, not after the cache's 30 s.
	st, env := s.Do(t, "PUT", "/api/option/", s.RootToken, map[string]any{"key": "ModelRatio", "value": `{"rc-model": 2.5}`})
	if st != 200 {
		t.Fatalf("set ModelRatio: %d %s", st, env.Message)
	}
	_, env = s.Do(t, "GET", "/api/ratio_config", "", nil)
	apitest.Decode(t, env, &data)
	if len(data["model_ratio"]) != 1 || data["model_ratio"]["rc-model"] != 2.5 {
		t.Fatalf("model_ratio after a change = %v", data["model_ratio"])
	}

	// Many concurrent anonymous readers all get the same, whole answer.
	results := make(chan string, 50)
	for range 50 {
		go func() {
			_, raw := s.Raw(t, "GET", "/api/ratio_config", "", nil)
			results <- string(raw)
		}()
	}
	first := ""
	for i := range 50 {
		r := <-results
		if i == 0 {
			first = r
		}
		if r != first || !strings.Contains(r, `"rc-model":2.5`) {
			t.Fatalf("reader %s got %s", strconv.Itoa(i), r)
		}
	}
}
