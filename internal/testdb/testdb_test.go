package testdb

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"sluice/model"
)

func TestWithMySQLDatabase(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"root@tcp(127.0.0.1:3306)/test?parseTime=true", "root@tcp(127.0.0.1:3306)/x?parseTime=true"},
		{"root@tcp(127.0.0.1:3306)/test", "root@tcp(127.0.0.1:3306)/x"},
		{"root@tcp(127.0.0.1:3306)/", "root@tcp(127.0.0.1:3306)/x"},
		{"u:pa/ss@unix(/run/mysqld/mysqld.sock)/db?a=1&b=2", "u:pa/ss@unix(/run/mysqld/mysqld.sock)/x?a=1&b=2"},
	}
	for _, tc := range cases {
		got, err := withMySQLDatabase(tc.in, "x")
		if err != nil || got != tc.want {
			t.Errorf("withMySQLDatabase(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := withMySQLDatabase("no-slash", "x"); err == nil {
		t.Errorf("a DSN without /dbname was accepted")
	}
}

// exists asks the server whether a database is still there.
func exists(t *testing.T, db Database) bool {
	t.Helper()
	switch db.Dialect {
	case model.DialectSQLite:
		_, err := os.Stat(db.Path)
		return err == nil
	case model.DialectPostgres:
		return count(t, os.Getenv(EnvPostgres), "SELECT COUNT(*) FROM pg_database WHERE datname = ?", db.Name) > 0
	default:
		return count(t, os.Getenv(EnvMySQL), "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", db.Name) > 0
	}
}

func count(t *testing.T, dsn, q string, args ...any) int64 {
	t.Helper()
	g, err := model.Open(dsn, "", model.PoolConfig{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if s, err := g.DB(); err == nil {
			_ = s.Close()
		}
	}()
	var n int64
	if err := g.Raw(q, args...).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// Each test gets a database of its own that is usable, isolated from a
// sibling's, and gone once the test ends.
func TestCreateUseDrop(t *testing.T) {
	t.Parallel()
	for _, d := range Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			var first, second Database
			t.Run("use", func(t *testing.T) {
				first, second = Create(t, d), Create(t, d)
				if first.Name == second.Name || !strings.HasPrefix(first.Name, "sluice_test_") {
					t.Fatalf("names %q and %q", first.Name, second.Name)
				}
				s1, s2 := StoreOn(t, first.Open(t)), StoreOn(t, second.Open(t))
				if DialectOf(s1.DB) != d {
					t.Fatalf("opened %s, want %s", DialectOf(s1.DB), d)
				}
				if err := s1.SaveOption("k", "v"); err != nil {
					t.Fatal(err)
				}
				if all, err := s2.AllOptions(); err != nil || len(all) != 0 {
					t.Fatalf("second database sees the first's rows: %v, %v", all, err)
				}
				// Reopening reaches the same database.
				again := first.Open(t)
				var n int64
				if err := again.Raw("SELECT COUNT(*) FROM options").Scan(&n).Error; err != nil || n != 1 {
					t.Fatalf("reopened database: %d rows, %v", n, err)
				}
				if !exists(t, first) {
					t.Fatalf("database %s not found while in use", first.Name)
				}
			})
			if t.Failed() || first.Name == "" {
				return // skipped or failed before creating
			}
			if exists(t, first) || exists(t, second) {
				t.Errorf("databases %s / %s still exist after their test ended", first.Name, second.Name)
			}
		})
	}
}

// fakeTB records Skip and Fatal instead of ending the real test.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func run(tb testing.TB, f func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(tb)
	}()
	<-done
}

// Not parallel: it changes the environment.
func TestMissingServer(t *testing.T) {
	for _, tc := range []struct {
		require    string
		skip, fail bool
	}{
		{"", true, false},
		{"0", true, false},
		{"1", false, true},
	} {
		for _, d := range []model.Dialect{model.DialectPostgres, model.DialectMySQL} {
			env := EnvPostgres
			if d == model.DialectMySQL {
				env = EnvMySQL
			}
			t.Setenv(env, "")
			t.Setenv(EnvRequire, tc.require)
			f := &fakeTB{TB: t}
			run(f, func(tb testing.TB) { Create(tb, d) })
			if f.skipped != tc.skip || f.failed != tc.fail || !strings.Contains(f.msg, env) {
				t.Errorf("%s with %s=%q: skipped %v, failed %v, message %q; want skip %v, fail %v, naming %s",
					d, EnvRequire, tc.require, f.skipped, f.failed, f.msg, tc.skip, tc.fail, env)
			}
		}
	}
}
