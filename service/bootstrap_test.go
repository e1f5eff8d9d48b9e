package service_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"sluice/common"
	"sluice/internal/testdb"
	"sluice/internal/testenv"
	"sluice/model"
	"sluice/service"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func countUsers(t *testing.T, s *model.Store) int64 {
	t.Helper()
	n, err := s.CountUsers()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEnsureRootWithoutEnvironmentCreatesNothing(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		if err := service.EnsureRoot(s, service.Bootstrap{}); err != nil {
			t.Fatal(err)
		}
		if n := countUsers(t, s); n != 0 {
			t.Errorf("%d users created without any INITIAL_ROOT_* setting", n)
		}
	})
}

func TestEnsureRootFromEnvironment(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		password := "correct-horse-" + testenv.Name("")
		apiKey := common.NewAPIKey()
		access := "access-" + testenv.Name("")
		if err := service.EnsureRoot(s, service.Bootstrap{Password: password, APIKey: apiKey, AccessToken: access}); err != nil {
			t.Fatalf("EnsureRoot: %v", err)
		}
		root, err := s.UserByUsername("root")
		if err != nil {
			t.Fatal(err)
		}
		if root.Role != 100 || root.Quota != 100_000_000 || root.Group != "default" || root.Status != 1 {
			t.Errorf("root = role %d, quota %d, group %q, status %d; want 100, 100000000, default, 1",
				root.Role, root.Quota, root.Group, root.Status)
		}
		if !strings.HasPrefix(root.Password, "$2") || strings.Contains(root.Password, password) {
			t.Errorf("root password not stored as a bcrypt hash: %q", root.Password)
		}
		// bcrypt costs seconds under -race and does not depend on the
		// database: compare once.
		if testdb.DialectOf(s.DB) == model.DialectSQLite && !common.CheckPassword(root.Password, password) {
			t.Errorf("root password hash does not match the given password")
		}
		if u, err := s.UserByAccessTokenHash(sha256Hex(access)); err != nil || u.ID != root.ID {
			t.Errorf("access token lookup = %v, %v", u, err)
		}

		tokens, err := s.AllTokens()
		if err != nil || len(tokens) != 1 {
			t.Fatalf("tokens = %v, %v; want one", tokens, err)
		}
		tok := tokens[0]
		if tok.KeyHash != sha256Hex(apiKey) {
			t.Errorf("key hash = %q, want SHA-256 of the secret", tok.KeyHash)
		}
		if !tok.UnlimitedQuota || tok.UserID != root.ID || tok.Status != 1 || tok.ExpiredTime != -1 {
			t.Errorf("root key = %+v; want unlimited, enabled, never expiring, owned by root", tok)
		}
		// The secret (even without its sk- prefix) is nowhere in the row.
		// %s renders both strings and the []byte MySQL returns for text.
		var row map[string]any
		if err := s.DB.Raw("SELECT * FROM tokens WHERE id = ?", tok.ID).Scan(&row).Error; err != nil {
			t.Fatal(err)
		}
		for col, v := range row {
			if strings.Contains(fmt.Sprintf("%s", v), apiKey[3:]) {
				t.Errorf("column %s holds the secret", col)
			}
		}

		// Once a user exists, EnsureRoot does nothing (a restart with the
		// same environment, or a changed password variable).
		if err := service.EnsureRoot(s, service.Bootstrap{Password: "another-password", APIKey: common.NewAPIKey()}); err != nil {
			t.Fatal(err)
		}
		if n := countUsers(t, s); n != 1 {
			t.Errorf("%d users after a second EnsureRoot", n)
		}
		if all, _ := s.AllTokens(); len(all) != 1 {
			t.Errorf("%d keys after a second EnsureRoot", len(all))
		}
		// The setup flow is closed once the environment created root.
		if _, err := service.Setup(s, "late", "long-enough-password"); !errors.Is(err, service.ErrSetupDone) {
			t.Errorf("Setup after EnsureRoot err = %v, want ErrSetupDone", err)
		}
	})
}

func TestEnsureRootAccessTokenOnly(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		access := "access-" + testenv.Name("")
		if err := service.EnsureRoot(s, service.Bootstrap{AccessToken: access}); err != nil {
			t.Fatal(err)
		}
		root, err := s.UserByAccessTokenHash(sha256Hex(access))
		if err != nil || root.Role != 100 {
			t.Fatalf("root by access token = %+v, %v", root, err)
		}
		// Password login stays impossible until the operator sets one: a
		// bcrypt hash (of a random secret) is stored, never a known value.
		// No bcrypt comparison here: each costs seconds under -race.
		if !strings.HasPrefix(root.Password, "$2") {
			t.Errorf("root password is not a bcrypt hash: %q", root.Password)
		}
	})
}

func TestEnsureRootRefusesBadSettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		b    service.Bootstrap
	}{
		{"short password", service.Bootstrap{Password: "1234567"}},
		{"short password with key", service.Bootstrap{Password: "short", APIKey: common.NewAPIKey()}},
		// An invalid INITIAL_ROOT_TOKEN must be refused before anything is
		// written: otherwise root exists after the failed start, the next
		// start skips bootstrap (users > 0), and the corrected key is
		// silently never created.
		{"api key without sk- prefix", service.Bootstrap{Password: "long-enough-password", APIKey: "not-a-key"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
				if err := service.EnsureRoot(s, tc.b); err == nil {
					t.Fatal("EnsureRoot accepted it")
				}
				if n := countUsers(t, s); n != 0 {
					t.Errorf("%d users created by a refused bootstrap", n)
				}
			})
		})
	}
}

func TestSetup(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		if _, err := service.Setup(s, "admin", "short"); err == nil {
			t.Errorf("Setup accepted a 5-character password")
		}
		if n := countUsers(t, s); n != 0 {
			t.Fatalf("refused setup created %d users", n)
		}
		u, err := service.Setup(s, "", "long-enough-password")
		if err != nil {
			t.Fatalf("Setup: %v", err)
		}
		if u.Username != "root" || u.Role != 100 || u.Quota != 100_000_000 || u.Group != "default" {
			t.Errorf("setup user = %+v", u)
		}
		if _, err := service.Setup(s, "second", "long-enough-password"); !errors.Is(err, service.ErrSetupDone) {
			t.Errorf("second Setup err = %v, want ErrSetupDone", err)
		}
		if n := countUsers(t, s); n != 1 {
			t.Errorf("%d users after a refused second setup", n)
		}
	})
}

// The setup endpoint is open to anyone until it has run once. Two requests
// racing it (an attacker and the operator, or a double click) must not
// both get a root account.
func TestSetupRaceCreatesOneRoot(t *testing.T) {
	t.Parallel()
	testdb.ForEachStore(t, func(t *testing.T, s *model.Store) {
		const n = 2 // the bcrypt between the count and the insert makes the window wide
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = service.Setup(s, fmt.Sprintf("root%d", i), "long-enough-password")
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			}
		}
		if ok != 1 || countUsers(t, s) != 1 {
			t.Errorf("%d concurrent setups succeeded and %d users exist; want exactly one (errors %v)", ok, countUsers(t, s), errs)
		}
	})
}
