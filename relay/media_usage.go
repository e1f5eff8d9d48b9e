package relay

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"sluice/relay/channel/openai"
	relaycommon "sluice/relay/common"
	"sluice/relay/helper"
	"sluice/relay/tokenizer"
)

// mediaUsage reads what a media answer consumed (docs/media.md): the
// upstream's usage where it gives one, else a documented local rule.
// estimated reports a local rule.
func mediaUsage(req *Request, info *relaycommon.RelayInfo, body []byte, isJSON bool) (relaycommon.Usage, *mediaBill, bool) {
	var root gjson.Result
	if isJSON {
		root = gjson.ParseBytes(body)
	}
	switch req.Mode {
	case relaycommon.ModeImageGenerations, relaycommon.ModeImageEdits:
		return imageUsage(req, info, root.Get("usage"), int(root.Get("data.#").Int()))
	case relaycommon.ModeAudioTranscriptions, relaycommon.ModeAudioTranslations:
		if isJSON {
			return transcriptionUsage(req, root.Get("usage"), root.Get("duration").Float(), "")
		}
		return transcriptionUsage(req, gjson.Result{}, 0, string(body))
	case relaycommon.ModeModerations:
		if u := openai.UsageOf(root.Get("usage")); u.Known() {
			return u, &mediaBill{source: "upstream"}, false
		}
		n := countModerationInput(info.UpstreamModel, req.Body)
		return relaycommon.Usage{PromptTokens: n, TotalTokens: n}, &mediaBill{source: "local_count"}, true
	case relaycommon.ModeRerank:
		return rerankUsage(req, info, root)
	}
	return speechUsage(req, gjson.Result{})
}

// streamedUsage is mediaUsage for a streamed answer, whose usage came in
// one of its events.
func streamedUsage(req *Request, info *relaycommon.RelayInfo, u gjson.Result, images int, text string) (relaycommon.Usage, *mediaBill, bool) {
	switch req.Mode {
	case relaycommon.ModeImageGenerations, relaycommon.ModeImageEdits:
		return imageUsage(req, info, u, images)
	case relaycommon.ModeAudioTranscriptions, relaycommon.ModeAudioTranslations:
		return transcriptionUsage(req, u, 0, "")
	case relaycommon.ModeAudioSpeech:
		return speechUsage(req, u)
	}
	if n := int(u.Get("total_tokens").Int()); n > 0 {
		return relaycommon.Usage{PromptTokens: n, TotalTokens: n}, &mediaBill{source: "upstream"}, false
	}
	n := tokenizer.CountText(info.UpstreamModel, text)
	return relaycommon.Usage{PromptTokens: n, TotalTokens: n}, &mediaBill{source: "local_count"}, true
}

// imageUsage bills count images (the number the upstream returned, else
// the number asked for): per image for a fixed-price model, else by the
// upstream's token usage (gpt-image: input_tokens, output_tokens), else
// the prompt counted locally plus each image's token allowance.
func imageUsage(req *Request, info *relaycommon.RelayInfo, u gjson.Result, count int) (relaycommon.Usage, *mediaBill, bool) {
	f := req.form()
	if count <= 0 {
		count = f.N
	}
	b := &mediaBill{images: count, size: f.Size, quality: f.Quality, source: "upstream"}
	in, out := int(u.Get("input_tokens").Int()), int(u.Get("output_tokens").Int())
	if in > 0 || out > 0 {
		return relaycommon.Usage{PromptTokens: in, CompletionTokens: out, TotalTokens: in + out,
			CachedTokens: int(u.Get("input_tokens_details.cached_tokens").Int())}, b, false
	}
	b.source = "allowance"
	prompt := tokenizer.CountText(info.UpstreamModel, f.Text) + f.Files*imageTokenAllowance
	completion := helper.ImageTokens(count, f.Size, f.Quality)
	return relaycommon.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}, b, true
}

// speechUsage bills speech by the upstream's usage where it streams one
// (gpt-4o-mini-tts with stream_format "sse": text in, audio out), else one
// prompt token per input character.
func speechUsage(req *Request, u gjson.Result) (relaycommon.Usage, *mediaBill, bool) {
	in, out := int(u.Get("input_tokens").Int()), int(u.Get("output_tokens").Int())
	if in > 0 || out > 0 {
		a := &helper.AudioUsage{TextIn: in, AudioOut: out}
		return relaycommon.Usage{PromptTokens: in, CompletionTokens: out, TotalTokens: in + out},
			&mediaBill{audio: a, source: "upstream"}, false
	}
	n := utf8.RuneCountInString(req.form().Text)
	return relaycommon.Usage{PromptTokens: n, TotalTokens: n}, &mediaBill{source: "characters"}, false
}

// transcriptionUsage bills a transcription or translation: token usage
// (gpt-4o-transcribe: audio and text input apart), else a duration (usage
// type "duration", verbose_json's duration, the last subtitle cue) at
// AudioTokensPerSecond, else the upload's size at 128 kbit/s.
func transcriptionUsage(req *Request, u gjson.Result, duration float64, text string) (relaycommon.Usage, *mediaBill, bool) {
	typ := u.Get("type").String()
	if in := u.Get("input_tokens"); in.Exists() && typ != "duration" {
		a := &helper.AudioUsage{TextOut: int(u.Get("output_tokens").Int())}
		if d := u.Get("input_token_details"); d.IsObject() {
			a.TextIn, a.AudioIn = int(d.Get("text_tokens").Int()), int(d.Get("audio_tokens").Int())
		} else {
			a.AudioIn = int(in.Int())
		}
		p, c := a.TextIn+a.AudioIn, a.TextOut
		return relaycommon.Usage{PromptTokens: p, CompletionTokens: c, TotalTokens: p + c},
			&mediaBill{audio: a, source: "upstream"}, false
	}
	secs, source, estimated := 0.0, "duration", false
	if typ == "duration" {
		secs = u.Get("seconds").Float()
	}
	if secs <= 0 {
		secs = duration
	}
	if secs <= 0 && text != "" {
		secs = subtitleEnd(text)
	}
	if secs <= 0 {
		secs = float64(req.form().FileBytes) / chargeAudioBytesPerSecond
		source, estimated = "file_size", true
	}
	n := helper.DurationTokens(secs)
	return relaycommon.Usage{PromptTokens: n, TotalTokens: n}, &mediaBill{seconds: secs, source: source}, estimated
}

// subtitleEnd is the end time in seconds of the last cue of an SRT or
// WebVTT document ("00:01:02,500 --> 00:01:04,000"), or 0.
func subtitleEnd(doc string) float64 {
	i := strings.LastIndex(doc, "-->")
	if i < 0 {
		return 0
	}
	rest := strings.TrimSpace(doc[i+3:])
	if j := strings.IndexAny(rest, " \r\n"); j >= 0 {
		rest = rest[:j]
	}
	parts := strings.Split(strings.Replace(rest, ",", ".", 1), ":")
	secs := 0.0
	for _, p := range parts {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || v < 0 {
			return 0
		}
		secs = secs*60 + v
	}
	return secs
}

// rerankUsage reads Jina's or vLLM's usage (prompt_tokens / total_tokens)
// or Cohere's meta.billed_units.input_tokens, else counts the query and
// documents locally.
func rerankUsage(req *Request, info *relaycommon.RelayInfo, root gjson.Result) (relaycommon.Usage, *mediaBill, bool) {
	u := root.Get("usage")
	n := u.Get("prompt_tokens").Int()
	if n == 0 {
		n = u.Get("total_tokens").Int()
	}
	if n == 0 {
		n = u.Get("input_tokens").Int()
	}
	if n == 0 {
		n = root.Get("meta.billed_units.input_tokens").Int()
	}
	if n > 0 {
		return relaycommon.Usage{PromptTokens: int(n), TotalTokens: int(n)}, &mediaBill{source: "upstream"}, false
	}
	body := gjson.ParseBytes(req.Body)
	var sb strings.Builder
	sb.WriteString(body.Get("query").String())
	for _, d := range body.Get("documents").Array() {
		sb.WriteByte('\n')
		if d.Type == gjson.String {
			sb.WriteString(d.Str)
		} else if t := d.Get("text"); t.Exists() {
			sb.WriteString(t.String())
		} else {
			sb.WriteString(d.Raw)
		}
	}
	c := tokenizer.CountText(info.UpstreamModel, sb.String())
	return relaycommon.Usage{PromptTokens: c, TotalTokens: c}, &mediaBill{source: "local_count"}, true
}

// countModerationInput counts a moderation request's text input: a string,
// an array of strings, or an array of {type: "text", text} parts (image
// parts are not counted: moderation upstreams bill no image tokens).
func countModerationInput(model string, body []byte) int {
	in := gjson.GetBytes(body, "input")
	if in.Type == gjson.String {
		return tokenizer.CountText(model, in.Str)
	}
	n := 0
	for _, v := range in.Array() {
		switch {
		case v.Type == gjson.String:
			n += tokenizer.CountText(model, v.Str)
		case v.Get("type").String() == "text":
			n += tokenizer.CountText(model, v.Get("text").String())
		}
	}
	return n
}
