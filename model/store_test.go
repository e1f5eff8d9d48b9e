package model_test

import (
	"errors"
	"testing"

	"gorm.io/gorm"

	"sluice/common"
	"sluice/internal/testdb"
	"sluice/internal/testenv"
	"sluice/model"
)

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		s := model.NewStore(db, db, testdb.Cipher(t))
		for i := range 2 {
			if err := s.Migrate(); err != nil {
				t.Fatalf("Migrate #%d: %v", i+1, err)
			}
		}
		for _, table := range []any{&model.User{}, &model.Token{}, &model.Channel{}, &model.Ability{}, &model.Option{}, &model.Log{}} {
			if !db.Migrator().HasTable(table) {
				t.Errorf("table for %T missing after Migrate", table)
			}
		}
		// Data written between migrations survives the second one.
		u := mustCreateUser(t, s, 7)
		if err := s.Migrate(); err != nil {
			t.Fatalf("Migrate #3: %v", err)
		}
		got, err := s.UserByID(u.ID)
		if err != nil || got.Quota != 7 {
			t.Fatalf("user after re-migration = %+v, %v", got, err)
		}
	})
}

func TestUserCRUD(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		u := &model.User{Username: testenv.Name("alice-"), Password: "hash", DisplayName: "Alice", Email: "a@example.com", Quota: 500}
		if err := s.CreateUser(u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if u.ID == 0 || u.CreatedTime == 0 {
			t.Fatalf("CreateUser did not fill id/created_time: %+v", u)
		}
		if u.Group != "default" {
			t.Errorf("empty group stored as %q, want default", u.Group)
		}

		byID, err := s.UserByID(u.ID)
		if err != nil {
			t.Fatalf("UserByID: %v", err)
		}
		byName, err := s.UserByUsername(u.Username)
		if err != nil {
			t.Fatalf("UserByUsername: %v", err)
		}
		if byID.Username != u.Username || byName.ID != u.ID || byID.Quota != 500 || byID.Group != "default" {
			t.Errorf("read back %+v / %+v", byID, byName)
		}

		// `group` is a reserved word on every dialect: write it through the
		// model and read it back with raw SQL and through the model.
		if err := s.UpdateUserFields(u.ID, map[string]any{"group": "vip", "display_name": "Alice B"}); err != nil {
			t.Fatalf("UpdateUserFields(group): %v", err)
		}
		var rawGroup string
		q := "SELECT " + testdb.Quote(s.DB, "group") + " FROM users WHERE id = ?"
		if err := s.DB.Raw(q, u.ID).Scan(&rawGroup).Error; err != nil {
			t.Fatalf("raw group: %v", err)
		}
		got, _ := s.UserByID(u.ID)
		if rawGroup != "vip" || got.Group != "vip" || got.DisplayName != "Alice B" {
			t.Errorf("group round trip: raw %q, model %q, display %q", rawGroup, got.Group, got.DisplayName)
		}

		if _, err := s.UserByID(u.ID + 1000); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("UserByID(missing) err = %v, want ErrNotFound", err)
		}
		if _, err := s.UserByUsername(testenv.Name("nobody-")); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("UserByUsername(missing) err = %v, want ErrNotFound", err)
		}
	})
}

func TestUserUniqueUsername(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		u := mustCreateUser(t, s, 0)
		dup := &model.User{Username: u.Username, Password: "x"}
		if err := s.CreateUser(dup); err == nil {
			t.Fatalf("second user named %q was accepted", u.Username)
		}
		if n, _ := s.CountUsers(); n != 1 {
			t.Errorf("CountUsers = %d after rejected duplicate, want 1", n)
		}
	})
}

func TestUserSoftDelete(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		keep := mustCreateUser(t, s, 1)
		gone := mustCreateUser(t, s, 2)
		if err := s.DB.Delete(&model.User{}, gone.ID).Error; err != nil {
			t.Fatalf("delete: %v", err)
		}
		if _, err := s.UserByID(gone.ID); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("UserByID(soft-deleted) err = %v, want ErrNotFound", err)
		}
		all, err := s.AllUsers()
		if err != nil || len(all) != 1 || all[0].ID != keep.ID {
			t.Errorf("AllUsers = %v, %v; want only user %d", all, err, keep.ID)
		}
		// The row is still there: the first-run bootstrap counts it, so a
		// deleted root never re-opens setup.
		if n, err := s.CountUsers(); err != nil || n != 2 {
			t.Errorf("CountUsers = %d, %v; want 2 (soft-deleted rows count)", n, err)
		}
		if n := scalar(t, s, "SELECT COUNT(*) FROM users WHERE id = ? AND deleted_at IS NOT NULL", gone.ID); n != 1 {
			t.Errorf("soft-deleted row has no deleted_at (count %d)", n)
		}
		list, total, err := s.SearchUsers(model.UserSearch{Page: 1, PageSize: 10})
		if err != nil || total != 1 || len(list) != 1 {
			t.Errorf("ListUsers = %d rows, total %d, %v; want 1", len(list), total, err)
		}
	})
}

func TestListUsers(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		tag := testenv.Name("")
		var ids []int
		for i := range 7 {
			u := &model.User{Username: testenv.Name("x-"), Password: "x"}
			if i%2 == 0 {
				u.Username = "find-" + tag + testenv.Name("-")
			}
			if i == 1 {
				u.Email = tag + "@example.com"
			}
			if err := s.CreateUser(u); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, u.ID)
		}
		list, total, err := s.SearchUsers(model.UserSearch{Keyword: tag, Page: 1, PageSize: 3})
		if err != nil {
			t.Fatal(err)
		}
		// Matches: i = 0, 2, 4, 6 by username and 1 by email; newest first.
		if total != 5 || len(list) != 3 || list[0].ID != ids[6] || list[1].ID != ids[4] || list[2].ID != ids[2] {
			t.Errorf("page 1: total %d, rows %v", total, userIDs(list))
		}
		list, _, _ = s.SearchUsers(model.UserSearch{Keyword: tag, Page: 2, PageSize: 3})
		if len(list) != 2 || list[0].ID != ids[1] || list[1].ID != ids[0] {
			t.Errorf("page 2: rows %v, want [%d %d]", userIDs(list), ids[1], ids[0])
		}
	})
}

func userIDs(us []model.User) []int {
	out := make([]int, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}

func TestUserByAccessTokenHash(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		// Several users without an access token: NULLs must not collide in
		// the unique index.
		a := mustCreateUser(t, s, 0)
		b := mustCreateUser(t, s, 0)
		mustCreateUser(t, s, 0)

		hash := common.HashSecret("access-" + testenv.Name(""))
		if err := s.SetAccessTokenHash(b.ID, hash); err != nil {
			t.Fatalf("SetAccessTokenHash: %v", err)
		}
		got, err := s.UserByAccessTokenHash(hash)
		if err != nil || got.ID != b.ID {
			t.Fatalf("UserByAccessTokenHash = %+v, %v; want user %d", got, err, b.ID)
		}
		if _, err := s.UserByAccessTokenHash(common.HashSecret("other")); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("unknown hash err = %v, want ErrNotFound", err)
		}
		// The hash is unique: a second user cannot take it.
		if err := s.SetAccessTokenHash(a.ID, hash); err == nil {
			t.Errorf("two users share access token hash")
		}
		// Rotation replaces the old hash.
		hash2 := common.HashSecret("rotated-" + testenv.Name(""))
		if err := s.SetAccessTokenHash(b.ID, hash2); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UserByAccessTokenHash(hash); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("old hash still finds a user after rotation: %v", err)
		}
		if got, err := s.UserByAccessTokenHash(hash2); err != nil || got.ID != b.ID {
			t.Errorf("rotated hash = %+v, %v", got, err)
		}
	})
}

func TestTokenCreateListUpdateDelete(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		owner := mustCreateUser(t, s, 0)
		other := mustCreateUser(t, s, 0)
		word := testenv.Name("")
		var mine []int
		for i := range 12 {
			tok, _ := mustCreateToken(t, s, owner.ID, int64(i), false)
			if i%3 == 0 {
				if err := s.UpdateTokenFields(tok.ID, map[string]any{"name": "team-" + word + testenv.Name("-")}); err != nil {
					t.Fatal(err)
				}
			}
			mine = append(mine, tok.ID)
		}
		theirs, _ := mustCreateToken(t, s, other.ID, 0, false)

		got, total, err := s.ListTokens(model.TokenFilter{UserID: owner.ID, Page: 1, PageSize: 5})
		if err != nil || total != 12 || len(got) != 5 || got[0].ID != mine[11] || got[4].ID != mine[7] {
			t.Errorf("page 1: total %d, %d rows (first %v), %v", total, len(got), tokenIDs(got), err)
		}
		got, total, _ = s.ListTokens(model.TokenFilter{UserID: owner.ID, Page: 3, PageSize: 5})
		if total != 12 || len(got) != 2 || got[0].ID != mine[1] || got[1].ID != mine[0] {
			t.Errorf("page 3: total %d, rows %v", total, tokenIDs(got))
		}
		got, total, _ = s.ListTokens(model.TokenFilter{UserID: owner.ID, Keyword: word, Page: 1, PageSize: 10})
		if total != 4 || len(got) != 4 || got[0].ID != mine[9] || got[3].ID != mine[0] {
			t.Errorf("keyword: total %d, rows %v; want %v", total, tokenIDs(got), []int{mine[9], mine[6], mine[3], mine[0]})
		}
		// Another user's list never shows these keys, even for a matching keyword.
		got, total, _ = s.ListTokens(model.TokenFilter{UserID: other.ID, Keyword: "", Page: 1, PageSize: 50})
		if total != 1 || len(got) != 1 || got[0].ID != theirs.ID {
			t.Errorf("other user's list: total %d, rows %v", total, tokenIDs(got))
		}

		// Update, including the reserved-word column.
		if err := s.UpdateTokenFields(mine[0], map[string]any{"status": 2, "group": "vip", "remain_quota": 77}); err != nil {
			t.Fatalf("UpdateTokenFields: %v", err)
		}
		tok, err := s.TokenByID(mine[0])
		if err != nil || tok.Status != 2 || tok.Group != "vip" || tok.RemainQuota != 77 {
			t.Errorf("after update: %+v, %v", tok, err)
		}

		// Delete only your own.
		ok, err := s.DeleteToken(theirs.ID, owner.ID)
		if err != nil || ok {
			t.Errorf("DeleteToken(someone else's) = %v, %v; want false, nil", ok, err)
		}
		if _, err := s.TokenByID(theirs.ID); err != nil {
			t.Errorf("someone else's key vanished: %v", err)
		}
		ok, err = s.DeleteToken(mine[0], owner.ID)
		if err != nil || !ok {
			t.Errorf("DeleteToken(own) = %v, %v; want true, nil", ok, err)
		}
		if _, err := s.TokenByID(mine[0]); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("TokenByID(deleted) err = %v, want ErrNotFound", err)
		}
		all, _ := s.AllTokens()
		if len(all) != 12 {
			t.Errorf("AllTokens = %d, want 12", len(all))
		}
	})
}

func tokenIDs(ts []model.Token) []int {
	out := make([]int, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

func TestTokenKeyHashUnique(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		u := mustCreateUser(t, s, 0)
		tok, _ := mustCreateToken(t, s, u.ID, 0, false)
		dup := &model.Token{UserID: u.ID, Name: "dup", KeyHash: tok.KeyHash, ExpiredTime: -1}
		if err := s.CreateToken(dup); err == nil {
			t.Fatalf("two keys with the same hash were stored")
		}
	})
}

func TestSaveOptionUpserts(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		key := testenv.Name("Opt")
		if err := s.SaveOption(key, "first"); err != nil {
			t.Fatalf("SaveOption #1: %v", err)
		}
		if err := s.SaveOption(key, "second"); err != nil {
			t.Fatalf("SaveOption #2: %v", err)
		}
		if err := s.SaveOption("Other", "x"); err != nil {
			t.Fatal(err)
		}
		q := "SELECT COUNT(*) FROM options WHERE " + testdb.Quote(s.DB, "key") + " = ?"
		if n := scalar(t, s, q, key); n != 1 {
			t.Errorf("%d rows for option %s, want 1", n, key)
		}
		all, err := s.AllOptions()
		if err != nil || all[key] != "second" || all["Other"] != "x" || len(all) != 2 {
			t.Errorf("AllOptions = %v, %v", all, err)
		}
		// An empty value is a value, not a delete.
		if err := s.SaveOption(key, ""); err != nil {
			t.Fatal(err)
		}
		all, _ = s.AllOptions()
		if v, ok := all[key]; !ok || v != "" {
			t.Errorf("after saving empty value: %q, present %v", v, ok)
		}
	})
}
