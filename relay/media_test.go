package relay

import (
	"testing"

	"github.com/tidwall/gjson"

	"sluice/model"
	relaycommon "sluice/relay/common"
	"sluice/relay/helper"
	"sluice/relay/peek"
)

func TestSubtitleEnd(t *testing.T) {
	tests := []struct {
		doc  string
		want float64
	}{
		{"1\n00:00:00,000 --> 00:00:04,000\nA\n\n2\n00:00:04,000 --> 00:01:09,500\nB\n", 69.5},
		{"WEBVTT\n\n00:00.000 --> 00:09.250 align:start\nA\n", 9.25},
		{"plain text, no cues", 0},
		{"00:00:01,000 --> garbage", 0},
	}
	for _, tt := range tests {
		if got := subtitleEnd(tt.doc); got != tt.want {
			t.Errorf("subtitleEnd(%q) = %v, want %v", tt.doc, got, tt.want)
		}
	}
}

func TestRealtimeUsage(t *testing.T) {
	tests := []struct {
		name, usage string
		want        helper.AudioUsage
	}{
		{"details", `{"input_tokens":300,"output_tokens":150,"input_token_details":{"text_tokens":100,"audio_tokens":200,"cached_tokens":40,"cached_tokens_details":{"text_tokens":30,"audio_tokens":10}},"output_token_details":{"text_tokens":30,"audio_tokens":120}}`,
			helper.AudioUsage{TextIn: 100, AudioIn: 200, CachedText: 30, CachedAudio: 10, TextOut: 30, AudioOut: 120}},
		// Without cached_tokens_details the cache is attributed to text first.
		{"cached without details", `{"input_token_details":{"text_tokens":10,"audio_tokens":90,"cached_tokens":50}}`,
			helper.AudioUsage{TextIn: 10, AudioIn: 90, CachedText: 10, CachedAudio: 40}},
		{"no details: all text", `{"input_tokens":12,"output_tokens":7}`, helper.AudioUsage{TextIn: 12, TextOut: 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := realtimeUsage(gjson.Parse(tt.usage)); got != tt.want {
				t.Errorf("realtimeUsage = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestChooseSubprotocol(t *testing.T) {
	tests := []struct {
		offered []string
		want    string
	}{
		{[]string{"openai-insecure-api-key.sk-x", "realtime", "openai-beta.realtime-v1"}, "realtime"},
		{[]string{"openai-insecure-api-key.sk-x", "openai-beta.realtime-v1"}, "openai-beta.realtime-v1"},
		{[]string{"openai-insecure-api-key.sk-x"}, ""}, // never echo the key
		{nil, ""},
	}
	for _, tt := range tests {
		if got := chooseSubprotocol(tt.offered); got != tt.want {
			t.Errorf("chooseSubprotocol(%v) = %q, want %q", tt.offered, got, tt.want)
		}
	}
}

func TestRealtimeURL(t *testing.T) {
	tests := []struct{ base, want string }{
		{"https://api.openai.com", "wss://api.openai.com/v1/realtime?model=gpt-realtime+x"},
		{"http://127.0.0.1:8000/v1", "ws://127.0.0.1:8000/v1/realtime?model=gpt-realtime+x"},
	}
	for _, tt := range tests {
		info := &relaycommon.RelayInfo{UpstreamModel: "gpt-realtime x", Channel: &model.ChannelView{Type: 1, BaseURL: tt.base}}
		if got, err := realtimeURL(info); err != nil || got != tt.want {
			t.Errorf("realtimeURL(%q) = %q, %v; want %q", tt.base, got, err, tt.want)
		}
	}
}

func TestServesMedia(t *testing.T) {
	for typ, want := range map[int]bool{1: true, 8: true, 4: true, 3: false, 14: false, 24: false, 999: false} {
		if got := ServesMedia(typ); got != want {
			t.Errorf("ServesMedia(%d) = %v, want %v", typ, got, want)
		}
	}
}

func TestCostOfMedia(t *testing.T) {
	perImage := helper.PriceData{UsePrice: true, ModelPrice: 0.01, QuotaPerUnit: 500000, GroupRatio: 1}
	byTokens := helper.PriceData{ModelRatio: 1, CompletionRatio: 2, CacheRatio: 1, GroupRatio: 1}
	req := &Request{Peek: peek.Fields{Model: "m", N: 3}}
	img := &outcome{media: &mediaBill{images: 2, size: "1024x1792", quality: "hd"}}
	if got := costOf(req, perImage, img, helper.Usage{}); got != 40000 {
		t.Errorf("2 tall HD images at $0.01 = %d, want 40000", got)
	}
	if got := costOf(req, byTokens, img, helper.Usage{PromptTokens: 50, CompletionTokens: 1056}); got != 2162 {
		t.Errorf("token-priced image = %d, want 2162", got)
	}
	if got := costOf(req, perImage, &outcome{media: &mediaBill{}}, helper.Usage{}); got != 5000 {
		t.Errorf("a fixed-price non-image call ignores n: %d, want 5000", got)
	}
	if got := costOf(req, perImage, &outcome{}, helper.Usage{}); got != 15000 {
		t.Errorf("a chat call keeps price × n: %d, want 15000", got)
	}
}
