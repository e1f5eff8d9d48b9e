package common

import (
	"os"

	"github.com/bytedance/gopkg/util/gctuner"
)

// GCHeapTarget is the heap size the collector paces itself towards: after
// each collection GOGC becomes target/live − 1, kept between 50 % and 500 %
// (bytedance/gopkg's gctuner). Under load a gateway's live heap is small
// (10–20 MB: each request's garbage is most of what it allocates), so with
// the default GOGC=100 it collects several times a second, and collection
// was 5–10 % of its CPU per request; paced towards 64 MB it collects a
// third as often. The cost is memory that is bounded: the heap may grow to
// about 64 MB before a collection where it used to stop at twice the live
// heap. With a large live heap (thousands of held streams) GOGC falls to
// 50 %, tighter than the default.
const GCHeapTarget = 64 << 20

// TuneGC sets the collector's pacing from GCHeapTarget, unless the operator
// set GOGC or GOMEMLIMIT: their choice stands.
func TuneGC() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	gctuner.Tuning(GCHeapTarget)
}
