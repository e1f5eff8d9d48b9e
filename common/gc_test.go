package common

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/bytedance/gopkg/util/gctuner"
)

// With a small live heap the collector is paced towards GCHeapTarget:
// GOGC rises well above the default after a collection.
func TestTuneGCRaisesGOGCForASmallHeap(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	TuneGC()
	t.Cleanup(func() {
		gctuner.Tuning(0)
		debug.SetGCPercent(100)
	})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		runtime.GC() // the tuner recomputes GOGC after each collection
		if gctuner.GetGCPercent() > 100 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("GOGC is still %d with a live heap far below %d MB", gctuner.GetGCPercent(), GCHeapTarget>>20)
}
