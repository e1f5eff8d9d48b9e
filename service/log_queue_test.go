package service

import (
	"fmt"
	"strings"
	"testing"

	"sluice/model"
)

func queueTestLog(i int) model.Log {
	l := model.Log{UserID: i, CreatedAt: 1_700_000_000 + int64(i), Type: 2 + i%3, TokenID: 10 + i, Quota: int64(i) << 33,
		PromptTokens: i * 3, CompletionTokens: i * 5, UseTime: i % 7, IsStream: i%2 == 1, ChannelID: 100 + i,
		Username: fmt.Sprintf("user-%d", i), ModelName: "gpt-4o", Group: "default", RequestID: fmt.Sprint("req", i),
		Other: fmt.Sprintf(`{"cost":%d}`, i)}
	if i%4 == 0 {
		l.Content = "prix : 1,5 × €" // not ASCII
	}
	if i%5 == 0 {
		l.Username, l.Other = "", "" // empty texts between full ones
	}
	return l
}

func TestLogQueueGivesBackWhatWasPushed(t *testing.T) {
	var q logQueue
	var want []model.Log
	for i := range 50 {
		l := queueTestLog(i)
		q.push(&l)
		want = append(want, l)
	}
	if q.len() != 50 {
		t.Fatalf("len %d, want 50", q.len())
	}
	var dst []model.Log
	for _, r := range [][2]int{{0, 50}, {0, 1}, {7, 23}, {49, 50}, {20, 20}} {
		dst = q.logs(r[0], r[1], dst)
		if len(dst) != r[1]-r[0] {
			t.Fatalf("logs(%d, %d): %d logs", r[0], r[1], len(dst))
		}
		for i, got := range dst {
			if got != want[r[0]+i] {
				t.Fatalf("logs(%d, %d)[%d] = %+v, want %+v", r[0], r[1], i, got, want[r[0]+i])
			}
		}
	}
	// What logs returned outlives the queue's arena being reused.
	dst = q.logs(3, 4, dst)
	q.reset()
	for i := range 50 {
		l := queueTestLog(1000 + i)
		q.push(&l)
	}
	if dst[0] != want[3] {
		t.Fatalf("a returned log changed when the queue was reused: %+v, want %+v", dst[0], want[3])
	}
}

func TestLogQueueAppendFromKeepsOrderAndTexts(t *testing.T) {
	var failed, newer logQueue
	var want []model.Log
	for i := range 10 {
		l := queueTestLog(i)
		failed.push(&l)
		if i >= 4 {
			want = append(want, l)
		}
	}
	for i := range 5 {
		l := queueTestLog(100 + i)
		newer.push(&l)
		want = append(want, l)
	}
	var q logQueue
	q.appendFrom(&failed, 4)
	q.appendFrom(&newer, 0)
	q.appendFrom(&newer, 5) // nothing from the end on
	got := q.logs(0, q.len(), nil)
	if len(got) != len(want) {
		t.Fatalf("%d logs, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("log %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestLogQueueSpansBlocksAndKeepsThemInPlace queues enough logs for
// several record blocks and text arenas, one log larger than an arena
// among them, and checks every range (across block edges too) and that a
// push never moved what was queued before it: the queue grows by blocks,
// not by copying.
func TestLogQueueSpansBlocksAndKeepsThemInPlace(t *testing.T) {
	var q logQueue
	var want []model.Log
	push := func(l model.Log) {
		q.push(&l)
		want = append(want, l)
	}
	for i := range 700 {
		push(queueTestLog(i))
	}
	firstRec, firstText := &q.recs[0][0], &q.text[0][0]
	big := queueTestLog(700)
	big.Content = strings.Repeat("x", queuedTextBlock+10)
	push(big)
	for i := 701; i < 3*queuedRecBlock+5; i++ {
		l := queueTestLog(i)
		l.Other = strings.Repeat("o", i%300)
		push(l)
	}
	if &q.recs[0][0] != firstRec || &q.text[0][0] != firstText {
		t.Fatal("queued logs moved when the queue grew")
	}
	if recs, _ := q.capacity(); q.len() != len(want) || recs != 4*queuedRecBlock {
		t.Fatalf("len %d, record capacity %d; want %d in 4 blocks", q.len(), recs, len(want))
	}
	var dst []model.Log
	edge := queuedRecBlock
	for _, r := range [][2]int{{0, len(want)}, {edge - 1, edge + 1}, {699, 702}, {2*edge - 3, 3*edge + 2}, {len(want) - 1, len(want)}} {
		dst = q.logs(r[0], r[1], dst)
		if len(dst) != r[1]-r[0] {
			t.Fatalf("logs(%d, %d): %d logs", r[0], r[1], len(dst))
		}
		for i, got := range dst {
			if got != want[r[0]+i] {
				t.Fatalf("logs(%d, %d)[%d] differs from what was pushed (user %d, want %d)", r[0], r[1], i, got.UserID, want[r[0]+i].UserID)
			}
		}
	}
}

// TestLogQueueRefillsItsBlocksWithoutAllocating: after reset, a queue
// takes as many logs again into the blocks it kept, and drops the arena
// of a single large log.
func TestLogQueueRefillsItsBlocksWithoutAllocating(t *testing.T) {
	var q logQueue
	logs := make([]model.Log, 2000)
	for i := range logs {
		logs[i] = queueTestLog(i)
	}
	big := queueTestLog(-1)
	big.Content = strings.Repeat("y", 2*queuedTextBlock)
	q.push(&big)
	bigArena := cap(q.text[0])
	for i := range logs {
		q.push(&logs[i])
	}
	recs, text := q.capacity()
	q.reset()
	if q.len() != 0 {
		t.Fatalf("len %d after reset", q.len())
	}
	if _, kept := q.capacity(); bigArena <= queuedTextBlock || kept != text-bigArena {
		t.Fatalf("reset kept %d bytes of arenas, want %d (all but the large log's %d)", kept, text-bigArena, bigArena)
	}
	allocs := testing.AllocsPerRun(5, func() {
		q.reset()
		for i := range logs {
			q.push(&logs[i])
		}
	})
	if allocs != 0 {
		t.Fatalf("refilling a reset queue allocated %v times, want 0", allocs)
	}
	if r, _ := q.capacity(); r != recs {
		t.Fatalf("record capacity %d after refills, want %d", r, recs)
	}
	got := q.logs(0, q.len(), nil)
	for i := range logs {
		if got[i] != logs[i] {
			t.Fatalf("log %d differs after refills", i)
		}
	}
}
