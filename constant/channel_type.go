// Package constant holds names shared across packages: channel types, roles,
// statuses, log types, context keys and cache key formats. Nothing here is
// mutable.
package constant

// ChannelType identifies an upstream provider. The values are persisted in
// the channels table and follow new-api's numbering so that exported channel
// lists carry over; never renumber them.
type ChannelType int

// Channel types (CONTRACT.md). Explicit values: they are stored.
const (
	ChannelTypeOpenAI     ChannelType = 1
	ChannelTypeAzure      ChannelType = 3
	ChannelTypeOllama     ChannelType = 4
	ChannelTypeCustom     ChannelType = 8
	ChannelTypeAnthropic  ChannelType = 14
	ChannelTypeOpenRouter ChannelType = 20
	ChannelTypeGemini     ChannelType = 24
	ChannelTypeAWS        ChannelType = 33
	ChannelTypeVertexAI   ChannelType = 41
	ChannelTypeMistral    ChannelType = 42
	ChannelTypeDeepSeek   ChannelType = 43
	ChannelTypeXAI        ChannelType = 48
)

// String names the provider for logs and the admin UI.
func (t ChannelType) String() string {
	switch t {
	case ChannelTypeOpenAI:
		return "OpenAI"
	case ChannelTypeAzure:
		return "Azure OpenAI"
	case ChannelTypeOllama:
		return "Ollama"
	case ChannelTypeCustom:
		return "Custom"
	case ChannelTypeAnthropic:
		return "Anthropic"
	case ChannelTypeOpenRouter:
		return "OpenRouter"
	case ChannelTypeGemini:
		return "Gemini"
	case ChannelTypeAWS:
		return "AWS Bedrock"
	case ChannelTypeVertexAI:
		return "Vertex AI"
	case ChannelTypeMistral:
		return "Mistral"
	case ChannelTypeDeepSeek:
		return "DeepSeek"
	case ChannelTypeXAI:
		return "xAI"
	}
	return "Unknown"
}
