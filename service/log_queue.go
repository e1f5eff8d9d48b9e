package service

import (
	"math"
	"strings"

	"sluice/model"
)

// logQueue holds the logs waiting for the next flush with no pointer in
// them: the integers in fixed records and every text in byte arenas.
// Queued as model.Log values, each log was eight objects for the collector
// to trace (its seven strings and its place in a slice of pointers), every
// cycle, for as long as it waited: at 12,000 requests/s and a one-second
// flush interval, 35,000 of the heap's 41,000 live objects, and five times
// as many at the default five-second interval.
//
// Records and texts are kept in fixed-size blocks, not in two growing
// arrays. A growing array doubles by copying all it holds into memory the
// process has not touched yet, on the goroutine settling a request: at the
// default interval a lone client's queue reached 23,000 logs, and each
// doubling of the text arena held the gateway's one P for 10-28 ms (an
// execution trace: the settle goroutine ran in logQueue.push while the
// next request waited), most of it page faults, which cost 13 µs per 4 KiB
// page on the bench VM. A block is allocated once and kept across
// flushes, so a push never copies what is queued.
type logQueue struct {
	recs  [][]queuedLog // full blocks of queuedRecBlock, then the one being filled
	n     int           // logs queued
	text  [][]byte      // arenas; a log's texts are consecutive in one of them
	inUse int           // arenas holding this queue's texts: text[:inUse]
}

// queuedLog is a model.Log without its texts, which are consecutive in
// arena text[arena] from at: Content, Username, TokenName, ModelName,
// Group, RequestID, Other.
type queuedLog struct {
	userID, createdAt, typ, tokenID, quota, promptTokens, completionTokens, useTime, channelID int64

	isStream bool
	arena    uint32
	at       uint32
	lens     [queuedTexts]uint32
}

const queuedTexts = 7

// queuedRecBlock records (112 bytes each) make a block of 112 KiB, and
// queuedTextBlock is an arena's size unless one log's texts need more:
// small enough that a new block costs a few dozen page faults, large
// enough that a busy interval needs few blocks for the collector to mark
// (50,000 logs: some 50 blocks and 120 arenas).
const (
	queuedRecBlock  = 1024
	queuedTextBlock = 128 << 10
)

func (q *logQueue) len() int { return q.n }

// capacity is what q keeps allocated: records and text bytes.
func (q *logQueue) capacity() (recs, text int) {
	for _, a := range q.text {
		text += cap(a)
	}
	return len(q.recs) * queuedRecBlock, text
}

func (r *queuedLog) textLen() int {
	n := 0
	for _, l := range r.lens {
		n += int(l)
	}
	return n
}

func (q *logQueue) rec(i int) *queuedLog {
	return &q.recs[i/queuedRecBlock][i%queuedRecBlock]
}

// push queues a copy of l.
func (q *logQueue) push(l *model.Log) {
	texts := [queuedTexts]string{l.Content, l.Username, l.TokenName, l.ModelName, l.Group, l.RequestID, l.Other}
	need := 0
	for i, t := range texts {
		// The database keeps at most 64 KiB of a text (model.fitColumn
		// cuts it there, on a character boundary, when it is written), so
		// a first cut at 4 GiB changes nothing that is stored.
		texts[i] = t[:min(len(t), math.MaxUint32)]
		need += len(texts[i])
	}
	arena := q.arenaFor(need)
	r := queuedLog{userID: int64(l.UserID), createdAt: l.CreatedAt, typ: int64(l.Type), tokenID: int64(l.TokenID),
		quota: l.Quota, promptTokens: int64(l.PromptTokens), completionTokens: int64(l.CompletionTokens),
		useTime: int64(l.UseTime), channelID: int64(l.ChannelID), isStream: l.IsStream,
		arena: uint32(arena), at: uint32(len(q.text[arena]))}
	for i, t := range texts {
		q.text[arena] = append(q.text[arena], t...)
		r.lens[i] = uint32(len(t))
	}
	q.add(r)
}

// add appends r, whose texts are in place.
func (q *logQueue) add(r queuedLog) {
	b := q.n / queuedRecBlock
	if b == len(q.recs) {
		q.recs = append(q.recs, make([]queuedLog, 0, queuedRecBlock))
	}
	q.recs[b] = append(q.recs[b], r)
	q.n++
}

// arenaFor returns the arena the next log's need bytes of text go in: the
// current one while they fit, else the next kept one, else a new one. A
// log's texts never straddle two arenas, so an arena made for one log of
// more than queuedTextBlock is that log's alone (reset drops it), and every
// other offset stays below queuedTextBlock.
func (q *logQueue) arenaFor(need int) int {
	if q.inUse > 0 {
		if cur := q.text[q.inUse-1]; cap(cur)-len(cur) >= need {
			return q.inUse - 1
		}
	}
	if q.inUse == len(q.text) {
		q.text = append(q.text, nil)
	}
	if cap(q.text[q.inUse]) < max(need, 1) {
		q.text[q.inUse] = make([]byte, 0, max(queuedTextBlock, need))
	}
	q.inUse++
	return q.inUse - 1
}

// logs returns queued logs [from, to) as model.Log values, appended to
// dst[:0]. Their texts are substrings of one string copied from the
// arenas, so they stay valid whatever the queue does next.
func (q *logQueue) logs(from, to int, dst []model.Log) []model.Log {
	dst = dst[:0]
	if from >= to {
		return dst
	}
	size := 0
	for i := from; i < to; i++ {
		size += q.rec(i).textLen()
	}
	var b strings.Builder
	b.Grow(size)
	for i := from; i < to; i++ {
		r := q.rec(i)
		b.Write(q.text[r.arena][r.at : int(r.at)+r.textLen()])
	}
	text := b.String()
	at := 0
	for i := from; i < to; i++ {
		r := q.rec(i)
		var t [queuedTexts]string
		for k, n := range r.lens {
			t[k] = text[at : at+int(n)]
			at += int(n)
		}
		dst = append(dst, model.Log{UserID: int(r.userID), CreatedAt: r.createdAt, Type: int(r.typ),
			TokenID: int(r.tokenID), Quota: r.quota, PromptTokens: int(r.promptTokens),
			CompletionTokens: int(r.completionTokens), UseTime: int(r.useTime), ChannelID: int(r.channelID),
			IsStream: r.isStream, Content: t[0], Username: t[1], TokenName: t[2], ModelName: t[3], Group: t[4],
			RequestID: t[5], Other: t[6]})
	}
	return dst
}

// appendFrom appends src's logs from index from on.
func (q *logQueue) appendFrom(src *logQueue, from int) {
	for i := from; i < src.n; i++ {
		r := *src.rec(i)
		text := src.text[r.arena][r.at : int(r.at)+r.textLen()]
		arena := q.arenaFor(len(text))
		r.arena, r.at = uint32(arena), uint32(len(q.text[arena]))
		q.text[arena] = append(q.text[arena], text...)
		q.add(r)
	}
}

// reset empties q, keeping its blocks but the arenas of single large logs,
// which are rare and would let later offsets outgrow a uint32.
func (q *logQueue) reset() {
	for i := range q.recs {
		q.recs[i] = q.recs[i][:0]
	}
	for i := range q.text[:q.inUse] {
		if cap(q.text[i]) > queuedTextBlock {
			q.text[i] = nil
		} else {
			q.text[i] = q.text[i][:0]
		}
	}
	q.n, q.inUse = 0, 0
}
