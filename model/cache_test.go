package model_test

import (
	"errors"
	"math"
	"net/netip"
	"slices"
	"testing"

	"sluice/common"
	"sluice/internal/testdb"
	"sluice/internal/testenv"
	"sluice/model"
)

func loadedCache(t *testing.T, s *model.Store) *model.Cache {
	t.Helper()
	c := model.NewCache(s)
	if err := c.Load(); err != nil {
		t.Fatalf("Cache.Load: %v", err)
	}
	return c
}

// pick selects n times and counts the channel ids returned.
func pick(t *testing.T, c *model.Cache, group, mdl string, exclude []int, n int) map[int]int {
	t.Helper()
	counts := map[int]int{}
	for range n {
		ch, err := c.SelectChannel(group, mdl, exclude)
		if err != nil {
			t.Fatalf("SelectChannel(%s, %s, %v): %v", group, mdl, exclude, err)
		}
		counts[ch.ID]++
	}
	return counts
}

func TestCacheLoadChannelView(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		ch := mustCreateChannel(t, s, model.Channel{Name: "view", Type: 14, BaseURL: "https://up.example", Models: "a, b",
			Group: "default,vip", ModelMapping: `{"a":"a-upstream"}`, Headers: `{"X-One":"1"}`, Priority: 2, Weight: 3,
			Tag: "t", AutoBan: 1}, "sk-plain")
		c := loadedCache(t, s)
		v := c.ChannelByID(ch.ID)
		if v == nil {
			t.Fatal("channel not cached")
		}
		if v.Key != "sk-plain" || v.Type != 14 || v.BaseURL != "https://up.example" || !v.AutoBan || v.Weight != 3 ||
			v.Priority != 2 || v.Tag != "t" || !slices.Equal(v.Models, []string{"a", "b"}) || v.Headers["X-One"] != "1" {
			t.Errorf("view = %+v", v)
		}
		if v.MapModel("a") != "a-upstream" || v.MapModel("b") != "b" {
			t.Errorf("MapModel: a→%q b→%q", v.MapModel("a"), v.MapModel("b"))
		}
		if got := c.ModelsForGroup("vip"); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("ModelsForGroup(vip) = %v", got)
		}
		if got := c.AllModels(); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("AllModels = %v", got)
		}
		// A row whose ciphertext cannot be read is left out, not served
		// with a garbage key.
		if err := s.DB.Exec("UPDATE channels SET "+testdb.Quote(s.DB, "key")+" = ? WHERE id = ?", "enc:v1:AAAA", ch.ID).Error; err != nil {
			t.Fatal(err)
		}
		if err := c.ReloadChannels(); err != nil {
			t.Fatal(err)
		}
		if c.ChannelByID(ch.ID) != nil || c.HasModel("default", "a") {
			t.Errorf("channel with an unreadable key is still served")
		}
	})
}

func TestSelectChannel(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		m := testenv.Name("model-")
		mk := func(prio int64, weight uint, status int) int {
			return mustCreateChannel(t, s, model.Channel{Models: m, Group: "default", Priority: prio, Weight: weight, Status: status}, "k").ID
		}
		off := mk(20, 100, 2) // highest priority, but disabled
		a := mk(10, 1, 1)
		b := mk(10, 3, 1)
		c := mk(5, 1, 1)
		parked := mk(5, 0, 1)
		low := mk(1, 1, 1)
		c2 := loadedCache(t, s)

		// Weights 1:3 inside the top tier. 10000 draws: the standard
		// deviation of the count is about 43, so ±300 is a 7σ band.
		counts := pick(t, c2, "default", m, nil, 10000)
		if counts[a]+counts[b] != 10000 {
			t.Fatalf("picks outside the top tier: %v (off=%d a=%d b=%d)", counts, off, a, b)
		}
		if math.Abs(float64(counts[a])-2500) > 300 {
			t.Errorf("weight 1 channel picked %d/10000, want ≈2500", counts[a])
		}

		steps := []struct {
			name    string
			exclude []int
			want    []int // the only channels that may be returned
		}{
			{"one of the tier excluded", []int{a}, []int{b}},
			{"tier exhausted: next tier, positive weight first", []int{a, b}, []int{c}},
			{"weight 0 only when nothing else remains in its tier", []int{a, b, c}, []int{parked}},
			{"then the lowest tier", []int{a, b, c, parked}, []int{low}},
			{"unknown ids in exclude are harmless", []int{a, 9999}, []int{b}},
		}
		for _, st := range steps {
			got := pick(t, c2, "default", m, st.exclude, 200)
			for id := range got {
				if !slices.Contains(st.want, id) {
					t.Errorf("%s: returned %d, want one of %v (counts %v)", st.name, id, st.want, got)
				}
			}
		}
		if _, err := c2.SelectChannel("default", m, []int{a, b, c, parked, low}); !errors.Is(err, model.ErrChannelsExhausted) {
			t.Errorf("everything excluded: err = %v, want ErrChannelsExhausted", err)
		}
		if _, err := c2.SelectChannel("default", testenv.Name("nope-"), nil); !errors.Is(err, model.ErrNoChannel) {
			t.Errorf("unserved model: err = %v, want ErrNoChannel", err)
		}
		if _, err := c2.SelectChannel("vip", m, nil); !errors.Is(err, model.ErrNoChannel) {
			t.Errorf("other group: err = %v, want ErrNoChannel", err)
		}

		// Disabling a channel and reloading takes it out at once.
		if err := s.SetChannelStatus(b, 3); err != nil {
			t.Fatal(err)
		}
		if err := c2.ReloadChannels(); err != nil {
			t.Fatal(err)
		}
		if got := pick(t, c2, "default", m, nil, 200); got[a] != 200 {
			t.Errorf("after disabling b: %v, want only a=%d", got, a)
		}
	})
}

func TestSelectChannelAllZeroWeights(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		m := testenv.Name("model-")
		x := mustCreateChannel(t, s, model.Channel{Models: m, Weight: 0}, "k").ID
		y := mustCreateChannel(t, s, model.Channel{Models: m, Weight: 0}, "k").ID
		c := loadedCache(t, s)
		// With every weight 0 the tier is chosen from uniformly.
		counts := pick(t, c, "default", m, nil, 2000)
		if counts[x]+counts[y] != 2000 || counts[x] < 800 || counts[y] < 800 {
			t.Errorf("all-zero tier counts %v, want both ≈1000", counts)
		}
		if got := pick(t, c, "default", m, []int{x}, 50); got[y] != 50 {
			t.Errorf("excluding x: %v", got)
		}
	})
}

func TestModelKnownVersusHasModel(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		served := testenv.Name("served-")
		parked := testenv.Name("parked-")
		mustCreateChannel(t, s, model.Channel{Models: served + "," + parked, Group: "default", Status: 2}, "k")
		mustCreateChannel(t, s, model.Channel{Models: served, Group: "default"}, "k")
		c := loadedCache(t, s)

		cases := []struct {
			group, model    string
			known, hasModel bool
		}{
			{"default", served, true, true},
			{"default", parked, true, false}, // listed, but only by a disabled channel: 503, not 404
			{"default", testenv.Name("none-"), false, false},
			{"vip", served, false, false},
		}
		for _, tc := range cases {
			if got := c.ModelKnown(tc.group, tc.model); got != tc.known {
				t.Errorf("ModelKnown(%s, %s) = %v, want %v", tc.group, tc.model, got, tc.known)
			}
			if got := c.HasModel(tc.group, tc.model); got != tc.hasModel {
				t.Errorf("HasModel(%s, %s) = %v, want %v", tc.group, tc.model, got, tc.hasModel)
			}
		}
		if _, err := c.SelectChannel("default", parked, nil); !errors.Is(err, model.ErrNoChannel) {
			t.Errorf("disabled-only model: err = %v, want ErrNoChannel", err)
		}
		if slices.Contains(c.ModelsForGroup("default"), parked) {
			t.Errorf("ModelsForGroup lists a model only a disabled channel serves")
		}
	})
}

func TestCacheKeepsLiveBalances(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		u := mustCreateUser(t, s, 1000)
		tok, secret := mustCreateToken(t, s, u.ID, 400, false)
		c := loadedCache(t, s)

		ue := c.UserEntry(u.ID)
		te := c.TokenByHash(common.HashSecret(secret))
		if ue == nil || te == nil || te != c.TokenEntryByID(tok.ID) {
			t.Fatalf("cache misses user %v or key %v", ue, te)
		}
		if ue.Quota.Load() != 1000 || te.Remain.Load() != 400 {
			t.Fatalf("initial balances %d/%d", ue.Quota.Load(), te.Remain.Load())
		}
		// Spend in memory (the batch writer has not flushed yet), then
		// change status and name in SQL and refresh.
		ue.Quota.Add(-300)
		te.Remain.Add(-100)
		if err := s.UpdateUserFields(u.ID, map[string]any{"status": 2, "group": "vip"}); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateTokenFields(tok.ID, map[string]any{"status": 2, "name": "renamed"}); err != nil {
			t.Fatal(err)
		}
		if err := c.Load(); err != nil {
			t.Fatal(err)
		}
		if c.UserEntry(u.ID) != ue || c.TokenEntryByID(tok.ID) != te {
			t.Fatalf("refresh replaced the live entries")
		}
		if ue.Quota.Load() != 700 || te.Remain.Load() != 300 {
			t.Errorf("refresh overwrote live balances: user %d (want 700), key %d (want 300)", ue.Quota.Load(), te.Remain.Load())
		}
		if ue.Info().Status != 2 || ue.Info().Group != "vip" || te.Info().Status != 2 || te.Info().Name != "renamed" {
			t.Errorf("refresh did not update status: user %+v, key %+v", ue.Info(), te.Info())
		}

		// The same through PutUser/PutToken (what the admin API calls).
		u.Quota, u.Status = 99999, 1
		if got := c.PutUser(u); got != ue || ue.Quota.Load() != 700 || ue.Info().Status != 1 {
			t.Errorf("PutUser: same entry %v, quota %d, status %d", got == ue, ue.Quota.Load(), ue.Info().Status)
		}
		tok.RemainQuota, tok.Status = 99999, 1
		if got := c.PutToken(tok); got != te || te.Remain.Load() != 300 || te.Info().Status != 1 {
			t.Errorf("PutToken: same entry %v, remain %d, status %d", got == te, te.Remain.Load(), te.Info().Status)
		}

		// A user or key the cache has not seen starts from SQL's balance.
		fresh := &model.User{ID: u.ID + 1000, Username: "new", Quota: 55, Status: 1}
		if e := c.PutUser(fresh); e.Quota.Load() != 55 || e.Info().Username != "new" {
			t.Errorf("new user entry: %d %+v", e.Quota.Load(), e.Info())
		}
		freshTok := &model.Token{ID: tok.ID + 1000, UserID: u.ID, KeyHash: common.HashSecret("sk-fresh"), RemainQuota: 66, Status: 1}
		if e := c.PutToken(freshTok); e.Remain.Load() != 66 || c.TokenByHash(common.HashSecret("sk-fresh")) != e {
			t.Errorf("new key entry: remain %d", e.Remain.Load())
		}
	})
}

func TestCacheRemovals(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		u := mustCreateUser(t, s, 10)
		gone := mustCreateUser(t, s, 10)
		tok, secret := mustCreateToken(t, s, u.ID, 1, false)
		tok2, secret2 := mustCreateToken(t, s, u.ID, 1, false)
		c := loadedCache(t, s)

		c.RemoveToken(tok.ID)
		if c.TokenByHash(common.HashSecret(secret)) != nil || c.TokenEntryByID(tok.ID) != nil {
			t.Errorf("removed key still cached")
		}
		if c.TokenByHash(common.HashSecret(secret2)) == nil {
			t.Errorf("RemoveToken removed another key")
		}
		c.RemoveToken(tok.ID) // idempotent
		c.RemoveUser(gone.ID)
		if c.UserEntry(gone.ID) != nil {
			t.Errorf("removed user still cached")
		}

		// A refresh drops what SQL no longer has (deleted key, soft-deleted user).
		if ok, err := s.DeleteToken(tok2.ID, u.ID); err != nil || !ok {
			t.Fatal(err)
		}
		if err := s.DB.Delete(&model.User{}, u.ID).Error; err != nil {
			t.Fatal(err)
		}
		if err := c.Load(); err != nil {
			t.Fatal(err)
		}
		if c.TokenByHash(common.HashSecret(secret2)) != nil || c.TokenEntryByID(tok2.ID) != nil {
			t.Errorf("key deleted in SQL survives a refresh")
		}
		if c.UserEntry(u.ID) != nil {
			t.Errorf("user deleted in SQL survives a refresh")
		}
		// gone was only removed from the cache; it is live in SQL, so the
		// refresh brings it back.
		if c.UserEntry(gone.ID) == nil {
			t.Errorf("live user not reloaded")
		}
	})
}

func TestParseAllowIPs(t *testing.T) {
	t.Parallel()
	p := netip.MustParsePrefix
	cases := []struct {
		name    string
		in      string
		want    []netip.Prefix
		invalid string // the entry the error must name
	}{
		{"empty", "", nil, ""},
		{"blank", " \n\r\n ", nil, ""},
		{"ipv4", "1.2.3.4", []netip.Prefix{p("1.2.3.4/32")}, ""},
		{"ipv6", "2001:db8::1", []netip.Prefix{p("2001:db8::1/128")}, ""},
		{"ipv4 cidr", "10.0.0.0/8", []netip.Prefix{p("10.0.0.0/8")}, ""},
		{"cidr with host bits is masked", "10.1.2.3/8", []netip.Prefix{p("10.0.0.0/8")}, ""},
		{"ipv6 cidr", "2001:db8::/32", []netip.Prefix{p("2001:db8::/32")}, ""},
		{"ipv4-mapped address is unmapped", "::ffff:1.2.3.4", []netip.Prefix{p("1.2.3.4/32")}, ""},
		{"commas", "1.2.3.4,5.6.7.8", []netip.Prefix{p("1.2.3.4/32"), p("5.6.7.8/32")}, ""},
		{"newlines", "1.2.3.4\n10.0.0.0/8", []netip.Prefix{p("1.2.3.4/32"), p("10.0.0.0/8")}, ""},
		{"crlf, spaces and empty items", " 1.2.3.4 ,\r\n,, 2001:db8::/32\n", []netip.Prefix{p("1.2.3.4/32"), p("2001:db8::/32")}, ""},
		{"invalid entry", "1.2.3.4,not-an-ip", nil, "not-an-ip"},
		{"prefix too long", "10.0.0.0/33", nil, "10.0.0.0/33"},
		{"empty prefix length", "10.0.0.0/", nil, "10.0.0.0/"},
		{"hostname", "example.com", nil, "example.com"},
		{"octet out of range", "256.1.1.1", nil, "256.1.1.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := model.ParseAllowIPs(tc.in)
			if tc.invalid != "" {
				var ie *model.InvalidIPError
				if !errors.As(err, &ie) || ie.Entry != tc.invalid {
					t.Fatalf("err = %v, want InvalidIPError naming %q", err, tc.invalid)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("ParseAllowIPs(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestTokenInfoAllowsIP(t *testing.T) {
	t.Parallel()
	c := model.NewCache(nil)
	info := func(allow string) *model.TokenInfo {
		return c.PutToken(&model.Token{ID: len(allow) + 1, KeyHash: "h" + allow, AllowIps: allow}).Info()
	}
	a := netip.MustParseAddr
	cases := []struct {
		name  string
		allow string
		ip    string
		want  bool
	}{
		{"no list allows everyone", "", "203.0.113.9", true},
		{"no list allows ipv6", "", "2001:db8::1", true},
		{"ipv4 in cidr", "10.0.0.0/8, 2001:db8::/32, 192.168.1.7", "10.200.3.4", true},
		{"ipv4 outside", "10.0.0.0/8, 2001:db8::/32, 192.168.1.7", "11.0.0.1", false},
		{"ipv4-mapped client in ipv4 cidr", "10.0.0.0/8, 2001:db8::/32, 192.168.1.7", "::ffff:10.200.3.4", true},
		{"ipv4-mapped client, exact ipv4", "10.0.0.0/8, 2001:db8::/32, 192.168.1.7", "::ffff:192.168.1.7", true},
		{"ipv4-mapped client outside", "10.0.0.0/8, 2001:db8::/32, 192.168.1.7", "::ffff:192.168.1.8", false},
		{"ipv6 in cidr", "10.0.0.0/8, 2001:db8::/32, 192.168.1.7", "2001:db8:ffff::1", true},
		{"ipv6 outside", "10.0.0.0/8, 2001:db8::/32, 192.168.1.7", "2001:db9::1", false},
		{"mapped entry matches plain client", "::ffff:192.0.2.1", "192.0.2.1", true},
		{"mapped entry matches mapped client", "::ffff:192.0.2.1", "::ffff:192.0.2.1", true},
		// An operator may paste the mapped form of a network the way their
		// logs print it; it must cover the IPv4 clients in it as the mapped
		// single address above does.
		{"mapped cidr entry matches ipv4 client", "::ffff:192.0.2.0/120", "192.0.2.77", true},
		// A stored value that no longer parses fails closed.
		{"unparsable stored list refuses everyone", "10.0.0.0/8,bogus", "10.0.0.1", false},
		{"unparsable stored list refuses ipv6", "10.0.0.0/8,bogus", "::", false},
	}
	for _, tc := range cases {
		if got := info(tc.allow).AllowsIP(a(tc.ip)); got != tc.want {
			t.Errorf("%s: AllowsIP(%s) with %q = %v, want %v", tc.name, tc.ip, tc.allow, got, tc.want)
		}
	}
}

// A channel switched off is skipped at once, before any rebuild (in both
// the weighted and the all-zero-weight paths), and refuses a key pinned to
// it; it is selected again when switched back on, and a rebuild follows
// SQL, where its status is still 1.
func TestSelectChannelSkipsASwitchedOffChannel(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		m := testenv.Name("model-")
		a := mustCreateChannel(t, s, model.Channel{Models: m, Weight: 1}, "k").ID
		b := mustCreateChannel(t, s, model.Channel{Models: m, Weight: 1}, "k").ID
		zero := testenv.Name("model-")
		x := mustCreateChannel(t, s, model.Channel{Models: zero, Weight: 0}, "k").ID
		y := mustCreateChannel(t, s, model.Channel{Models: zero, Weight: 0}, "k").ID
		c := loadedCache(t, s)

		if !c.ChannelByID(a).Serving() {
			t.Fatal("an enabled channel is not serving")
		}
		c.ChannelByID(a).SwitchOff()
		c.ChannelByID(x).SwitchOff()
		// A key pinned to it asks Serving: no longer.
		if c.ChannelByID(a).Serving() {
			t.Error("a switched-off channel still serves a pinned key")
		}
		if got := pick(t, c, "default", m, nil, 200); got[b] != 200 {
			t.Errorf("a switched off: %v, want only b=%d", got, b)
		}
		if got := pick(t, c, "default", zero, nil, 100); got[y] != 100 {
			t.Errorf("x switched off (weight 0 tier): %v, want only y=%d", got, y)
		}
		if _, err := c.SelectChannel("default", m, []int{b}); !errors.Is(err, model.ErrChannelsExhausted) {
			t.Errorf("b excluded and a switched off: err = %v, want ErrChannelsExhausted", err)
		}

		c.ChannelByID(a).SwitchOn()
		if !c.ChannelByID(a).Serving() {
			t.Error("switched back on, the channel does not serve a pinned key")
		}
		if got := pick(t, c, "default", m, []int{b}, 20); got[a] != 20 {
			t.Errorf("a switched back on: %v, want a=%d", got, a)
		}
		if err := c.ReloadChannels(); err != nil {
			t.Fatal(err)
		}
		if got := pick(t, c, "default", zero, []int{y}, 20); got[x] != 20 {
			t.Errorf("after a rebuild x (status 1 in SQL) is back: %v", got)
		}
	})
}
