package responses

import (
	"os"
	"testing"
	"time"

	"sluice/relay/format"
	"sluice/relay/format/formattest"
)

func TestMain(m *testing.M) {
	// Pin the clock so created_at in golden files is stable.
	now = func() time.Time { return time.Unix(1700000000, 0) }
	os.Exit(m.Run())
}

// encodeStream runs this dialect's encoder over IR events and finishes
// the stream.
func encodeStream(opts format.StreamOptions, evs []format.Event) []byte {
	return formattest.EncodeStream(NewStreamEncoder(opts), evs)
}
