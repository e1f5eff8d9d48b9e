package model

import (
	"context"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite log inserts go through the engine's own API: one single-row INSERT
// prepared once per batch, each log bound to it and stepped.
//
// The driver (github.com/glebarez/go-sqlite) keeps no prepared statement:
// every exec parses its SQL again, and SQLite's parser, compiled to Go,
// cost more than the inserting. A CPU profile of sluice on SQLite at c=16
// put the parse of the flush's multi-row VALUES statements at 9.6 % of the
// whole process and their execution at 7.6 %. The driver's own handle is
// used, on the connection database/sql lends (Conn.Raw), so the inserts
// share its locks, pragmas and busy timeout.

// sqliteConnHandle returns the engine's connection handle and thread state
// held by a connection of the pinned driver, whose unexported conn starts
// with them (db uintptr, tls *libc.TLS). The layout is checked by
// reflection first: a driver whose conn differs gets ok false, and its logs
// go through plain statements.
func sqliteConnHandle(driverConn any) (db uintptr, tls *libc.TLS, ok bool) {
	v := reflect.ValueOf(driverConn)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return 0, nil, false
	}
	t := v.Elem().Type()
	if t.PkgPath() != "github.com/glebarez/go-sqlite" || t.Name() != "conn" || t.NumField() < 2 {
		return 0, nil, false
	}
	f0, f1 := t.Field(0), t.Field(1)
	if f0.Name != "db" || f0.Type.Kind() != reflect.Uintptr || f0.Offset != 0 ||
		f1.Name != "tls" || f1.Type != reflect.TypeFor[*libc.TLS]() {
		return 0, nil, false
	}
	head := (*struct {
		db  uintptr
		tls *libc.TLS
	})(v.UnsafePointer())
	if head.db == 0 || head.tls == nil || unsafe.Offsetof(head.tls) != f1.Offset {
		return 0, nil, false
	}
	return head.db, head.tls, true
}

// errNoSQLiteHandle reports a connection sqliteConnHandle cannot read.
var errNoSQLiteHandle = errors.New("no SQLite handle in this driver's connection")

// insertLogsSQLite writes logs in one transaction through the engine's API
// on one of s.LogDB's connections, one row at a time after head (logInsert's
// "INSERT INTO logs (…) VALUES "), letting requests run every
// sqliteLogRows logs (yieldToRequests). It returns errNoSQLiteHandle,
// having written nothing, when it cannot reach a driver's connection it
// knows.
func (s *Store) insertLogsSQLite(head string, logs []Log) error {
	sqlDB, err := s.LogDB.DB()
	if err != nil {
		return fmt.Errorf("%w: %v", errNoSQLiteHandle, err) // a pool gorm cannot unwrap: plain statements
	}
	conn, err := sqlDB.Conn(context.Background())
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(driverConn any) error {
		db, tls, ok := sqliteConnHandle(driverConn)
		if !ok {
			return errNoSQLiteHandle
		}
		e := &sqliteEngine{tls: tls, db: db}
		err := e.insertLogs(head, logs)
		if sqlite3.Xsqlite3_get_autocommit(tls, db) == 0 {
			// A transaction left open (its ROLLBACK failed too) must not
			// reach the next user of this connection: database/sql drops
			// a connection reported bad.
			return errors.Join(err, driver.ErrBadConn)
		}
		return err
	})
}

// sqliteEngine calls the engine's API on one connection.
type sqliteEngine struct {
	tls *libc.TLS
	db  uintptr
}

// insertLogs is insertLogsSQLite's transaction: one prepared single-row
// INSERT stepped per log, requests let in every sqliteLogRows logs
// (yieldToRequests). A prepared statement of sqliteLogRows rows measured
// the same CPU, so the simpler one.
func (e *sqliteEngine) insertLogs(head string, logs []Log) (err error) {
	if err := e.exec("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err == nil {
			err = e.exec("COMMIT")
		}
		if err != nil {
			err = errors.Join(err, e.exec("ROLLBACK"))
		}
	}()
	stmt, err := e.prepare(head + "(" + strings.Repeat("?,", logColumns-1) + "?)")
	if err != nil {
		return err
	}
	defer sqlite3.Xsqlite3_finalize(e.tls, stmt)
	texts := &sqliteTextBuffer{}
	yielded := time.Now()
	for i := range logs {
		if i > 0 && i%sqliteLogRows == 0 {
			yielded = yieldToRequests(yielded)
		}
		if err := e.insertLog(stmt, texts, &logs[i]); err != nil {
			return err
		}
	}
	return nil
}

// logColumns is how many columns logInsertCols lists.
const logColumns = 17

// insertLog binds l to stmt, in logInsertCols' order, and steps it.
func (e *sqliteEngine) insertLog(stmt uintptr, texts *sqliteTextBuffer, l *Log) error {
	ints := logInts(l)
	isStream := int64(0)
	if l.IsStream {
		isStream = 1
	}
	values := [10]int64{ints[0], ints[1], ints[2], ints[3], ints[4], ints[5], ints[6], ints[7], isStream, ints[8]}
	for i, n := range values {
		if rc := sqlite3.Xsqlite3_bind_int64(e.tls, stmt, int32(i+1), n); rc != sqlite3.SQLITE_OK {
			return e.error(rc, "bind")
		}
	}
	c, bound, err := texts.fill(l)
	if err != nil {
		return err
	}
	defer libc.Xfree(e.tls, c)
	for i, t := range bound {
		// Static: the copy stays as it is until the statement has stepped.
		if rc := sqlite3.Xsqlite3_bind_text(e.tls, stmt, int32(len(values)+i+1), t.p, t.n, 0); rc != sqlite3.SQLITE_OK {
			return e.error(rc, "bind")
		}
	}
	rc := sqlite3.Xsqlite3_step(e.tls, stmt)
	// reset returns the step's error again; the step's code says it.
	sqlite3.Xsqlite3_reset(e.tls, stmt)
	if rc != sqlite3.SQLITE_DONE {
		return e.error(rc, "insert log")
	}
	return nil
}

// prepare compiles sql into a statement the caller finalizes.
func (e *sqliteEngine) prepare(sql string) (uintptr, error) {
	csql, err := libc.CString(sql)
	if err != nil {
		return 0, err
	}
	defer libc.Xfree(e.tls, csql)
	const ptrSize = int(unsafe.Sizeof(uintptr(0)))
	out := e.tls.Alloc(ptrSize)
	defer e.tls.Free(ptrSize)
	if rc := sqlite3.Xsqlite3_prepare_v2(e.tls, e.db, csql, -1, out, 0); rc != sqlite3.SQLITE_OK {
		return 0, e.error(rc, "prepare")
	}
	b := libc.GoBytes(out, ptrSize)
	if ptrSize == 8 {
		return uintptr(binary.NativeEndian.Uint64(b)), nil
	}
	return uintptr(binary.NativeEndian.Uint32(b)), nil
}

// exec runs sql, a statement without parameters or results.
func (e *sqliteEngine) exec(sql string) error {
	csql, err := libc.CString(sql)
	if err != nil {
		return err
	}
	defer libc.Xfree(e.tls, csql)
	if rc := sqlite3.Xsqlite3_exec(e.tls, e.db, csql, 0, 0, 0); rc != sqlite3.SQLITE_OK {
		return e.error(rc, sql)
	}
	return nil
}

// error is the engine's message for rc, the way the driver words it.
func (e *sqliteEngine) error(rc int32, doing string) error {
	return fmt.Errorf("sqlite %s: %s: %s (%d)", doing, libc.GoString(sqlite3.Xsqlite3_errstr(e.tls, rc)),
		libc.GoString(sqlite3.Xsqlite3_errmsg(e.tls, e.db)), rc)
}

// sqliteTextBuffer gathers one log's texts for one copy into the engine's
// heap. The engine reads a bound text by its address, and only there may
// an address point: Go memory handed over as a number would be read
// behind the collector's back (the race detector's pointer checks stop
// the program on it).
type sqliteTextBuffer struct{ buf []byte }

// sqliteText is where one bound text starts and how long it is.
type sqliteText struct {
	p uintptr
	n int32
}

// fill copies l's texts (logTexts) into one block of the engine's heap,
// which the caller frees once the statement has stepped, and returns it
// and where each text starts.
func (b *sqliteTextBuffer) fill(l *Log) (uintptr, [7]sqliteText, error) {
	texts := logTexts(l)
	b.buf = b.buf[:0]
	for _, s := range texts {
		b.buf = append(b.buf, s...)
	}
	var out [7]sqliteText
	// CString copies the bytes and reads nothing after it returns.
	c, err := libc.CString(unsafe.String(unsafe.SliceData(b.buf), len(b.buf)))
	if err != nil {
		return 0, out, err
	}
	off := uintptr(0)
	for i, s := range texts {
		out[i] = sqliteText{p: c + off, n: int32(len(s))}
		off += uintptr(len(s))
	}
	return c, out, nil
}
