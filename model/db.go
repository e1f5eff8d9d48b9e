// Package model holds the gorm models, every SQL statement, and the cached
// in-memory views of users, keys, channels and abilities that the hot path
// reads instead of the database.
package model

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialect names the SQL flavour behind a *gorm.DB.
type Dialect string

// Supported dialects.
const (
	DialectSQLite   Dialect = "sqlite"
	DialectMySQL    Dialect = "mysql"
	DialectPostgres Dialect = "postgres"
)

// PoolConfig sizes the database connection pool.
type PoolConfig struct {
	MaxIdle     int
	MaxOpen     int
	MaxLifetime time.Duration
}

// DialectOf tells which database a DSN selects (CONTRACT.md: postgres:// or
// postgresql:// is PostgreSQL, any other non-empty value MySQL, empty SQLite).
func DialectOf(dsn string) Dialect {
	switch {
	case dsn == "":
		return DialectSQLite
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return DialectPostgres
	default:
		return DialectMySQL
	}
}

// Open connects to the database a DSN names (SQLite at sqlitePath when dsn
// is empty) and sizes its pool.
func Open(dsn, sqlitePath string, pool PoolConfig) (*gorm.DB, error) {
	gcfg := &gorm.Config{
		Logger:                 logger.Default.LogMode(logger.Silent),
		SkipDefaultTransaction: true,
		PrepareStmt:            false,
	}
	var (
		db  *gorm.DB
		err error
	)
	switch DialectOf(dsn) {
	case DialectSQLite:
		if dir := filepath.Dir(sqlitePath); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("create sqlite directory: %w", err)
			}
		}
		keepSQLiteHeapMapped()
		// WAL lets readers run beside the writer; the busy timeout makes a
		// second writer wait instead of failing with "database is locked".
		// Checkpoints (WAL into the database) are the batch writer's, after
		// each flush, with a spare P (Store.CheckpointWAL). SQLite's own, in
		// whichever commit grows the WAL past 40,000 pages (160 MB; 1,000 by
		// default), are only the backstop: a flush of 40,000 logs fills
		// about 9,000.
		full := "file:" + sqlitePath + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(40000)&_pragma=foreign_keys(0)&_txlock=immediate"
		db, err = gorm.Open(sqlite.Open(full), gcfg)
	case DialectPostgres:
		db, err = gorm.Open(postgres.New(postgres.Config{DSN: dsn}), gcfg)
	default:
		if !strings.Contains(dsn, "parseTime") {
			sep := "?"
			if strings.Contains(dsn, "?") {
				sep = "&"
			}
			dsn += sep + "parseTime=true"
		}
		db, err = gorm.Open(mysql.Open(dsn), gcfg)
	}
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	if DialectOf(dsn) == DialectSQLite {
		// SQLite allows one writer at a time; funnelling every statement
		// through one connection serialises writes inside the process, so
		// the batch writer never loses a commit to SQLITE_BUSY.
		sqlDB.SetMaxOpenConns(1)
	} else {
		sqlDB.SetMaxIdleConns(pool.MaxIdle)
		sqlDB.SetMaxOpenConns(pool.MaxOpen)
		sqlDB.SetConnMaxLifetime(pool.MaxLifetime)
	}
	if err := sqlDB.Ping(); err != nil {
		return nil, fmt.Errorf("ping database: %w", err)
	}
	return db, nil
}

// Migrate creates or updates the main tables.
func Migrate(db *gorm.DB) error {
	return db.AutoMigrate(&User{}, &Token{}, &Channel{}, &Ability{}, &Option{}, &Redemption{}, &QuotaData{}, &FlushMark{})
}

// MigrateLogs creates or updates the log tables (possibly in LOG_SQL_DSN)
// and drops the log indexes earlier versions created and this one does not
// use (AutoMigrate never drops an index).
func MigrateLogs(db *gorm.DB) error {
	if err := db.AutoMigrate(&Log{}, &FlushMark{}); err != nil {
		return err
	}
	return dropLogIndexes(db)
}

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

func notFound(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	return err
}

// dialectOf reports the dialect of an open connection.
func dialectOf(db *gorm.DB) Dialect {
	switch db.Dialector.Name() {
	case "postgres":
		return DialectPostgres
	case "mysql":
		return DialectMySQL
	default:
		return DialectSQLite
	}
}

// quoteCol quotes a column name that is a reserved word (`group`, `key`)
// for raw WHERE clauses in the connection's dialect.
func quoteCol(db *gorm.DB, name string) string {
	if dialectOf(db) == DialectMySQL {
		return "`" + name + "`"
	}
	return `"` + name + `"`
}
