package common

import (
	"os"

	"github.com/bytedance/gopkg/util/gctuner"
)

// GCHeapTarget is the heap size the collector is paced by: after each
// collection GOGC becomes target/inuse − 1, kept between 50 % and 500 %
// (bytedance/gopkg's gctuner). Under load a gateway's live heap is small
// (10–20 MB: each request's garbage is most of what it allocates), so with
// the default GOGC=100 it collects several times a second, and collection
// was 5–10 % of its CPU per request. gctuner's inuse is HeapInuse read just
// after a collection, which still counts the garbage not yet swept, so the
// goal does not reach the target: it settles near √(target × live), 20–24 MB
// at the 7 MB live heap of the c=1 bench run (GOGC about 200), fewer
// collections than GOGC=100 where the live heap is small and about as many
// where it is large. Left so on purpose: on one core a longer heap to sweep
// is a longer stall (docs/performance.md, finding 2). With a large live
// heap (thousands of held streams) GOGC falls to 50 %, tighter than the
// default.
const GCHeapTarget = 64 << 20

// TuneGC sets the collector's pacing from GCHeapTarget, unless the operator
// set GOGC or GOMEMLIMIT: their choice stands.
func TuneGC() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	gctuner.Tuning(GCHeapTarget)
}
