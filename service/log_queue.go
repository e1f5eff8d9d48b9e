package service

import (
	"math"

	"sluice/model"
)

// logQueue holds the logs waiting for the next flush with no pointer in
// them: the integers in fixed records and every text in one byte arena.
// Queued as model.Log values, each log was eight objects for the collector
// to trace (its seven strings and its place in a slice of pointers), every
// cycle, for as long as it waited: at 12,000 requests/s and a one-second
// flush interval, 35,000 of the heap's 41,000 live objects, and five times
// as many at the default five-second interval. A noscan slice and a byte
// arena are two objects whatever the queue's length.
type logQueue struct {
	recs []queuedLog
	text []byte
}

// queuedLog is a model.Log without its texts, which are consecutive in the
// queue's arena from at: Content, Username, TokenName, ModelName, Group,
// RequestID, Other.
type queuedLog struct {
	userID, createdAt, typ, tokenID, quota, promptTokens, completionTokens, useTime, channelID int64

	isStream bool
	at       int
	lens     [queuedTexts]uint32
}

const queuedTexts = 7

func (q *logQueue) len() int { return len(q.recs) }

// push queues a copy of l.
func (q *logQueue) push(l *model.Log) {
	r := queuedLog{userID: int64(l.UserID), createdAt: l.CreatedAt, typ: int64(l.Type), tokenID: int64(l.TokenID),
		quota: l.Quota, promptTokens: int64(l.PromptTokens), completionTokens: int64(l.CompletionTokens),
		useTime: int64(l.UseTime), channelID: int64(l.ChannelID), isStream: l.IsStream, at: len(q.text)}
	for i, t := range [queuedTexts]string{l.Content, l.Username, l.TokenName, l.ModelName, l.Group, l.RequestID, l.Other} {
		// The database keeps at most 64 KiB of a text (model.fitColumn
		// cuts it there, on a character boundary, when it is written), so
		// a first cut at 4 GiB changes nothing that is stored.
		t = t[:min(len(t), math.MaxUint32)]
		q.text = append(q.text, t...)
		r.lens[i] = uint32(len(t))
	}
	q.recs = append(q.recs, r)
}

// logs returns queued logs [from, to) as model.Log values, appended to
// dst[:0]. Their texts are substrings of one string copied from the arena,
// so they stay valid whatever the queue does next.
func (q *logQueue) logs(from, to int, dst []model.Log) []model.Log {
	dst = dst[:0]
	if from >= to {
		return dst
	}
	base := q.recs[from].at
	end := q.recs[to-1].at
	for _, n := range q.recs[to-1].lens {
		end += int(n)
	}
	text := string(q.text[base:end])
	for i := from; i < to; i++ {
		r := &q.recs[i]
		var t [queuedTexts]string
		at := r.at - base
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
	if from >= len(src.recs) {
		return
	}
	shift := len(q.text) - src.recs[from].at
	q.text = append(q.text, src.text[src.recs[from].at:]...)
	for _, r := range src.recs[from:] {
		r.at += shift
		q.recs = append(q.recs, r)
	}
}

// reset empties q, keeping its arrays.
func (q *logQueue) reset() {
	q.recs, q.text = q.recs[:0], q.text[:0]
}
