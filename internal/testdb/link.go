package testdb

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"sluice/model"
)

// Link sits between a store and its database server and fails the way a
// network does: it can lose the answer to a commit (the server gets the
// commit and commits, and the client sees its connection drop instead of
// the answer — a failover, a proxy restart or a network cut at the wrong
// moment), or hang (the server hears nothing more, nobody hears back, and
// no connection is closed).
type Link struct {
	dialect model.Dialect
	// armed counts down the commits still to pass before the one whose
	// answer is lost (0: none is).
	armed atomic.Int64
	lost  atomic.Int64
	hung  atomic.Bool
}

// LoseCommitAck arms l: the nth commit from now (1: the next) is made and
// its answer lost. A commit is an explicit COMMIT, or on PostgreSQL the
// Sync that ends a pipeline of the store's log INSERTs (one implicit
// transaction).
func (l *Link) LoseCommitAck(nth int) { l.armed.Store(int64(nth)) }

// Hang makes l swallow everything clients send from now on, on every
// connection, new ones included, until Resume.
func (l *Link) Hang() { l.hung.Store(true) }

// Resume ends Hang: what clients send reaches the server again (clients
// drop the connections they gave up on meanwhile).
func (l *Link) Resume() { l.hung.Store(false) }

// Lost reports how many answers l has lost.
func (l *Link) Lost() int { return int(l.lost.Load()) }

// OpenThroughLink connects to db (PostgreSQL or MySQL) through a Link,
// closed when tb ends.
func (db Database) OpenThroughLink(tb testing.TB) (*gorm.DB, *Link) {
	tb.Helper()
	l := &Link{dialect: db.Dialect}
	via := db
	switch db.Dialect {
	case model.DialectPostgres:
		u, err := url.Parse(db.DSN)
		if err != nil {
			tb.Fatal(err)
		}
		u.Host = l.listen(tb, u.Host)
		via.DSN = u.String()
	case model.DialectMySQL:
		cfg, err := mysql.ParseDSN(db.DSN)
		if err != nil {
			tb.Fatal(err)
		}
		cfg.Addr = l.listen(tb, cfg.Addr)
		via.DSN = cfg.FormatDSN()
	default:
		tb.Fatalf("testdb: no Link for %s", db.Dialect)
	}
	return via.Open(tb), l
}

// listen starts the proxy to server and returns its address.
func (l *Link) listen(tb testing.TB, server string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", server)
			if err != nil {
				_ = client.Close()
				continue
			}
			wg.Add(1)
			go func() { defer wg.Done(); l.relay(client, up) }()
		}
	}()
	return ln.Addr().String()
}

// relay pumps one connection both ways until either side ends or a
// commit's answer is to be lost.
func (l *Link) relay(client, up net.Conn) {
	var swallow atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 32<<10)
		for {
			n, err := up.Read(buf)
			if n > 0 && swallow.Load() {
				l.lost.Add(1)
				break // the commit's answer: dropped with the connection
			}
			if n > 0 {
				if _, werr := client.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		_ = client.Close()
		_ = up.Close()
	}()
	commit := l.pgCommits
	if l.dialect == model.DialectMySQL {
		commit = l.mysqlCommits
	}
	commit(client, up, func() bool {
		if l.armed.Load() > 0 && l.armed.Add(-1) == 0 {
			swallow.Store(true)
			return true
		}
		return false
	})
	if !swallow.Load() { // the client went: so does the server's side
		_ = up.Close()
	}
	<-done
}

// pgCommits forwards the client's PostgreSQL messages to up, calling
// commit after each one that commits; it stops forwarding once commit
// returns true.
func (l *Link) pgCommits(client io.Reader, up io.Writer, commit func() bool) {
	// Untyped start-up messages first: SSL or GSS encryption requests,
	// which the server refuses with one byte, then the startup message.
	for {
		msg, err := readN(client, 4, func(h []byte) int { return int(binary.BigEndian.Uint32(h)) - 4 })
		if err != nil || writeAll(up, msg) != nil {
			return
		}
		if code := binary.BigEndian.Uint32(msg[4:8]); code != 80877103 && code != 80877104 {
			break
		}
	}
	logsBound := false
	for {
		msg, err := l.pass(client, up, 5, func(h []byte) int { return int(binary.BigEndian.Uint32(h[1:])) - 4 })
		if err != nil {
			return
		}
		if msg == nil {
			continue
		}
		body := msg[5:]
		committed := false
		switch msg[0] {
		case 'Q': // simple query: the transactions' COMMIT
			committed = strings.EqualFold(strings.TrimSpace(string(bytes.TrimRight(body, "\x00"))), "commit")
		case 'B': // bind: portal name, then statement name
			if _, rest, ok := bytes.Cut(body, []byte{0}); ok && bytes.HasPrefix(rest, []byte("sluice_insert_logs\x00")) {
				logsBound = true
			}
		case 'S': // sync: ends a pipeline's implicit transaction
			committed, logsBound = logsBound, false
		}
		if committed && commit() {
			return
		}
	}
}

// mysqlCommits is pgCommits for MySQL's packets (a COM_QUERY "COMMIT").
func (l *Link) mysqlCommits(client io.Reader, up io.Writer, commit func() bool) {
	for {
		msg, err := l.pass(client, up, 4, func(h []byte) int { return int(h[0]) | int(h[1])<<8 | int(h[2])<<16 })
		if err != nil {
			return
		}
		if msg == nil {
			continue
		}
		body := msg[4:]
		if len(body) > 0 && body[0] == 0x03 && strings.EqualFold(strings.TrimSpace(string(body[1:])), "commit") && commit() {
			return
		}
	}
}

// pass reads one client message (readN's header and size) and sends it on
// to the server, unless l hangs: then it returns a nil message, swallowed.
func (l *Link) pass(client io.Reader, up io.Writer, header int, size func(h []byte) int) ([]byte, error) {
	msg, err := readN(client, header, size)
	if err != nil || l.hung.Load() {
		return nil, err
	}
	return msg, writeAll(up, msg)
}

// readN reads one message: a header of n bytes, then as many more as size
// says the header announces.
func readN(r io.Reader, n int, size func(h []byte) int) ([]byte, error) {
	h := make([]byte, n)
	if _, err := io.ReadFull(r, h); err != nil {
		return nil, err
	}
	rest := size(h)
	if rest < 0 || rest > 64<<20 {
		return nil, io.ErrUnexpectedEOF
	}
	msg := append(h, make([]byte, rest)...)
	_, err := io.ReadFull(r, msg[n:])
	return msg, err
}

func writeAll(w io.Writer, b []byte) error {
	_, err := w.Write(b)
	return err
}
