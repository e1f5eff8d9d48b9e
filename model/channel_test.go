package model_test

import (
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"sluice/internal/testdb"
	"sluice/internal/testenv"
	"sluice/model"
)

// rawChannelKey reads the stored credential with SQL, bypassing the model.
func rawChannelKey(t *testing.T, s *model.Store, id int) string {
	t.Helper()
	var raw string
	q := "SELECT " + testdb.Quote(s.DB, "key") + " FROM channels WHERE id = ?"
	if err := s.DB.Raw(q, id).Scan(&raw).Error; err != nil {
		t.Fatalf("raw key: %v", err)
	}
	return raw
}

// abilityRows returns a channel's abilities as "group/model" sorted, with
// every row's enabled flag.
func abilityRows(t *testing.T, s *model.Store, channelID int) ([]string, []model.Ability) {
	t.Helper()
	var as []model.Ability
	if err := s.DB.Where("channel_id = ?", channelID).Find(&as).Error; err != nil {
		t.Fatalf("abilities: %v", err)
	}
	keys := make([]string, len(as))
	for i, a := range as {
		keys[i] = a.Group + "/" + a.Model
	}
	sort.Strings(keys)
	return keys, as
}

func TestChannelKeyEncryptedAtRest(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		plain := "sk-upstream-" + testenv.Name("")
		ch := mustCreateChannel(t, s, model.Channel{Models: "gpt-4o", Group: "default"}, plain)

		raw := rawChannelKey(t, s, ch.ID)
		if raw == plain || strings.Contains(raw, plain) {
			t.Fatalf("stored key contains the plaintext: %q", raw)
		}
		if !strings.HasPrefix(raw, "enc:v1:") {
			t.Fatalf("stored key %q lacks the enc:v1: prefix", raw)
		}
		loaded, err := s.ChannelByID(ch.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.ChannelKey(loaded); err != nil || got != plain {
			t.Fatalf("ChannelKey = %q, %v; want the plaintext", got, err)
		}
		// The credential is write-only: it never appears in the JSON form.
		b, _ := json.Marshal(loaded)
		if strings.Contains(string(b), plain) || strings.Contains(string(b), raw) {
			t.Errorf("channel JSON exposes the key: %s", b)
		}
		// A second channel with the same key gets a different ciphertext
		// (random nonce), so equal keys are not visible as equal rows.
		ch2 := mustCreateChannel(t, s, model.Channel{Models: "gpt-4o"}, plain)
		if rawChannelKey(t, s, ch2.ID) == raw {
			t.Errorf("two encryptions of the same key are identical")
		}
	})
}

func TestUpdateChannel(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		plain := "sk-old-" + testenv.Name("")
		ch := mustCreateChannel(t, s, model.Channel{Models: "a,b", Group: "default,vip", Priority: 3, Weight: 2}, plain)
		raw := rawChannelKey(t, s, ch.ID)
		if err := s.ApplyDeltas(model.Deltas{Channels: map[int]int64{ch.ID: 42}}); err != nil {
			t.Fatal(err)
		}

		// Empty key keeps the stored credential; used_quota and
		// created_time are not the editor's to change.
		upd := model.Channel{ID: ch.ID, Type: 1, Name: "renamed", Models: "c", Group: "vip", Priority: 9, Weight: 5,
			Status: 1, Tag: "t", UsedQuota: 0, CreatedTime: 1}
		if err := s.UpdateChannel(&upd, ""); err != nil {
			t.Fatalf("UpdateChannel: %v", err)
		}
		if got := rawChannelKey(t, s, ch.ID); got != raw {
			t.Errorf("empty key changed the stored credential: %q -> %q", raw, got)
		}
		got, _ := s.ChannelByID(ch.ID)
		if got.Name != "renamed" || got.Priority != 9 || got.UsedQuota != 42 || got.CreatedTime != ch.CreatedTime {
			t.Errorf("after update: %+v (created_time want %d, used_quota want 42)", got, ch.CreatedTime)
		}
		if k, _ := s.ChannelKey(got); k != plain {
			t.Errorf("key after keep-update = %q", k)
		}
		keys, as := abilityRows(t, s, ch.ID)
		if !slices.Equal(keys, []string{"vip/c"}) {
			t.Errorf("abilities after update = %v, want [vip/c]", keys)
		}
		for _, a := range as {
			if a.Priority != 9 || a.Weight != 5 || a.Tag != "t" || !a.Enabled {
				t.Errorf("ability not rewritten from the channel: %+v", a)
			}
		}

		// A new key replaces it.
		upd.Key = ""
		if err := s.UpdateChannel(&upd, "sk-new"); err != nil {
			t.Fatal(err)
		}
		got, _ = s.ChannelByID(ch.ID)
		if k, _ := s.ChannelKey(got); k != "sk-new" || !strings.HasPrefix(got.Key, "enc:v1:") {
			t.Errorf("key after replace = %q (stored %q)", k, got.Key)
		}

		missing := model.Channel{ID: ch.ID + 1000, Name: "x", Models: "a"}
		if err := s.UpdateChannel(&missing, ""); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("UpdateChannel(missing) err = %v, want ErrNotFound", err)
		}
	})
}

func TestChannelAbilities(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		ch := mustCreateChannel(t, s, model.Channel{Models: "m1, m2,,m1", Group: "default, vip", Priority: 4, Weight: 7, Tag: "tg"}, "k")
		other := mustCreateChannel(t, s, model.Channel{Models: "m1", Group: "default"}, "k")

		keys, as := abilityRows(t, s, ch.ID)
		want := []string{"default/m1", "default/m2", "vip/m1", "vip/m2"}
		if !slices.Equal(keys, want) {
			t.Fatalf("abilities = %v, want %v (every group x model, de-duplicated)", keys, want)
		}
		for _, a := range as {
			if !a.Enabled || a.Priority != 4 || a.Weight != 7 || a.Tag != "tg" {
				t.Errorf("ability %+v does not mirror the channel", a)
			}
		}

		for _, tc := range []struct {
			status  int
			enabled bool
		}{{2, false}, {1, true}, {3, false}, {1, true}} {
			if err := s.SetChannelStatus(ch.ID, tc.status); err != nil {
				t.Fatalf("SetChannelStatus(%d): %v", tc.status, err)
			}
			got, _ := s.ChannelByID(ch.ID)
			_, as := abilityRows(t, s, ch.ID)
			if got.Status != tc.status || len(as) != 4 {
				t.Fatalf("status %d: channel %d, %d abilities", tc.status, got.Status, len(as))
			}
			for _, a := range as {
				if a.Enabled != tc.enabled {
					t.Errorf("status %d: ability %s/%s enabled=%v", tc.status, a.Group, a.Model, a.Enabled)
				}
			}
		}
		if _, as := abilityRows(t, s, other.ID); len(as) != 1 || !as[0].Enabled {
			t.Errorf("another channel's abilities changed: %+v", as)
		}
		if err := s.SetChannelStatus(ch.ID+1000, 2); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("SetChannelStatus(missing) err = %v, want ErrNotFound", err)
		}

		if err := s.DeleteChannel(ch.ID); err != nil {
			t.Fatalf("DeleteChannel: %v", err)
		}
		if _, as := abilityRows(t, s, ch.ID); len(as) != 0 {
			t.Errorf("%d abilities left after DeleteChannel", len(as))
		}
		if _, err := s.ChannelByID(ch.ID); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("ChannelByID(deleted) err = %v", err)
		}
		if err := s.DeleteChannel(ch.ID); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("DeleteChannel twice err = %v, want ErrNotFound", err)
		}
		if _, as := abilityRows(t, s, other.ID); len(as) != 1 {
			t.Errorf("deleting one channel removed another's abilities")
		}
	})
}

// Setting the status a channel already has is what an operator does when
// they click "enable" twice, or what auto-enable does for a channel that is
// already on; it is not "not found".
func TestSetChannelStatusUnchangedIsNotAnError(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		ch := mustCreateChannel(t, s, model.Channel{Models: "m"}, "k")
		if err := s.SetChannelStatus(ch.ID, 1); err != nil {
			t.Errorf("enabling an enabled channel: %v", err)
		}
		if err := s.SetChannelStatus(ch.ID, 2); err != nil {
			t.Fatal(err)
		}
		if err := s.SetChannelStatus(ch.ID, 2); err != nil {
			t.Errorf("disabling a disabled channel: %v", err)
		}
	})
}

func TestCreateChannelDefaultGroup(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		ch := mustCreateChannel(t, s, model.Channel{Models: "m"}, "k")
		keys, _ := abilityRows(t, s, ch.ID)
		if got, _ := s.ChannelByID(ch.ID); got.Group != "default" || !slices.Equal(keys, []string{"default/m"}) {
			t.Errorf("channel without group: stored group %q, abilities %v", got.Group, keys)
		}
	})
}

// listFixture is a set of channels chosen so every ListChannels filter has
// hits and near-misses. No name or URL contains a digit, so a numeric
// keyword can only match an id.
type listFixture struct {
	alpha, beta, gamma, delta *model.Channel
	paged                     []*model.Channel
}

func newListFixture(t *testing.T, s *model.Store) listFixture {
	var f listFixture
	f.alpha = mustCreateChannel(t, s, model.Channel{Name: "Alpha-openai", BaseURL: "https://api.openai.com", Type: 1,
		Models: "gpt-4o,gpt-4o-mini", Group: "default", Tag: "prod", Priority: 10}, "k")
	f.beta = mustCreateChannel(t, s, model.Channel{Name: "beta-claude", BaseURL: "https://api.anthropic.com", Type: 14,
		Models: "claude-three", Group: "default,vip", Tag: "prod", Status: 2, Priority: 5}, "k")
	f.gamma = mustCreateChannel(t, s, model.Channel{Name: "gamma", BaseURL: "https://proxy.example/vone", Type: 1,
		Models: "gpt-four", Group: "supervip", Status: 3, Priority: 5}, "k")
	f.delta = mustCreateChannel(t, s, model.Channel{Name: "delta", BaseURL: "https://gemini.example", Type: 24,
		Models: "gemini", Group: "vip", Tag: "test", Priority: 1}, "k")
	for i := range 12 {
		f.paged = append(f.paged, mustCreateChannel(t, s, model.Channel{Name: testenv.Name("pg-"), Type: 8, Models: "x",
			Group: "default", Tag: "page", Priority: int64(i % 3)}, "k"))
	}
	return f
}

func channelIDs(cs []model.Channel) []int {
	out := make([]int, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// ordered sorts channels as ListChannels must: priority desc, id desc.
func ordered(cs ...*model.Channel) []int {
	cp := slices.Clone(cs)
	sort.Slice(cp, func(i, j int) bool {
		if cp[i].Priority != cp[j].Priority {
			return cp[i].Priority > cp[j].Priority
		}
		return cp[i].ID > cp[j].ID
	})
	out := make([]int, len(cp))
	for i, c := range cp {
		out[i] = c.ID
	}
	return out
}

func TestListChannelsFilters(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		f := newListFixture(t, s)
		all := append([]*model.Channel{f.alpha, f.beta, f.gamma, f.delta}, f.paged...)
		defaults := append([]*model.Channel{f.alpha, f.beta}, f.paged...)
		cases := []struct {
			name   string
			filter model.ChannelFilter
			want   []int
		}{
			{"no filter", model.ChannelFilter{}, ordered(all...)},
			{"keyword in name", model.ChannelFilter{Keyword: "claude"}, ordered(f.beta)},
			{"keyword in base_url", model.ChannelFilter{Keyword: "anthropic"}, ordered(f.beta)},
			{"keyword is an id", model.ChannelFilter{Keyword: strconv.Itoa(f.gamma.ID)}, ordered(f.gamma)},
			{"keyword matching nothing", model.ChannelFilter{Keyword: "nothing-matches"}, nil},
			// The keyword's OR must stay inside its parentheses.
			{"keyword and status", model.ChannelFilter{Keyword: "a", Status: 2}, ordered(f.beta)},
			{"keyword and type", model.ChannelFilter{Keyword: "openai", Type: 14}, nil},
			{"keyword id and group", model.ChannelFilter{Keyword: strconv.Itoa(f.gamma.ID), Group: "default"}, nil},
			{"group default", model.ChannelFilter{Group: "default"}, ordered(defaults...)},
			{"model", model.ChannelFilter{Model: "claude-three"}, ordered(f.beta)},
			{"model gemini", model.ChannelFilter{Model: "gemini"}, ordered(f.delta)},
			{"model in a list", model.ChannelFilter{Model: "gpt-4o-mini"}, ordered(f.alpha)},
			{"tag prod", model.ChannelFilter{Tag: "prod"}, ordered(f.alpha, f.beta)},
			{"tag is exact", model.ChannelFilter{Tag: "pro"}, nil},
			{"status manual off", model.ChannelFilter{Status: 2}, ordered(f.beta)},
			{"status auto off", model.ChannelFilter{Status: 3}, ordered(f.gamma)},
			{"type anthropic", model.ChannelFilter{Type: 14}, ordered(f.beta)},
			{"type openai", model.ChannelFilter{Type: 1}, ordered(f.alpha, f.gamma)},
			{"status and type", model.ChannelFilter{Status: 1, Type: 1}, ordered(f.alpha)},
			{"group and tag", model.ChannelFilter{Group: "vip", Tag: "prod"}, ordered(f.beta)},
		}
		for _, tc := range cases {
			tc.filter.Page, tc.filter.PageSize = 1, 100
			got, total, err := s.ListChannels(tc.filter)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if ids := channelIDs(got); !slices.Equal(ids, tc.want) || total != int64(len(tc.want)) {
				t.Errorf("%s: got %v (total %d), want %v", tc.name, ids, total, tc.want)
			}
		}
	})
}

// A group filter selects channels that serve that group. "vip" is a member
// of "default,vip" but not of "supervip": matching group names as
// substrings lists channels a vip user can never be routed to.
func TestListChannelsGroupIsMembership(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		f := newListFixture(t, s)
		got, total, err := s.ListChannels(model.ChannelFilter{Group: "vip", Page: 1, PageSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		if want := ordered(f.beta, f.delta); !slices.Equal(channelIDs(got), want) || total != 2 {
			t.Errorf("group vip: got %v (total %d), want %v (gamma %d is in group supervip only)",
				channelIDs(got), total, want, f.gamma.ID)
		}
	})
}

// The admin search box must behave the same on every database: SQLite's
// and MySQL's LIKE ignore ASCII case, so PostgreSQL's must too.
func TestListChannelsKeywordIgnoresCase(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		f := newListFixture(t, s)
		for _, kw := range []string{"alpha", "ALPHA", "Alpha", "OPENAI"} {
			got, total, err := s.ListChannels(model.ChannelFilter{Keyword: kw, Page: 1, PageSize: 100})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(channelIDs(got), []int{f.alpha.ID}) || total != 1 {
				t.Errorf("keyword %q: got %v (total %d), want [%d] (name %q)", kw, channelIDs(got), total, f.alpha.ID, f.alpha.Name)
			}
		}
	})
}

func TestListChannelsPagination(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		f := newListFixture(t, s)
		want := ordered(f.paged...)
		var seen []int
		for page, size := range []int{5, 5, 2, 0} {
			got, total, err := s.ListChannels(model.ChannelFilter{Tag: "page", Page: page + 1, PageSize: 5})
			if err != nil {
				t.Fatal(err)
			}
			if total != 12 || len(got) != size {
				t.Errorf("page %d: %d rows, total %d; want %d rows, total 12", page+1, len(got), total, size)
			}
			seen = append(seen, channelIDs(got)...)
		}
		if !slices.Equal(seen, want) {
			t.Errorf("pages concatenated = %v, want %v", seen, want)
		}
	})
}
