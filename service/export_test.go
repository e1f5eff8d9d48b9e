package service

import "time"

// SetCheckpointEvery sets how soon after a WAL checkpoint the next flush
// may checkpoint again (walCheckpointEvery).
func SetCheckpointEvery(b *BatchWriter, d time.Duration) { b.checkpointEvery = d }
