package common

import (
	"os"

	"github.com/bytedance/gopkg/util/gctuner"
)

// GCHeapTarget is the heap size the collector is paced by: after each
// collection GOGC becomes target/inuse − 1, kept between 50 % and 500 %
// (bytedance/gopkg's gctuner). Under load a gateway's live heap is small
// (10–20 MB: each request's garbage is most of what it allocates), and
// collection was 5–10 % of its CPU per request at the default GOGC=100.
// gctuner's inuse is HeapInuse read just after a collection, which still
// counts the garbage not yet swept, so the goal stays well below the
// target, and swings: a goal near the target leaves much unswept garbage,
// which makes the next goal small, and the other way round (a gctrace at
// c=1, live heap 3 MB: goals of 5–8 and 14–22 MB in turn). It was 64 MB (a
// goal of 20–24 MB at the 7 MB live heap of the c=1 bench run then); 32 MB
// gives about 15 MB there, about GOGC=100. On one core a smaller heap is a
// shorter stall: after each collection the runtime's sweeper holds the P
// without polling the network until the heap is swept, and in wrk's
// corrected p99 a stall counts with its square (docs/performance.md,
// finding 2). With a large live heap
// (thousands of held streams) GOGC is 50 %, tighter than the default,
// whichever the target.
const GCHeapTarget = 32 << 20

// TuneGC sets the collector's pacing from GCHeapTarget, unless the operator
// set GOGC or GOMEMLIMIT: their choice stands.
func TuneGC() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	gctuner.Tuning(GCHeapTarget)
}
