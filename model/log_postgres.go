package model

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgPipelineRows is how many rows each of the PostgreSQL statements of
// one InsertLogs call carries. The statements go out in one pipeline (see
// insertLogsPipelined), so their number costs no round trip, and their
// size bounds how long sluice builds and encodes one without letting a
// request run: a 200-row statement was a stretch of 0.45-1.3 ms on the
// gateway's only core in a trace of the c=1 run, 50 rows a quarter of it.
const pgPipelineRows = 50

// markInsertPg writes a batch's FlushMark in its pipeline.
const markInsertPg = "INSERT INTO flush_marks (owner, seq, created_at) VALUES ($1, $2, $3)"

// logInsertStatement names the prepared INSERT on each connection.
const logInsertStatement = "sluice_insert_logs"

// insertLogsPipelined writes logs on PostgreSQL: statements of
// pgPipelineRows rows in a pipeline, then a Sync. Everything before a Sync
// is one implicit transaction, so the batch is written whole or not at
// all, as with BEGIN … COMMIT, without their round trips. Each statement
// is sent before the previous one's result is read: the server always has
// the next statement at hand, and the wait for a result, which parks the
// flush in the network poller, is where requests run.
//
// With a positive pause each statement is sent only once the previous
// one's result is in, and pause after it: the server executes the batch
// in stretches of one statement (about 0.5 ms for 50 rows) instead of one
// stretch for all (about 2 ms for 200). A database sharing a core with
// the gateway's clients or upstreams - as on the bench machine, where a
// bare mock's c=1 p99 rose from 0.15 to 1.7-1.9 ms beside the flush's
// INSERTs - then delays them by a statement, not by a batch.
func (s *Store) insertLogsPipelined(ctx context.Context, w *logInsert, m *FlushMark, logs []Log, pause time.Duration) error {
	db, err := s.LogDB.DB()
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(driverConn any) error {
		sc, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("log insert: PostgreSQL connection of unexpected type %T", driverConn)
		}
		c := sc.Conn()
		// Prepared once per connection: pgx keeps it by name.
		sd, err := c.Prepare(ctx, logInsertStatement, w.head)
		if err != nil {
			return err
		}
		p := c.PgConn().StartPipeline(ctx)
		var rejected error // the server's refusal of a statement
		// sent and got count the statements sent and the results read;
		// the mark's, if any, is the first. lag is how many statements may
		// await their results: a result is read once it has most likely
		// arrived, so reading it rarely parks the flush.
		sent, got, lag := 0, 0, 1
		read := func() error {
			err := statementResult(p)
			if got == 0 && m != nil && isDuplicateKey(err) {
				err = ErrAlreadyWritten
			}
			got++
			if err != nil && !isServerError(err) && !errors.Is(err, ErrAlreadyWritten) {
				_ = p.Close()
				return err
			}
			rejected = err
			return nil
		}
		if m != nil {
			p.SendQueryParams(markInsertPg, [][]byte{[]byte(m.Owner), strconv.AppendInt(nil, m.Seq, 10),
				strconv.AppendInt(nil, time.Now().Unix(), 10)}, nil, nil, nil)
			sent++
			if pause > 0 { // paced: each result is read before the next statement goes
				p.SendFlushRequest()
				if err := p.Flush(); err != nil {
					return err
				}
				if err := read(); err != nil {
					return err
				}
			} else {
				lag++ // the mark's result is read once the second statement is out
			}
		}
		yielded := time.Now()
		for i := 0; i < len(logs) && rejected == nil; i += w.rows {
			// Encoding and sending a statement is sluice's own CPU, on the
			// gateway's core like a request's: in a trace of the c=1 run
			// the flush held it 0.2-0.5 ms at a time, so it lets requests
			// in between statements as SQLite's flush does.
			yielded = yieldToRequests(yielded)
			p.SendQueryStatement(sd, w.encodeColumns(logs[i:min(i+w.rows, len(logs))]), pgBinaryFormats, nil)
			// Without a flush request the server would hold every
			// result back until the Sync.
			p.SendFlushRequest()
			if err := p.Flush(); err != nil {
				return err // the pipeline and the connection are closed
			}
			sent++
			if pause > 0 || sent-got > lag {
				if err := read(); err != nil {
					return err
				}
			}
			if pause > 0 && i+w.rows < len(logs) && rejected == nil {
				time.Sleep(pause)
			}
		}
		if err := p.Sync(); err != nil {
			return err
		}
		outcome := pipelineOutcome(p)
		if got == 0 && m != nil && isDuplicateKey(outcome) {
			outcome = ErrAlreadyWritten // the mark's result came last: a one-statement batch
		}
		return errors.Join(cmp.Or(rejected, outcome), p.Close())
	})
}

// statementResult waits for the next statement's result in p.
func statementResult(p *pgconn.Pipeline) error {
	res, err := p.GetResults()
	if err != nil {
		return err
	}
	r, ok := res.(*pgconn.ResultReader)
	if !ok {
		return fmt.Errorf("log insert: pipeline answered %T for a statement", res)
	}
	_, err = r.Close()
	return err
}

// isServerError tells a statement the server refused (the connection is
// fine and the pipeline goes on to its Sync) from a failed connection.
func isServerError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr)
}

// pipelineOutcome reads p's remaining results up to its Sync and returns
// the first error: after one, the server skips the statements that follow
// and rolls the transaction back at the Sync.
func pipelineOutcome(p *pgconn.Pipeline) error {
	var first error
	for {
		res, err := p.GetResults()
		if err != nil {
			if !isServerError(err) {
				return err
			}
			first = cmp.Or(first, err)
			continue
		}
		switch r := res.(type) {
		case *pgconn.ResultReader:
			if _, err := r.Close(); err != nil {
				first = cmp.Or(first, err)
			}
		case *pgconn.PipelineSync:
			return first
		case nil:
			return cmp.Or(first, errors.New("log insert: pipeline ended without its Sync"))
		}
	}
}
