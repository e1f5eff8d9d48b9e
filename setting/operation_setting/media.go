package operation_setting

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Media holds the conversion rules of the audio routes (docs/media.md).
type Media struct {
	// AudioTokensPerSecond converts audio duration to prompt tokens where a transcription upstream reports a
	// duration (usage.type "duration", verbose_json's duration) instead of tokens. 1..10000.
	AudioTokensPerSecond int
}

// DefaultMedia returns a fresh install's media rules: 10 tokens per second, about what OpenAI's audio models
// count for speech input (600 per minute).
func DefaultMedia() Media { return Media{AudioTokensPerSecond: 10} }

// Validate reports the first field out of range, naming it, or nil.
func (m *Media) Validate() error {
	if m.AudioTokensPerSecond < 1 || m.AudioTokensPerSecond > 10000 {
		return fmt.Errorf("AudioTokensPerSecond must be between 1 and 10000, got %d", m.AudioTokensPerSecond)
	}
	return nil
}

var (
	currentMedia atomic.Pointer[Media]
	mediaMu      sync.Mutex
)

func init() {
	m := DefaultMedia()
	currentMedia.Store(&m)
}

// GetMedia returns the current media rules; the value is shared and must not be modified.
func GetMedia() *Media { return currentMedia.Load() }

// UpdateMedia applies change to a copy of the current rules and publishes it if valid; on error nothing changes.
func UpdateMedia(change func(*Media)) error {
	mediaMu.Lock()
	defer mediaMu.Unlock()
	next := *currentMedia.Load()
	change(&next)
	if err := next.Validate(); err != nil {
		return err
	}
	currentMedia.Store(&next)
	return nil
}
