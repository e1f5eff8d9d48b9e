package model

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// Log is one request or event record. Consume logs (type 2) carry the exact
// quota charged; their sum per user equals what the user was charged.
//
// Every request writes a row and every index costs a B-tree insert per row,
// while the list pages read rarely. On a 100,000-row table with 500 users
// active at once (BenchmarkInsertLogsSQLite100k), dropping the username
// index alone saved 45 % of InsertLogs' CPU, user_id 35 %, channel_id 21 %,
// created_at (always appended at the end) nothing. But on SQLite every
// statement shares one connection, so a list page that scans the table
// stalls the batch writer for as long as it runs. So the filters the pages
// need and that narrow the rows keep an index; the others do not (see
// droppedLogIndexes):
//   - user_id: every user's own log page filters on it;
//   - created_at: the time-range filters, the 60 s rate of SumLogs and the
//     retention delete (DeleteLogsBefore);
//   - username: the admin page's "logs of this user", the admin-side
//     counterpart of user_id, selective with more than a few users;
//   - channel_id: the admin page's "logs of this channel", the first look
//     at a failing channel; a small integer, so a cheap index. SQLite and
//     InnoDB keep the primary key in the index, so "channel = ? ORDER BY id
//     DESC LIMIT n" is read straight from it.
type Log struct {
	ID               int64  `json:"id" gorm:"primaryKey"`
	UserID           int    `json:"user_id" gorm:"index"`
	CreatedAt        int64  `json:"created_at" gorm:"index;autoCreateTime:false"`
	Type             int    `json:"type"`
	Content          string `json:"content" gorm:"type:text"`
	Username         string `json:"username" gorm:"size:64;index;default:''"`
	TokenName        string `json:"token_name" gorm:"size:128;default:''"`
	TokenID          int    `json:"token_id" gorm:"default:0"`
	ModelName        string `json:"model_name" gorm:"size:255;default:''"`
	Quota            int64  `json:"quota" gorm:"default:0"`
	PromptTokens     int    `json:"prompt_tokens" gorm:"default:0"`
	CompletionTokens int    `json:"completion_tokens" gorm:"default:0"`
	UseTime          int    `json:"use_time" gorm:"default:0"`
	IsStream         bool   `json:"is_stream"`
	ChannelID        int    `json:"channel" gorm:"column:channel_id;index"`
	Group            string `json:"group" gorm:"column:group;size:64"`
	RequestID        string `json:"request_id" gorm:"size:64"`
	Other            string `json:"other" gorm:"type:text"`
}

// droppedLogIndexes are indexes earlier versions created on logs, each a
// B-tree insert per request for a query that does not need it. AutoMigrate
// never drops an index, so dropLogIndexes does.
//   - type: five values, nearly every row a consume log (2): no selectivity;
//   - group: a handful of values: the same;
//   - token_id, request_id: no query filters on them (add the index with
//     the filter, if one comes);
//   - model_name: the filter is LIKE 'prefix%', which a plain B-tree index
//     serves on MySQL only: SQLite's LIKE is case-insensitive and
//     PostgreSQL's needs the C collation or text_pattern_ops, so both scan;
//     and a few popular models hold most rows;
//   - token_name: a user's page filters on user_id as well (indexed), and
//     key names repeat across users ("default"), so an admin search by key
//     name alone is rare and unselective.
var droppedLogIndexes = []string{
	"idx_logs_type", "idx_logs_group", "idx_logs_token_id", "idx_logs_request_id",
	"idx_logs_model_name", "idx_logs_token_name",
}

// dropLogIndexes drops droppedLogIndexes where they still exist, so running
// it again (every start) does nothing.
func dropLogIndexes(db *gorm.DB) error {
	m := db.Migrator()
	for _, name := range droppedLogIndexes {
		if !m.HasIndex(&Log{}, name) {
			continue
		}
		if err := m.DropIndex(&Log{}, name); err != nil {
			return fmt.Errorf("drop index %s on logs: %w", name, err)
		}
	}
	return nil
}

// LogFilter narrows ListLogs and SumLogs (CONTRACT.md's filters).
type LogFilter struct {
	UserID         int // 0: any user (admin view)
	Type           int
	Username       string
	TokenName      string
	ModelName      string
	ChannelID      int
	Group          string
	StartTimestamp int64
	EndTimestamp   int64
	Page           int
	PageSize       int
}

func (s *Store) logQuery(f LogFilter) *gorm.DB {
	q := s.LogDB.Model(&Log{})
	if f.UserID != 0 {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.Type != 0 {
		q = q.Where("type = ?", f.Type)
	}
	if f.Username != "" {
		q = q.Where("username = ?", f.Username)
	}
	if f.TokenName != "" {
		q = q.Where("token_name = ?", f.TokenName)
	}
	if f.ModelName != "" {
		q = q.Where("model_name LIKE ?", f.ModelName+"%")
	}
	if f.ChannelID != 0 {
		q = q.Where("channel_id = ?", f.ChannelID)
	}
	if f.Group != "" {
		q = q.Where(quoteCol(s.LogDB, "group")+" = ?", f.Group)
	}
	if f.StartTimestamp != 0 {
		q = q.Where("created_at >= ?", f.StartTimestamp)
	}
	if f.EndTimestamp != 0 {
		q = q.Where("created_at <= ?", f.EndTimestamp)
	}
	return q
}

// ListLogs returns one page of logs (newest first) and the total.
func (s *Store) ListLogs(f LogFilter) ([]Log, int64, error) {
	q := s.logQuery(f)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var logs []Log
	err := q.Order("id desc").Offset((f.Page - 1) * f.PageSize).Limit(f.PageSize).Find(&logs).Error
	return logs, total, err
}

// LogStat is the sum over filtered logs plus the recent rate.
type LogStat struct {
	Quota int64 `json:"quota"`
	RPM   int64 `json:"rpm"`
	TPM   int64 `json:"tpm"`
}

// SumLogs sums quota over the filtered consume logs and counts requests and
// tokens in the 60 s before now.
func (s *Store) SumLogs(f LogFilter, now int64) (LogStat, error) {
	var st LogStat
	f.Type = 2
	if err := s.logQuery(f).Select("COALESCE(SUM(quota),0)").Scan(&st.Quota).Error; err != nil {
		return st, err
	}
	recent := f
	recent.StartTimestamp, recent.EndTimestamp = now-60, now
	row := struct{ N, T int64 }{}
	err := s.logQuery(recent).Select("COUNT(*) AS n, COALESCE(SUM(prompt_tokens + completion_tokens),0) AS t").Scan(&row).Error
	st.RPM, st.TPM = row.N, row.T
	return st, err
}

// InsertLogs writes a batch of logs in one transaction: all or none. The
// database assigns the ids; the logs' ID fields are neither read nor set
// (nobody needs them after a batch insert, and reading them back would
// take a RETURNING clause and a result set per statement).
func (s *Store) InsertLogs(logs []Log) error {
	return s.InsertLogsMarked(context.Background(), nil, logs, 0)
}

// InsertLogsMarked is InsertLogs with the batch's mark (nil: none) in the
// same transaction, on a database server: ErrAlreadyWritten, and no log
// written, when an earlier try under that mark committed. ctx bounds the
// transaction on a database server (SQLite's statements run in this
// process and are not cut short). With a positive pause, PostgreSQL gets
// the batch's statements one at a time, each once the previous one is
// done: the server then works in short stretches instead of one
// (insertLogsPipelined). Still one transaction. Other databases ignore
// the pause.
func (s *Store) InsertLogsMarked(ctx context.Context, m *FlushMark, logs []Log, pause time.Duration) error {
	if len(logs) == 0 {
		return nil
	}
	if !marked(s.LogDB) {
		m = nil
	}
	w := newLogInsert(dialectOf(s.LogDB))
	if w.columns {
		return s.insertLogsPipelined(ctx, w, m, logs, pause)
	}
	if w.inProcess {
		if err := s.insertLogsSQLite(w.head, logs); !errors.Is(err, errNoSQLiteHandle) {
			return err
		}
	}
	return s.LogDB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := insertMark(tx, m); err != nil {
			return err
		}
		yielded := time.Now()
		for i := 0; i < len(logs); i += w.rows {
			if w.inProcess {
				yielded = yieldToRequests(yielded)
			}
			sql, args := w.build(logs[i:min(i+w.rows, len(logs))])
			if _, err := tx.Statement.ConnPool.ExecContext(tx.Statement.Context, sql, args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// LogsInProcess reports that the logs are written by an engine running in
// this process (SQLite), on the gateway's own cores.
func (s *Store) LogsInProcess() bool { return dialectOf(s.LogDB) == DialectSQLite }

// yieldToRequests lets requests run between the statements of a flush, a
// background job that can hold a core for milliseconds (the pure-Go SQLite
// engine runs in this process; on PostgreSQL, sluice encodes and sends
// each statement of the pipeline), and returns when it last let the
// network in. runtime.Gosched queues the flush behind every runnable goroutine, a
// fair share under load; but the scheduler only polls the network when it
// finds nothing runnable, and a yielding goroutine is always runnable, so an
// answer that arrived for a request (from the client or the upstream) sat
// in its socket until the flush ended or sysmon's poll (10 ms): p99 at c=1
// was 6-9 ms. So when Gosched comes straight back - nothing else wanted
// the core - the flush parks on a timer long enough to still be pending
// when the scheduler looks for work, which makes it poll. Under load
// Gosched comes back late and the flush does not park (a park per
// statement there gave the flush half the core: p99 at c=64 164 ms), but
// once a millisecond it parks regardless, so the network is polled even
// then.
//
// Two details come from a trace at c=1. The flush parks after every
// statement that nothing wanted to interrupt: parks spaced 250 µs apart,
// as before, let two statements run back to back while a request waited
// in its socket. And a goroutine woken by its timer runs next, ahead of
// those already queued: back from its park, the flush ran a statement
// while the request it had let in waited to send its upstream call, so it
// queues itself behind them once more. The parks cost CPU only when the
// core would otherwise idle.
func yieldToRequests(since time.Time) time.Time {
	before := time.Now()
	runtime.Gosched()
	now := time.Now()
	if now.Sub(before) > aloneWithin && now.Sub(since) < time.Millisecond {
		return since
	}
	time.Sleep(pollPark)
	runtime.Gosched()
	return time.Now()
}

const (
	// aloneWithin is how soon Gosched returns when no other goroutine ran.
	aloneWithin = 10 * time.Microsecond
	// pollPark outlasts the scheduler's way from the park to its network
	// poll; a timer already due there would be run instead of polling.
	pollPark = 50 * time.Microsecond
)

// logInsert builds InsertLogs' multi-row INSERT statements by hand.
// gorm's CreateInBatches spent its time in reflection and in reading the
// new ids back through RETURNING; the statements go straight to the
// transaction's connection, skipping gorm's rewriting of the SQL text too.
type logInsert struct {
	head      string // INSERT INTO logs (…) VALUES, or the whole statement (columns)
	rows      int    // rows per statement
	columns   bool   // one array per column, unpacked by unnest (PostgreSQL)
	inProcess bool   // the engine runs on our cores (SQLite): yield between statements
	buf       []byte
	args      []any
	values    [][]byte    // encodeColumns' parameters
	texts     [][7]string // encodeColumns' text columns, row by row
}

// logInsertCols lists the columns in the order a row is written: the
// integers first (literals in a VALUES list), then the seven strings, which
// are always bound. %s is the group column, a reserved word quoted per
// dialect.
const logInsertCols = "user_id,created_at,type,token_id,quota,prompt_tokens,completion_tokens,use_time,is_stream,channel_id," +
	"content,username,token_name,model_name,%s,request_id,other"

// Rows per INSERT statement. A statement is built (and on SQLite also
// executed) in one stretch of CPU that nothing interrupts: on a gateway
// with one core, a request whose bytes arrive meanwhile waits until the
// statement ends (the scheduler polls the network between statements,
// yieldToRequests).
const (
	// On SQLite the logs go in one at a time through a prepared statement
	// (insertLogsSQLite), and this is how many are written between two
	// yields to requests: about 0.3 ms. Where the driver's connection is
	// not the one insertLogsSQLite knows, it is the rows per statement as
	// before. Then parsing and compiling a statement costs about the same per
	// row whatever its length: by CPU time per 200 logs (the
	// BenchmarkInsertLogsSQLite pair), 15 to 50 rows measured alike, 100
	// up to 12 % and 200 up to 30 % more, as the driver's parameter scan
	// and SQLite's allocations grow with the statement. So the statements
	// are short, 16 rows, about 0.2 ms. Not shorter: 8 rows cost 37 % more
	// CPU per log (the same pair) for a c=1 p99 of 0.83-0.89 ms against
	// 0.96-1.06.
	sqliteLogRows = 16
	// On MySQL a 200-row statement is a burst of about 1 ms of sluice's
	// CPU, but each statement is a round trip, and at c=256, with the
	// database short of CPU, five per 200 logs did not keep up on
	// PostgreSQL: the unwritten logs reached their bound and 27,382
	// requests were refused. (PostgreSQL now pipelines statements of
	// pgPipelineRows.) 200 rows × 7 parameters stay well below the 65,535
	// placeholders MySQL allows in one statement.
	serverLogRows = 200
)

func newLogInsert(d Dialect) *logInsert {
	w := &logInsert{rows: serverLogRows}
	group := `"group"`
	switch d {
	case DialectSQLite:
		// The pure-Go SQLite driver finds each parameter by scanning the
		// statement's arguments, in time growing with the square of their
		// number, and it parses the statement again on every exec, so
		// nothing is gained by keeping its text stable. Integers written
		// as literals leave 7 parameters per row instead of 17.
		w.rows, w.inProcess = sqliteLogRows, true
	case DialectMySQL:
		// The MySQL driver prepares, executes and closes each statement
		// (it does not interpolate), so a varying text costs nothing more,
		// and literals cut the client's CPU per batch by almost half.
		group = "`group`"
	case DialectPostgres:
		// pgx caches a prepared statement per distinct SQL text, so the
		// text must not vary (literals would make every batch a new
		// statement). Bound row by row, 200 rows were 3,400 parameters,
		// each boxed into an interface and encoded through pgx's type
		// lookup: 15 µs of sluice's CPU per log. One array per column,
		// unpacked by unnest, is 17 parameters whatever the row count.
		// InsertLogs sends these statements in a pipeline
		// (insertLogsPipelined), pgPipelineRows rows each.
		w.columns, w.rows = true, pgPipelineRows
		w.head = "INSERT INTO logs (" + strings.Replace(logInsertCols, "%s", group, 1) + ") SELECT * FROM unnest(" +
			"$1::bigint[],$2::bigint[],$3::bigint[],$4::bigint[],$5::bigint[],$6::bigint[],$7::bigint[],$8::bigint[]," +
			"$9::boolean[],$10::bigint[],$11::text[],$12::text[],$13::text[],$14::text[],$15::text[],$16::text[],$17::text[])"
		return w
	}
	w.head = "INSERT INTO logs (" + strings.Replace(logInsertCols, "%s", group, 1) + ") VALUES "
	return w
}

// PostgreSQL's type OIDs of the array elements encodeColumns writes.
const (
	pgBoolOID = 16
	pgInt8OID = 20
	pgTextOID = 25
)

// encodeColumns encodes logs as the 17 parameters of the PostgreSQL
// statement (w.head), one array per column in logInsertCols' order, in
// PostgreSQL's binary array format, into w.buf; the result aliases it and
// is good until the next call. pgx's own encoding of these arrays went
// element by element, each string through its text codec into a buffer of
// its own: with the arrays built for it, a fifth of all sluice allocated
// at c=1, so a fifth of its collections, whose mark work holds the core
// in stretches of 0.2-0.4 ms. Binary integers also spare the server from
// parsing them out of text.
func (w *logInsert) encodeColumns(logs []Log) [][]byte {
	w.texts = slices.Grow(w.texts[:0], len(logs))
	for i := range logs {
		w.texts = append(w.texts, logTexts(&logs[i]))
	}
	var ends [17]int
	w.buf = w.buf[:0]
	for c := range 8 { // user_id … use_time
		w.buf = appendPgArray(w.buf, pgInt8OID, len(logs), func(b []byte, i int) []byte {
			return appendPgInt8(b, logInts(&logs[i])[c])
		})
		ends[c] = len(w.buf)
	}
	w.buf = appendPgArray(w.buf, pgBoolOID, len(logs), func(b []byte, i int) []byte {
		b = binary.BigEndian.AppendUint32(b, 1)
		if logs[i].IsStream {
			return append(b, 1)
		}
		return append(b, 0)
	})
	ends[8] = len(w.buf)
	w.buf = appendPgArray(w.buf, pgInt8OID, len(logs), func(b []byte, i int) []byte {
		return appendPgInt8(b, int64(logs[i].ChannelID))
	})
	ends[9] = len(w.buf)
	for c := range 7 {
		w.buf = appendPgArray(w.buf, pgTextOID, len(logs), func(b []byte, i int) []byte {
			t := w.texts[i][c]
			return append(binary.BigEndian.AppendUint32(b, uint32(len(t))), t...)
		})
		ends[10+c] = len(w.buf)
	}
	clear(w.texts) // let the logs' text go
	w.values = w.values[:0]
	start := 0
	for _, end := range ends {
		w.values = append(w.values, w.buf[start:end:end])
		start = end
	}
	return w.values
}

// pgBinaryFormats marks every one of encodeColumns' parameters binary.
var pgBinaryFormats = []int16{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}

// appendPgArray appends a one-dimensional array of n elements without
// NULLs in PostgreSQL's binary format: its header, then each element as
// elem appends it (length, then bytes).
func appendPgArray(b []byte, elemOID uint32, n int, elem func(b []byte, i int) []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, 1) // dimensions
	b = binary.BigEndian.AppendUint32(b, 0) // flags: no NULLs
	b = binary.BigEndian.AppendUint32(b, elemOID)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint32(b, 1) // lower bound
	for i := range n {
		b = elem(b, i)
	}
	return b
}

func appendPgInt8(b []byte, v int64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(v))
}

// logInts are l's integer columns: logInsertCols' first eight (user_id …
// use_time), then channel_id.
func logInts(l *Log) [9]int64 {
	return [9]int64{int64(l.UserID), l.CreatedAt, int64(l.Type), int64(l.TokenID), l.Quota,
		int64(l.PromptTokens), int64(l.CompletionTokens), int64(l.UseTime), int64(l.ChannelID)}
}

// logTexts are l's text columns in logInsertCols' order, fitted to them.
func logTexts(l *Log) [7]string {
	return [7]string{fitColumn(l.Content, 0), fitColumn(l.Username, 64), fitColumn(l.TokenName, 128),
		fitColumn(l.ModelName, 255), fitColumn(l.Group, 64), fitColumn(l.RequestID, 64), fitColumn(l.Other, 0)}
}

// build returns the statement writing logs (at most w.rows of them) and its
// arguments, on SQLite and MySQL. Both alias buffers that the next call
// reuses.
func (w *logInsert) build(logs []Log) (string, []any) {
	w.buf = append(w.buf[:0], w.head...)
	w.args = w.args[:0]
	for i := range logs {
		l := &logs[i]
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.buf = append(w.buf, '(')
		// An integer cannot carry SQL: as a literal it is as safe as a
		// bound parameter.
		ints := logInts(l)
		for _, n := range ints[:8] {
			w.buf = strconv.AppendInt(w.buf, n, 10)
			w.buf = append(w.buf, ',')
		}
		if l.IsStream {
			w.buf = append(w.buf, "TRUE,"...)
		} else {
			w.buf = append(w.buf, "FALSE,"...)
		}
		w.buf = strconv.AppendInt(w.buf, ints[8], 10)
		w.buf = append(w.buf, ",?,?,?,?,?,?,?)"...)
		for _, t := range logTexts(l) {
			w.args = append(w.args, t)
		}
	}
	return string(w.buf), w.args
}

// maxTextBytes is the most a text column holds everywhere (MySQL's TEXT).
const maxTextBytes = 65_535

// fitColumn makes s storable in a column of at most size characters (0: a
// text column, at most maxTextBytes bytes) on every database: cut to fit,
// invalid UTF-8 replaced and NUL removed (PostgreSQL refuses both in text).
// A log the database refused would fail its whole batch at every retry and
// block every log after it: model_name, for one, comes from the client's
// request body.
func fitColumn(s string, size int) string {
	if (size == 0 && len(s) <= maxTextBytes || len(s) <= size) && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s // the common case: no copy
	}
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if size == 0 {
		if len(s) > maxTextBytes {
			cut := maxTextBytes
			for cut > 0 && !utf8.RuneStart(s[cut]) {
				cut--
			}
			s = s[:cut]
		}
		return s
	}
	n := 0
	for i := range s {
		if n == size {
			return s[:i]
		}
		n++
	}
	return s
}
