// Package testdb gives each store test its own fresh database on SQLite,
// PostgreSQL and MySQL/MariaDB, so tests can run in parallel, in several
// packages at once and against servers that outlive the run, without ever
// sharing a fixed name.
//
// PostgreSQL and MySQL are reached through SLUICE_TEST_POSTGRES_DSN and
// SLUICE_TEST_MYSQL_DSN (ARCHITECTURE.md, "Testing"). When a variable is
// unset the test is skipped with a message naming it, unless
// SLUICE_REQUIRE_SERVICES=1, in which case the test fails: CI sets all of
// them, so a missing server there is an error rather than a silent skip.
package testdb

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"sluice/common"
	"sluice/internal/testenv"
	"sluice/model"
)

// Environment variables read by this package.
const (
	EnvPostgres = testenv.Postgres
	EnvMySQL    = testenv.MySQL
	EnvRequire  = testenv.Require
)

// Secret is the CRYPTO_SECRET of the stores built by Store.
const Secret = "test-secret"

// pool keeps each test database small: packages run in parallel and each
// runs its tests in parallel, and the servers' connection limits are shared.
var pool = model.PoolConfig{MaxIdle: 2, MaxOpen: 5, MaxLifetime: 5 * time.Minute}

// Dialects lists every dialect the store supports, SQLite first.
func Dialects() []model.Dialect {
	return []model.Dialect{model.DialectSQLite, model.DialectPostgres, model.DialectMySQL}
}

// Database is one freshly created, uniquely named database. It is dropped
// when the test that created it ends; Open may be called several times (to
// reconnect after a test closed a connection on purpose).
type Database struct {
	Dialect model.Dialect
	Name    string // the database's name (SQLite: the file's base name)
	DSN     string // empty for SQLite
	Path    string // SQLite file; empty otherwise
}

// Create makes a new empty database for tb, or skips (or fails) tb when the
// dialect's server is not configured. It registers the drop in tb.Cleanup.
func Create(tb testing.TB, d model.Dialect) Database {
	tb.Helper()
	name := "sluice_test_" + randomHex(8)
	switch d {
	case model.DialectSQLite:
		return Database{Dialect: d, Name: name, Path: filepath.Join(tb.TempDir(), name+".db")}
	case model.DialectPostgres:
		base := serverDSN(tb, EnvPostgres)
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			tb.Fatalf("testdb: %s must be a postgres:// URL, got %q", EnvPostgres, base)
		}
		admin(tb, base, "CREATE DATABASE "+name)
		tb.Cleanup(func() { admin(tb, base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
		u.Path = "/" + name
		return Database{Dialect: d, Name: name, DSN: u.String()}
	case model.DialectMySQL:
		base := serverDSN(tb, EnvMySQL)
		admin(tb, base, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4")
		tb.Cleanup(func() { admin(tb, base, "DROP DATABASE IF EXISTS `"+name+"`") })
		dsn, err := withMySQLDatabase(base, name)
		if err != nil {
			tb.Fatalf("testdb: %s: %v", EnvMySQL, err)
		}
		return Database{Dialect: d, Name: name, DSN: dsn}
	default:
		tb.Fatalf("testdb: unknown dialect %q", d)
		return Database{}
	}
}

// Open connects to the database with model.Open and closes the connection
// when tb ends (before the database is dropped).
func (db Database) Open(tb testing.TB) *gorm.DB {
	tb.Helper()
	g, err := model.Open(db.DSN, db.Path, pool)
	if err != nil {
		tb.Fatalf("testdb: open %s database %s: %v", db.Dialect, db.Name, err)
	}
	tb.Cleanup(func() {
		if sqlDB, err := g.DB(); err == nil {
			_ = sqlDB.Close() // closing an already closed *sql.DB is harmless
		}
	})
	return g
}

// Open returns a connection to a fresh, empty database of dialect d.
func Open(tb testing.TB, d model.Dialect) *gorm.DB {
	tb.Helper()
	return Create(tb, d).Open(tb)
}

// Cipher returns the cipher the stores built here use.
func Cipher(tb testing.TB) *common.Cipher {
	tb.Helper()
	c, err := common.NewCipher(Secret)
	if err != nil {
		tb.Fatalf("testdb: cipher: %v", err)
	}
	return c
}

// StoreOn wraps db (as both main and log database) in a migrated store.
func StoreOn(tb testing.TB, db *gorm.DB) *model.Store {
	tb.Helper()
	s := model.NewStore(db, db, Cipher(tb))
	if err := s.Migrate(); err != nil {
		tb.Fatalf("testdb: migrate: %v", err)
	}
	return s
}

// Store returns a migrated store over a fresh database of dialect d.
func Store(tb testing.TB, d model.Dialect) *model.Store {
	tb.Helper()
	return StoreOn(tb, Open(tb, d))
}

// DialectOf tells which dialect an open connection speaks.
func DialectOf(db *gorm.DB) model.Dialect {
	switch db.Dialector.Name() {
	case "postgres":
		return model.DialectPostgres
	case "mysql":
		return model.DialectMySQL
	default:
		return model.DialectSQLite
	}
}

// Quote quotes an identifier (a reserved word such as group or key) for raw
// SQL in db's dialect.
func Quote(db *gorm.DB, name string) string {
	if DialectOf(db) == model.DialectMySQL {
		return "`" + name + "`"
	}
	return `"` + name + `"`
}

// ForEach runs fn as one parallel subtest per dialect, each with its own
// fresh, empty database. fn must not call t.Parallel itself.
func ForEach(t *testing.T, fn func(t *testing.T, db *gorm.DB)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, Open(t, d))
		})
	}
}

// ForEachStore is ForEach with a migrated store instead of a bare database.
func ForEachStore(t *testing.T, fn func(t *testing.T, s *model.Store)) {
	t.Helper()
	ForEach(t, func(t *testing.T, db *gorm.DB) { fn(t, StoreOn(t, db)) })
}

// serverDSN reads a server's DSN from env, skipping or failing tb without it.
func serverDSN(tb testing.TB, env string) string {
	tb.Helper()
	return testenv.Lookup(tb, env)
}

// admin runs one statement on the server's base database.
func admin(tb testing.TB, dsn, stmt string) {
	tb.Helper()
	g, err := model.Open(dsn, "", model.PoolConfig{MaxIdle: 0, MaxOpen: 1})
	if err != nil {
		tb.Fatalf("testdb: connect for %q: %v", stmt, err)
	}
	defer func() {
		if sqlDB, err := g.DB(); err == nil {
			_ = sqlDB.Close()
		}
	}()
	if err := g.Exec(stmt).Error; err != nil {
		tb.Fatalf("testdb: %s: %v", stmt, err)
	}
}

// withMySQLDatabase replaces the database name in a go-sql-driver DSN
// ([user[:password]@][net[(addr)]]/dbname[?params]). Like the driver, it
// takes the last '/' as the start of the name, since a password or an
// address may contain one.
func withMySQLDatabase(dsn, name string) (string, error) {
	i := strings.LastIndexByte(dsn, '/')
	if i < 0 {
		return "", fmt.Errorf("no /dbname in DSN")
	}
	rest := dsn[i+1:]
	params := ""
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		params = rest[q:]
	}
	return dsn[:i+1] + name + params, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("testdb: crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// RejectLogContent makes the database refuse to insert a log whose content
// is content (a trigger: a real failure, below the store and gorm), and
// returns the function that lifts the ban.
func RejectLogContent(t *testing.T, db *gorm.DB, content string) (restore func()) {
	t.Helper()
	exec := func(stmts ...string) {
		t.Helper()
		for _, q := range stmts {
			if err := db.Exec(q).Error; err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	lit := "'" + strings.ReplaceAll(content, "'", "''") + "'"
	switch DialectOf(db) {
	case model.DialectSQLite:
		exec("CREATE TRIGGER reject_log BEFORE INSERT ON logs WHEN NEW.content = " + lit +
			" BEGIN SELECT RAISE(ABORT, 'log rejected by the test'); END")
		return func() { exec("DROP TRIGGER reject_log") }
	case model.DialectPostgres:
		exec("CREATE FUNCTION reject_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'log rejected by the test'; END $$",
			"CREATE TRIGGER reject_log BEFORE INSERT ON logs FOR EACH ROW WHEN (NEW.content = "+lit+") EXECUTE FUNCTION reject_log()")
		return func() { exec("DROP TRIGGER reject_log ON logs", "DROP FUNCTION reject_log()") }
	default:
		exec("CREATE TRIGGER reject_log BEFORE INSERT ON logs FOR EACH ROW BEGIN IF NEW.content = " + lit +
			" THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'log rejected by the test'; END IF; END")
		return func() { exec("DROP TRIGGER reject_log") }
	}
}

// RowsInFileAlone counts the rows of table in a copy of the SQLite
// database file without its WAL: what a checkpoint has copied in. -1 when
// the copy has no such table yet (the migration is still in the WAL).
func RowsInFileAlone(tb testing.TB, path, table string) int64 {
	tb.Helper()
	src, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	copyPath := filepath.Join(tb.TempDir(), "copy.db")
	dst, err := os.Create(copyPath)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		tb.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		tb.Fatal(err)
	}
	db := Database{Dialect: model.DialectSQLite, Name: "copy", Path: copyPath}.Open(tb)
	var n int64
	if err := db.Table(table).Count(&n).Error; err != nil {
		return -1
	}
	return n
}
