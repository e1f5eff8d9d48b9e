package helper

import (
	"testing"

	"sluice/setting/operation_setting"
	"sluice/setting/ratio_setting"
)

func TestImageQuota(t *testing.T) {
	p := PriceData{UsePrice: true, ModelPrice: 0.04, QuotaPerUnit: 500000, GroupRatio: 1}
	tests := []struct {
		name          string
		n             int
		size, quality string
		want          int64
	}{
		{"square standard", 1, "1024x1024", "standard", 20000},
		{"unlisted size and quality count 1", 1, "", "", 20000},
		{"tall hd", 1, "1024x1792", "hd", 80000},                // dall-e-3 HD tall: $0.12 list, 2 × 2 here
		{"n images", 3, "1024x1024", "", 60000},                 // × n
		{"gpt-image high wide", 2, "1536x1024", "high", 240000}, // 2 × 1.5 × 4
		{"n below 1 is one image", 0, "", "", 20000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.ImageQuota(tt.n, tt.size, tt.quality); got != tt.want {
				t.Errorf("ImageQuota(%d, %q, %q) = %d, want %d", tt.n, tt.size, tt.quality, got, tt.want)
			}
		})
	}
	free := PriceData{UsePrice: true, ModelPrice: 0, QuotaPerUnit: 500000, GroupRatio: 1, Free: true}
	if got := free.ImageQuota(4, "1024x1792", "hd"); got != 0 {
		t.Errorf("a free image model costs %d", got)
	}
}

func TestImageTokens(t *testing.T) {
	if got := ImageTokens(1, "1024x1024", "medium"); got != ImageOutputTokens {
		t.Errorf("one medium square = %d, want %d", got, ImageOutputTokens)
	}
	if got := ImageTokens(2, "1536x1024", "high"); got != 2*6336 {
		t.Errorf("two high wide = %d, want %d", got, 2*6336)
	}
}

func TestDurationTokens(t *testing.T) {
	tests := []struct {
		secs float64
		want int
	}{{0, 0}, {-1, 0}, {7, 70}, {12.5, 125}, {0.01, 1}, {9.51, 96}}
	for _, tt := range tests {
		if got := DurationTokens(tt.secs); got != tt.want {
			t.Errorf("DurationTokens(%v) = %d, want %d", tt.secs, got, tt.want)
		}
	}
	t.Cleanup(func() {
		_ = operation_setting.UpdateMedia(func(m *operation_setting.Media) { *m = operation_setting.DefaultMedia() })
	})
	if err := operation_setting.UpdateMedia(func(m *operation_setting.Media) { m.AudioTokensPerSecond = 25 }); err != nil {
		t.Fatal(err)
	}
	if got := DurationTokens(2); got != 50 {
		t.Errorf("at 25 tokens/s, 2 s = %d, want 50", got)
	}
}

func TestAudioQuota(t *testing.T) {
	t.Cleanup(func() {
		d := ratio_setting.DefaultMedia()
		_ = ratio_setting.SetAudioRatio(ratio_setting.EncodeRatioMap(d.AudioRatio))
		_ = ratio_setting.SetAudioCompletionRatio(ratio_setting.EncodeRatioMap(d.AudioCompletionRatio))
	})
	if err := ratio_setting.SetAudioRatio(`{"rt":4}`); err != nil {
		t.Fatal(err)
	}
	if err := ratio_setting.SetAudioCompletionRatio(`{"rt":2}`); err != nil {
		t.Fatal(err)
	}
	base := PriceData{ModelName: "rt", ModelRatio: 1, CompletionRatio: 2, CacheRatio: 0.5, GroupRatio: 1}
	tests := []struct {
		name string
		p    PriceData
		u    AudioUsage
		want int64
	}{
		// 60 text + 40 × 0.5 cached + 4 × 200 audio + 2 × 30 text out + 4 × 2 × 120 audio out.
		{"realtime turn", base, AudioUsage{TextIn: 100, AudioIn: 200, CachedText: 40, TextOut: 30, AudioOut: 120}, 1900},
		{"cached audio at the cache ratio", base, AudioUsage{AudioIn: 100, CachedAudio: 100}, 200},
		{"cached beyond input is capped", base, AudioUsage{TextIn: 10, CachedText: 50}, 5},
		{"group ratio and model ratio", func() PriceData { p := base; p.ModelRatio, p.GroupRatio = 2, 0.5; return p }(),
			AudioUsage{AudioIn: 10}, 40},
		{"unlisted model: audio costs like text", func() PriceData { p := base; p.ModelName = "other"; return p }(),
			AudioUsage{TextIn: 10, AudioIn: 10, TextOut: 10, AudioOut: 10}, 10 + 10 + 20 + 20},
		{"nothing used still costs 1", base, AudioUsage{}, 1},
		{"fixed price wins", PriceData{UsePrice: true, ModelPrice: 0.01, QuotaPerUnit: 500000, GroupRatio: 1},
			AudioUsage{AudioIn: 1000}, 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.AudioQuota(tt.u); got != tt.want {
				t.Errorf("AudioQuota(%+v) = %d, want %d", tt.u, got, tt.want)
			}
		})
	}
}
