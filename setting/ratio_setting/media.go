package ratio_setting

import (
	"sync"
	"sync/atomic"
)

// Media is one published, immutable set of the multipliers the media routes bill by (docs/media.md):
// image size and quality multipliers over a per-image price, and audio-token multipliers over a model's ratio.
// It is published apart from Snapshot so that the pricing tables every chat request reads stay as they are.
type Media struct {
	// ImageSizeRatio multiplies an image's price (or its default token allowance) by its requested size;
	// a size not listed costs 1×.
	ImageSizeRatio map[string]float64
	// ImageQualityRatio multiplies an image's price by its requested quality; a quality not listed costs 1×.
	ImageQualityRatio map[string]float64
	// AudioRatio is the price of an audio input token relative to a text input token of the same model
	// (a multiplier over the model ratio); an unlisted model bills audio like text (1).
	AudioRatio map[string]float64
	// AudioCompletionRatio is the price of an audio output token relative to an audio input token; an unlisted
	// model uses its CompletionRatio, so audio output then bills like text output.
	AudioCompletionRatio map[string]float64
}

// DefaultMedia is a fresh install's media multipliers, from OpenAI's published prices:
//   - sizes: 1024x1792 / 1792x1024 cost twice a square image (dall-e-3); gpt-image's 1536-wide sizes 1.5×;
//     dall-e-2's smaller sizes less ($0.016 and $0.018 against $0.02).
//   - qualities: dall-e-3 "hd" costs 2×; gpt-image-1 "high" ≈ 4× and "low" ≈ ¼ of "medium" (4160, 1056 and
//     272 output tokens for a square image).
//   - audio: gpt-4o-realtime-preview and gpt-realtime charge 8× text for audio input ($40/$32 against $5/$4 per
//     1M), the mini models ≈ 16.67× ($10 against $0.60); every realtime model charges 2× audio input for
//     audio output.
func DefaultMedia() Media {
	return Media{
		ImageSizeRatio: map[string]float64{
			"256x256": 0.8, "512x512": 0.9, "1024x1024": 1,
			"1024x1792": 2, "1792x1024": 2, "1024x1536": 1.5, "1536x1024": 1.5,
		},
		ImageQualityRatio: map[string]float64{"standard": 1, "hd": 2, "low": 0.25, "medium": 1, "high": 4},
		AudioRatio: map[string]float64{
			"gpt-4o-realtime-preview": 8, "gpt-realtime": 8,
			"gpt-4o-mini-realtime-preview": 16.67, "gpt-realtime-mini": 16.67,
		},
		AudioCompletionRatio: map[string]float64{
			"gpt-4o-realtime-preview": 2, "gpt-realtime": 2,
			"gpt-4o-mini-realtime-preview": 2, "gpt-realtime-mini": 2,
		},
	}
}

var (
	currentMedia atomic.Pointer[Media]
	mediaMu      sync.Mutex
)

func init() {
	m := DefaultMedia()
	currentMedia.Store(&m)
}

// CurrentMedia returns the published media multipliers; callers must treat it as read-only.
func CurrentMedia() *Media { return currentMedia.Load() }

func setMedia(value string, put func(*Media, map[string]float64)) error {
	m, err := ParseRatioMap(value)
	if err != nil {
		return err
	}
	mediaMu.Lock()
	defer mediaMu.Unlock()
	next := *currentMedia.Load()
	put(&next, m)
	currentMedia.Store(&next)
	return nil
}

// SetImageSizeRatio replaces the image size multipliers with the JSON object value; on error nothing changes.
func SetImageSizeRatio(value string) error {
	return setMedia(value, func(m *Media, v map[string]float64) { m.ImageSizeRatio = v })
}

// SetImageQualityRatio replaces the image quality multipliers with the JSON object value; on error nothing changes.
func SetImageQualityRatio(value string) error {
	return setMedia(value, func(m *Media, v map[string]float64) { m.ImageQualityRatio = v })
}

// SetAudioRatio replaces the audio input multipliers with the JSON object value; on error nothing changes.
func SetAudioRatio(value string) error {
	return setMedia(value, func(m *Media, v map[string]float64) { m.AudioRatio = v })
}

// SetAudioCompletionRatio replaces the audio output multipliers with the JSON object value; on error nothing
// changes.
func SetAudioCompletionRatio(value string) error {
	return setMedia(value, func(m *Media, v map[string]float64) { m.AudioCompletionRatio = v })
}

// ImageSizeRatioJSON renders the current image size multipliers.
func ImageSizeRatioJSON() string { return EncodeRatioMap(CurrentMedia().ImageSizeRatio) }

// ImageQualityRatioJSON renders the current image quality multipliers.
func ImageQualityRatioJSON() string { return EncodeRatioMap(CurrentMedia().ImageQualityRatio) }

// AudioRatioJSON renders the current audio input multipliers.
func AudioRatioJSON() string { return EncodeRatioMap(CurrentMedia().AudioRatio) }

// AudioCompletionRatioJSON renders the current audio output multipliers.
func AudioCompletionRatioJSON() string { return EncodeRatioMap(CurrentMedia().AudioCompletionRatio) }

// ImageSizeRatioOf is size's multiplier, 1 when the size is not listed (or not given).
func (m *Media) ImageSizeRatioOf(size string) float64 { return orOne(m.ImageSizeRatio, size) }

// ImageQualityRatioOf is quality's multiplier, 1 when the quality is not listed (or not given).
func (m *Media) ImageQualityRatioOf(quality string) float64 {
	return orOne(m.ImageQualityRatio, quality)
}

// AudioRatioOf is model's audio input multiplier (with the usual name fallbacks), 1 when not listed.
func (m *Media) AudioRatioOf(model string) float64 { return lookupOr(m.AudioRatio, model, 1) }

// AudioCompletionRatioOf is model's audio output multiplier and whether one is listed; the caller falls back
// to the model's completion ratio.
func (m *Media) AudioCompletionRatioOf(model string) (float64, bool) {
	return lookup(m.AudioCompletionRatio, model)
}

func orOne(m map[string]float64, k string) float64 {
	if v, ok := m[k]; ok {
		return v
	}
	return 1
}
