package ratio_setting

import "strconv"

// listPrice is one model's published list price in USD per 1M tokens. Keeping the table in the providers' own
// units (rather than pre-computed ratios) lets anyone check a row against a pricing page at a glance.
type listPrice struct {
	model  string
	input  float64 // USD per 1M input tokens; 0 makes the model free
	output float64 // USD per 1M output tokens; 0 when the model has no output tokens or output costs like input
	cached float64 // USD per 1M cached input tokens; 0 when no cache discount is listed (cached tokens bill as input)
}

// listPrices are the shipped defaults, as published by each provider at the time of writing. Operators change
// them through the ModelRatio, CompletionRatio and CacheRatio options; these only seed a fresh install.
//
// Where a provider has price tiers, the row holds the standard tier for prompts up to its long-context
// threshold (Gemini 2.5 Pro: ≤ 200K tokens), because that is what most requests pay.
var listPrices = []listPrice{
	// model                      input    output  cached
	// OpenAI
	{"gpt-5.1", 1.25, 10.00, 0.125},
	{"gpt-5", 1.25, 10.00, 0.125},
	{"gpt-5-chat-latest", 1.25, 10.00, 0.125},
	{"gpt-5-mini", 0.25, 2.00, 0.025},
	{"gpt-5-nano", 0.05, 0.40, 0.005},
	{"gpt-4.1", 2.00, 8.00, 0.50},
	{"gpt-4.1-mini", 0.40, 1.60, 0.10},
	{"gpt-4.1-nano", 0.10, 0.40, 0.025},
	{"gpt-4o", 2.50, 10.00, 1.25},
	{"gpt-4o-2024-05-13", 5.00, 15.00, 0}, // the first gpt-4o snapshot kept its launch price
	{"chatgpt-4o-latest", 5.00, 15.00, 0},
	{"gpt-4o-mini", 0.15, 0.60, 0.075},
	{"o1", 15.00, 60.00, 7.50},
	{"o1-mini", 1.10, 4.40, 0.55},
	{"o1-pro", 150.00, 600.00, 0},
	{"o3", 2.00, 8.00, 0.50},
	{"o3-pro", 20.00, 80.00, 0},
	{"o3-mini", 1.10, 4.40, 0.55},
	{"o4-mini", 1.10, 4.40, 0.275},
	{"gpt-4-turbo", 10.00, 30.00, 0},
	{"gpt-4", 30.00, 60.00, 0},
	{"gpt-3.5-turbo", 0.50, 1.50, 0},
	{"text-embedding-3-small", 0.02, 0, 0},
	{"text-embedding-3-large", 0.13, 0, 0},
	{"text-embedding-ada-002", 0.10, 0, 0},
	{"omni-moderation-latest", 0, 0, 0}, // moderation is free upstream, so it is free here
	{"text-moderation-latest", 0, 0, 0},
	{"tts-1", 15.00, 0, 0},    // $15 per 1M input characters, billed as if characters were prompt tokens
	{"tts-1-hd", 30.00, 0, 0}, // $30 per 1M characters
	// whisper-1 is $0.006 per audio minute; a minute of speech is roughly 200 transcript tokens, so it is billed
	// as $30 per 1M tokens of transcript.
	{"whisper-1", 30.00, 0, 0},

	// Anthropic (cached = cache-read price; cache writes are not billed separately)
	{"claude-opus-4-5", 5.00, 25.00, 0.50},
	{"claude-opus-4.5", 5.00, 25.00, 0.50}, // OpenRouter spells versions with a dot
	{"claude-opus-4-1", 15.00, 75.00, 1.50},
	{"claude-opus-4.1", 15.00, 75.00, 1.50},
	{"claude-opus-4", 15.00, 75.00, 1.50},
	{"claude-opus-4-0", 15.00, 75.00, 1.50},
	{"claude-sonnet-4-5", 3.00, 15.00, 0.30},
	{"claude-sonnet-4.5", 3.00, 15.00, 0.30},
	{"claude-sonnet-4", 3.00, 15.00, 0.30},
	{"claude-sonnet-4-0", 3.00, 15.00, 0.30},
	{"claude-3-7-sonnet", 3.00, 15.00, 0.30},
	{"claude-3-5-sonnet", 3.00, 15.00, 0.30},
	{"claude-haiku-4-5", 1.00, 5.00, 0.10},
	{"claude-haiku-4.5", 1.00, 5.00, 0.10},
	{"claude-3-5-haiku", 0.80, 4.00, 0.08},
	{"claude-3-haiku", 0.25, 1.25, 0.03},
	{"claude-3-opus", 15.00, 75.00, 1.50},

	// Google Gemini (standard tier, prompts ≤ 200K tokens)
	{"gemini-2.5-pro", 1.25, 10.00, 0.125},
	{"gemini-2.5-flash", 0.30, 2.50, 0.03},
	{"gemini-2.5-flash-lite", 0.10, 0.40, 0.01},
	{"gemini-2.0-flash", 0.10, 0.40, 0.025},
	{"gemini-2.0-flash-lite", 0.075, 0.30, 0},
	{"gemini-embedding-001", 0.15, 0, 0},

	// DeepSeek (cached = cache-hit price)
	{"deepseek-chat", 0.28, 0.42, 0.028},
	{"deepseek-reasoner", 0.28, 0.42, 0.028},

	// xAI
	{"grok-4", 3.00, 15.00, 0.75},
	{"grok-4-0709", 3.00, 15.00, 0.75}, // xAI's dated name does not match the date-suffix fallback
	{"grok-3", 3.00, 15.00, 0.75},
	{"grok-3-mini", 0.30, 0.50, 0.075},

	// Mistral
	{"mistral-large-latest", 2.00, 6.00, 0},
	{"mistral-medium-latest", 0.40, 2.00, 0},
	{"mistral-small-latest", 0.10, 0.30, 0},
	{"codestral-latest", 0.30, 0.90, 0},
	{"mistral-embed", 0.10, 0, 0},
}

// defaultModelPrice are models sold per call rather than per token, in USD per call (per image for image
// generation, at the standard 1024×1024 size and quality).
var defaultModelPrice = map[string]float64{
	"dall-e-3":    0.04,
	"dall-e-2":    0.02,
	"gpt-image-1": 0.04,
}

// defaultGroupRatio prices the groups a fresh install knows about at list price; operators raise or lower them.
var defaultGroupRatio = map[string]float64{
	"default": 1,
	"vip":     1,
	"svip":    1,
}

// defaults is the compiled-in snapshot. It is shared and immutable like any other snapshot.
var defaults = buildDefaults()

// Defaults returns the compiled-in pricing tables, which a fresh install starts from. Treat it as read-only.
func Defaults() *Snapshot { return defaults }

// buildDefaults converts listPrices to ratio units: ratio 1 is $0.002 per 1K tokens, i.e. $2 per 1M, so the model
// ratio is input/2, and the completion and cache ratios are the output and cached prices relative to input.
func buildDefaults() *Snapshot {
	s := &Snapshot{
		ModelRatio:       make(map[string]float64, len(listPrices)),
		CompletionRatio:  make(map[string]float64, len(listPrices)),
		CacheRatio:       make(map[string]float64, len(listPrices)),
		CreateCacheRatio: map[string]float64{},
		GroupRatio:       defaultGroupRatio,
		ModelPrice:       defaultModelPrice,
	}
	for _, p := range listPrices {
		s.ModelRatio[p.model] = tidy(p.input / 2)
		if p.input == 0 {
			continue
		}
		if p.output > 0 {
			s.CompletionRatio[p.model] = tidy(p.output / p.input)
		}
		if p.cached > 0 {
			s.CacheRatio[p.model] = tidy(p.cached / p.input)
		}
	}
	return s
}

// tidy rounds x to 12 significant digits so that binary noise from the divisions (0.60/0.15 =
// 3.9999999999999996) does not show up in the ratios operators see and edit, nor nudge a bill across a
// rounding boundary.
func tidy(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 12, 64), 64)
	return v
}
