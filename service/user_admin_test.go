package service_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"sluice/common"
	"sluice/constant"
	"sluice/internal/testdb"
	"sluice/internal/testenv"
	"sluice/model"
	"sluice/service"
)

var (
	uaRoot   = &model.UserInfo{ID: 1, Username: "root", Role: constant.RoleRoot, Status: 1, Group: "default"}
	uaAdmin  = &model.UserInfo{ID: 2, Username: "alice", Role: constant.RoleAdmin, Status: 1, Group: "default"}
	uaAdmin2 = &model.UserInfo{ID: 3, Username: "amy", Role: constant.RoleAdmin, Status: 1, Group: "default"}
	uaCommon = &model.UserInfo{ID: 4, Username: "bob", Role: constant.RoleCommon, Status: 1, Group: "default"}
	uaOther  = &model.UserInfo{ID: 5, Username: "carol", Role: constant.RoleCommon, Status: 1, Group: "vip"}
)

// uaKind names the refusal kind an error wraps, for readable failures.
func uaKind(err error) string {
	for _, k := range []struct {
		err  error
		name string
	}{{service.ErrUserInput, "input"}, {service.ErrUserForbidden, "forbidden"},
		{service.ErrUserNotFound, "not found"}, {service.ErrUsernameTaken, "taken"}} {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	if err == nil {
		return "ok"
	}
	return "other: " + err.Error()
}

func TestCanManageAndView(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		actor, target *model.UserInfo
		manage, view  string
	}{
		{"root on admin", uaRoot, uaAdmin, "ok", "ok"},
		{"root on common", uaRoot, uaCommon, "ok", "ok"},
		// Root is untouchable, even by itself, but may read its own record.
		{"root on root", uaRoot, uaRoot, "forbidden", "ok"},
		{"admin on common", uaAdmin, uaCommon, "ok", "ok"},
		{"admin on admin", uaAdmin, uaAdmin2, "forbidden", "forbidden"},
		{"admin on itself", uaAdmin, uaAdmin, "forbidden", "forbidden"},
		{"admin on root", uaAdmin, uaRoot, "forbidden", "forbidden"},
		{"common on common", uaCommon, uaOther, "forbidden", "forbidden"},
		{"common on admin", uaCommon, uaAdmin, "forbidden", "forbidden"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := uaKind(service.CanManage(tc.actor, tc.target)); got != tc.manage {
				t.Errorf("CanManage: %s, want %s", got, tc.manage)
			}
			if got := uaKind(service.CanView(tc.actor, tc.target)); got != tc.view {
				t.Errorf("CanView: %s, want %s", got, tc.view)
			}
		})
	}
}

func TestCanAssignRole(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		actor *model.UserInfo
		role  int
		want  string
	}{
		{"root makes common", uaRoot, constant.RoleCommon, "ok"},
		{"root makes admin", uaRoot, constant.RoleAdmin, "ok"},
		// Nobody can be made root: there is no role above it to grant it.
		{"root makes root", uaRoot, constant.RoleRoot, "input"},
		{"admin makes common", uaAdmin, constant.RoleCommon, "ok"},
		{"admin makes admin", uaAdmin, constant.RoleAdmin, "forbidden"},
		{"guest role", uaRoot, constant.RoleGuest, "input"},
		{"made-up role", uaRoot, 5, "input"},
	}
	for _, tc := range cases {
		if got := uaKind(service.CanAssignRole(tc.actor, tc.role)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	if got := uaKind(service.CanDeleteSelf(uaRoot)); got != "forbidden" {
		t.Errorf("root deletes itself: %s", got)
	}
	if got := uaKind(service.CanDeleteSelf(uaAdmin)); got != "ok" {
		t.Errorf("admin deletes itself: %s", got)
	}
}

func TestPlanAction(t *testing.T) {
	t.Parallel()
	disabled := *uaCommon
	disabled.Status = constant.UserStatusDisabled
	cases := []struct {
		name          string
		actor, target *model.UserInfo
		action        string
		want          string
		role, status  int
		del           bool
	}{
		{"admin disables common", uaAdmin, uaCommon, "disable", "ok", 1, 2, false},
		{"admin enables common", uaAdmin, &disabled, "enable", "ok", 1, 1, false},
		{"admin deletes common", uaAdmin, uaCommon, "delete", "ok", 1, 1, true},
		{"root promotes common", uaRoot, uaCommon, "promote", "ok", 10, 1, false},
		{"root demotes admin", uaRoot, uaAdmin, "demote", "ok", 1, 1, false},
		{"root disables admin", uaRoot, uaAdmin, "disable", "ok", 10, 2, false},
		{"admin promotes common", uaAdmin, uaCommon, "promote", "forbidden", 0, 0, false},
		{"admin demotes admin", uaAdmin, uaAdmin2, "demote", "forbidden", 0, 0, false},
		{"admin disables admin", uaAdmin, uaAdmin2, "disable", "forbidden", 0, 0, false},
		{"admin disables root", uaAdmin, uaRoot, "disable", "forbidden", 0, 0, false},
		{"root demotes root", uaRoot, uaRoot, "demote", "forbidden", 0, 0, false},
		{"root deletes root", uaRoot, uaRoot, "delete", "forbidden", 0, 0, false},
		{"common disables common", uaCommon, uaOther, "disable", "forbidden", 0, 0, false},
		{"promote an admin", uaRoot, uaAdmin, "promote", "input", 0, 0, false},
		{"demote a common user", uaRoot, uaCommon, "demote", "input", 0, 0, false},
		{"unknown action", uaRoot, uaCommon, "ban", "input", 0, 0, false},
		{"actions are case-sensitive", uaRoot, uaCommon, "Disable", "input", 0, 0, false},
		{"empty action", uaRoot, uaCommon, "", "input", 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ch, err := service.PlanAction(tc.actor, tc.target, tc.action)
			if got := uaKind(err); got != tc.want {
				t.Fatalf("%s, want %s", got, tc.want)
			}
			if err != nil {
				return
			}
			if ch.Role != tc.role || ch.Status != tc.status || ch.Delete != tc.del {
				t.Fatalf("got %+v, want role %d status %d delete %v", ch, tc.role, tc.status, tc.del)
			}
		})
	}
}

func TestValidateUserFields(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"plain username", service.ValidateUsername("bob"), "ok"},
		{"unicode username", service.ValidateUsername("張三"), "ok"},
		{"64 characters", service.ValidateUsername(strings.Repeat("é", 64)), "ok"},
		{"65 characters", service.ValidateUsername(strings.Repeat("x", 65)), "input"},
		{"empty username", service.ValidateUsername(""), "input"},
		{"space inside", service.ValidateUsername("bob smith"), "input"},
		{"control character", service.ValidateUsername("bob\x00"), "input"},
		// '#' is reserved so a live name never looks like a deleted one.
		{"hash", service.ValidateUsername("bob#deleted-3"), "input"},
		{"invalid UTF-8", service.ValidateUsername("bob\xff"), "input"},
		{"8-character password", service.ValidatePassword("12345678"), "ok"},
		{"7-character password", service.ValidatePassword("1234567"), "input"},
		{"8 runes, multi-byte", service.ValidatePassword("ääääääää"), "ok"},
		{"72-byte password", service.ValidatePassword(strings.Repeat("p", 72)), "ok"},
		// bcrypt cannot hash more; refuse it rather than fail with a 500.
		{"73-byte password", service.ValidatePassword(strings.Repeat("p", 73)), "input"},
		{"display name", service.ValidateDisplayName("Bob"), "ok"},
		{"empty display name", service.ValidateDisplayName(""), "ok"},
		{"long display name", service.ValidateDisplayName(strings.Repeat("d", 65)), "input"},
	}
	for _, tc := range cases {
		if got := uaKind(tc.err); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestDeletedUsername(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		id       int
		want     string
	}{
		{"short name", "bob", 7, "bob#deleted-7"},
		{"long name is cut to fit", strings.Repeat("x", 64), 123, strings.Repeat("x", 64-len("#deleted-123")) + "#deleted-123"},
		{"multi-byte name is cut on a rune boundary", strings.Repeat("é", 64), 9, strings.Repeat("é", 64-len("#deleted-9")) + "#deleted-9"},
	}
	for _, tc := range cases {
		got := service.DeletedUsername(tc.in, tc.id)
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
		if n := utf8.RuneCountInString(got); n > service.MaxUsernameLength || !utf8.ValidString(got) {
			t.Errorf("%s: %q has %d characters or is not UTF-8", tc.name, got, n)
		}
		if service.ValidateUsername(got) == nil {
			t.Errorf("%s: %q would be accepted as a live username", tc.name, got)
		}
	}
}

func TestUsableGroups(t *testing.T) {
	t.Parallel()
	known := []string{"default", "svip", "team-x", "vip"}
	noGroup := *uaCommon
	noGroup.Group = ""
	cases := []struct {
		name string
		user *model.UserInfo
		want []string
	}{
		{"common user gets their own group", uaCommon, []string{"default"}},
		{"common user in vip", uaOther, []string{"vip"}},
		{"a user without a group gets default", &noGroup, []string{"default"}},
		{"admin gets every known group", uaAdmin, known},
		{"root gets every known group", uaRoot, known},
	}
	for _, tc := range cases {
		got := service.UsableGroups(tc.user, known)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			continue
		}
		for _, g := range tc.want {
			u, ok := got[g]
			if !ok || u.Desc != g || u.Ratio != 1 {
				t.Errorf("%s: group %s is %+v (present %v)", tc.name, g, u, ok)
			}
			if !service.CanUseGroup(tc.user, g, known) {
				t.Errorf("%s: CanUseGroup(%s) is false", tc.name, g)
			}
		}
	}
	if service.CanUseGroup(uaCommon, "vip", known) {
		t.Error("a default-group user may use vip")
	}
	if service.CanUseGroup(uaAdmin, "nosuch", known) {
		t.Error("an admin may use a group that does not exist")
	}
}

// uaAdminOn builds a UserAdmin over store with root, an admin and a common
// user (quota 1000) in SQL and the cache.
func uaAdminOn(t *testing.T, s *model.Store) (*service.UserAdmin, map[string]*model.UserInfo) {
	t.Helper()
	users := map[string]*model.UserInfo{}
	for _, u := range []*model.User{
		{Username: "root", Password: "x", Role: constant.RoleRoot, Status: 1, Quota: 0},
		{Username: "alice", Password: "x", Role: constant.RoleAdmin, Status: 1},
		{Username: "bob", Password: "x", Role: constant.RoleCommon, Status: 1, Quota: 1000},
	} {
		if err := s.CreateUser(u); err != nil {
			t.Fatal(err)
		}
		users[u.Username] = u.Info()
	}
	cache := model.NewCache(s)
	if err := cache.Load(); err != nil {
		t.Fatal(err)
	}
	return &service.UserAdmin{Store: s, Cache: cache, Writer: service.NewBatchWriter(s, false)}, users
}

// TestUserAdminOnEveryDatabase runs the store side of user administration
// (the quoted group column, the soft-delete rename, case-insensitive
// search, relative quota writes) on each dialect.
func TestUserAdminOnEveryDatabase(t *testing.T) {
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		a, users := uaAdminOn(t, s)
		alice, bob := users["alice"], users["bob"]

		// Quota edit with a charge queued: SQL and cache agree after the flush.
		ctx := context.Background()
		a.Cache.TakeUserQuotaUpTo(ctx, bob.ID, 200)
		a.Writer.RecordCharge(service.Charge{UserID: bob.ID, Quota: 200})
		if _, err := a.Update(ctx, alice, service.UserEdit{ID: bob.ID, Quota: uaPtr(int64(5000)), Group: uaPtr("vip")}); err != nil {
			t.Fatal(err)
		}
		if err := a.Writer.Flush(); err != nil {
			t.Fatal(err)
		}
		row, err := s.UserByID(bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		if live, _ := a.Cache.UserQuota(ctx, bob.ID); row.Quota != 5000 || live != 5000 || row.Group != "vip" || row.UsedQuota != 200 {
			t.Fatalf("after edit: SQL quota %d used %d group %s, live %d", row.Quota, row.UsedQuota, row.Group, live)
		}

		found, total, err := s.SearchUsers(model.UserSearch{Keyword: "BO", Group: "vip", Page: 1, PageSize: 10})
		if err != nil || total != 1 || len(found) != 1 || found[0].ID != bob.ID {
			t.Fatalf("search: %v %d %v", found, total, err)
		}
		// LIKE wildcards in a keyword match literally.
		if _, total, err := s.SearchUsers(model.UserSearch{Keyword: "_", Page: 1, PageSize: 10}); err != nil || total != 0 {
			t.Fatalf("search for _: %d %v", total, err)
		}
		if err := s.UpdateUserFields(alice.ID, map[string]any{"email": "a_100%!@example.com"}); err != nil {
			t.Fatal(err)
		}
		if found, _, err := s.SearchUsers(model.UserSearch{Keyword: "_100%!", Page: 1, PageSize: 10}); err != nil || len(found) != 1 || found[0].ID != alice.ID {
			t.Fatalf("search for _100%%!: %v %v", found, err)
		}
		groups, err := service.KnownGroups(s)
		if err != nil || strings.Join(groups, ",") != "default,svip,vip" {
			t.Fatalf("known groups %v %v", groups, err)
		}

		tok := &model.Token{UserID: bob.ID, Name: "k", KeyHash: "hash-" + strings.Repeat("b", 20), Status: 1, ExpiredTime: -1}
		if err := s.CreateToken(tok); err != nil {
			t.Fatal(err)
		}
		a.Cache.PutToken(tok)
		if err := a.Delete(alice, bob.ID); err != nil {
			t.Fatal(err)
		}
		if a.Cache.UserEntry(bob.ID) != nil || a.Cache.TokenEntryByID(tok.ID) != nil {
			t.Fatal("deleted user or key still cached")
		}
		if _, err := s.TokenByID(tok.ID); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("deleted user's key still stored: %v", err)
		}
		again, err := a.Create(alice, service.NewUser{Username: "bob", Password: "bob-password", Quota: uaPtr(int64(0))})
		if err != nil {
			t.Fatalf("re-create bob: %v", err)
		}
		if again.ID == bob.ID {
			t.Fatal("re-created bob reuses the deleted row")
		}
		if _, err := a.Create(alice, service.NewUser{Username: "bob", Password: "bob-password"}); !errors.Is(err, service.ErrUsernameTaken) {
			t.Fatalf("duplicate bob: %v", err)
		}
		if err := a.Writer.Flush(); err != nil {
			t.Fatal(err)
		}
		var logs []model.Log
		if err := s.LogDB.Where("type = ?", constant.LogTypeManage).Order("id").Find(&logs).Error; err != nil {
			t.Fatal(err)
		}
		var contents []string
		for _, l := range logs {
			contents = append(contents, l.Content)
		}
		want := []string{
			"admin alice changed group of bob from default to vip",
			"admin alice changed quota of bob from 800 to 5000",
			"admin alice deleted user bob",
			"admin alice created user bob (role 1, quota 0, group default)",
		}
		if strings.Join(contents, "\n") != strings.Join(want, "\n") {
			t.Fatalf("manage logs\n got %q\nwant %q", contents, want)
		}
	})
}

func uaPtr[T any](v T) *T { return &v }

// TestSetUserQuotaWithRedis: with balances in Redis, an edit lands on the
// shared balance, including one that no request has seeded yet while SQL
// moved on (another instance's flushed charges).
func TestSetUserQuotaWithRedis(t *testing.T) {
	url := testenv.Lookup(t, testenv.Redis)
	t.Parallel()
	s := testdb.Store(t, model.DialectSQLite)
	a, users := uaAdminOn(t, s)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	a.Cache.AttachRedis(rdb, "sluice-test:"+common.RandomString(10)+":", a.Writer.Pending)
	ctx := context.Background()
	alice, bob := users["alice"], users["bob"]

	// A queued charge: Redis already paid it, SQL has not.
	if took := a.Cache.TakeUserQuotaUpTo(ctx, bob.ID, 200); took != 200 {
		t.Fatalf("took %d", took)
	}
	a.Writer.RecordCharge(service.Charge{UserID: bob.ID, Quota: 200})
	if _, err := a.Update(ctx, alice, service.UserEdit{ID: bob.ID, Quota: uaPtr(int64(5000))}); err != nil {
		t.Fatal(err)
	}
	if err := a.Writer.Flush(); err != nil {
		t.Fatal(err)
	}
	row, _ := s.UserByID(bob.ID)
	if live, _ := a.Cache.UserQuota(ctx, bob.ID); row.Quota != 5000 || live != 5000 {
		t.Fatalf("queued charge: SQL %d, live %d; want 5000", row.Quota, live)
	}

	// Not in Redis yet, and SQL is 300 below this instance's copy.
	carol := &model.User{Username: "carol", Password: "x", Role: constant.RoleCommon, Status: 1, Quota: 1000}
	if err := s.CreateUser(carol); err != nil {
		t.Fatal(err)
	}
	a.Cache.PutUser(carol)
	if err := s.AddUserQuota(carol.ID, -300); err != nil {
		t.Fatal(err)
	}
	from, to, err := service.SetUserQuota(ctx, s, a.Cache, a.Writer, carol.ID, 5000)
	if err != nil || from != 700 || to != 5000 {
		t.Fatalf("SetUserQuota: %d → %d, %v; want 700 → 5000", from, to, err)
	}
	row, _ = s.UserByID(carol.ID)
	if live, _ := a.Cache.UserQuota(ctx, carol.ID); row.Quota != 5000 || live != 5000 {
		t.Fatalf("unseeded balance: SQL %d, live %d; want 5000", row.Quota, live)
	}
}
