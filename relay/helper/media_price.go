package helper

import (
	"math"

	"sluice/setting/operation_setting"
	"sluice/setting/ratio_setting"
)

// ImageOutputTokens is the output-token allowance of one square, medium-quality image (gpt-image-1 bills 1056
// for it). Size and quality multipliers scale it, as they scale a per-image price. It prices a ratio-priced image
// model whose upstream reports no usage, and reserves for one that does.
const ImageOutputTokens = 1056

// ImageMultiplier is the size × quality multiplier of one image (ImageSizeRatio and ImageQualityRatio; an
// unlisted size or quality counts 1).
func ImageMultiplier(size, quality string) float64 {
	m := ratio_setting.CurrentMedia()
	return m.ImageSizeRatioOf(size) * m.ImageQualityRatioOf(quality)
}

// ImageQuota is the charge for n images of a fixed-price model: price × QuotaPerUnit × group_ratio × n × size
// ratio × quality ratio, rounded half up, at least 1 unless Free. A ratio-priced model bills tokens instead
// (Quota).
func (p PriceData) ImageQuota(n int, size, quality string) int64 {
	x := p.ModelPrice * p.QuotaPerUnit * p.GroupRatio * float64(max(n, 1)) * ImageMultiplier(size, quality)
	return p.atLeastOne(roundHalfUp(x))
}

// ImageTokens is the output-token allowance of n images: ImageOutputTokens × size ratio × quality ratio each.
func ImageTokens(n int, size, quality string) int {
	return int(math.Ceil(float64(max(n, 1)) * ImageOutputTokens * ImageMultiplier(size, quality)))
}

// DurationTokens converts seconds of audio to prompt tokens at the AudioTokensPerSecond option, rounded up, so
// any audio at all costs at least one token.
func DurationTokens(seconds float64) int {
	if !(seconds > 0) {
		return 0
	}
	return int(math.Ceil(seconds * float64(operation_setting.GetMedia().AudioTokensPerSecond)))
}

// AudioUsage is a usage with text and audio tokens apart (Realtime's response.usage, gpt-4o-transcribe's
// usage.input_token_details). Cached counts are part of the inputs they belong to.
type AudioUsage struct {
	TextIn, AudioIn         int
	CachedText, CachedAudio int
	TextOut, AudioOut       int
}

// AudioRatios are a model's audio multipliers: audio input over text input (AudioRatio) and audio output over
// audio input (AudioCompletionRatio; the model's CompletionRatio when unlisted).
func (p PriceData) AudioRatios() (in, out float64) {
	m := ratio_setting.CurrentMedia()
	in = m.AudioRatioOf(p.ModelName)
	out, ok := m.AudioCompletionRatioOf(p.ModelName)
	if !ok {
		out = p.CompletionRatio
	}
	return in, out
}

// AudioQuota is the charge for u:
// round((text_in − cached_text + cached_text × cache_ratio
// + audio_ratio × (audio_in − cached_audio + cached_audio × cache_ratio)
// + text_out × completion_ratio + audio_out × audio_ratio × audio_completion_ratio) × model_ratio × group_ratio),
// half up, at least 1 unless Free. A fixed-price model costs PerCallQuota(1).
func (p PriceData) AudioQuota(u AudioUsage) int64 {
	if p.UsePrice {
		return p.PerCallQuota(1)
	}
	ar, acr := p.AudioRatios()
	textIn, audioIn := max(u.TextIn, 0), max(u.AudioIn, 0)
	cachedText := min(max(u.CachedText, 0), textIn)
	cachedAudio := min(max(u.CachedAudio, 0), audioIn)
	tokens := float64(textIn-cachedText) + float64(cachedText)*p.CacheRatio +
		ar*(float64(audioIn-cachedAudio)+float64(cachedAudio)*p.CacheRatio) +
		float64(max(u.TextOut, 0))*p.CompletionRatio + float64(max(u.AudioOut, 0))*ar*acr
	return p.atLeastOne(roundHalfUp(tokens * p.ModelRatio * p.GroupRatio))
}
