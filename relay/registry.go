// Package relay runs one request end to end: price, reserve, pick a
// channel, adapt, send (retrying on other channels), relay the answer,
// settle and log. Its single HTTP entry point is Engine.Relay, which takes
// a context and an http.ResponseWriter, not a framework context.
package relay

import (
	"sluice/constant"
	"sluice/relay/channel"
	"sluice/relay/channel/anthropic"
	"sluice/relay/channel/azure"
	"sluice/relay/channel/bedrock"
	"sluice/relay/channel/gemini"
	"sluice/relay/channel/openai"
	"sluice/relay/channel/vertex"
)

// adaptors is the one table from channel type to adaptor. The OpenAI
// dialect providers share one adaptor; they differ only in base URL.
var adaptors = map[constant.ChannelType]channel.Adaptor{
	constant.ChannelTypeOpenAI:     openai.Adaptor{},
	constant.ChannelTypeCustom:     openai.Adaptor{},
	constant.ChannelTypeOllama:     openai.Adaptor{},
	constant.ChannelTypeOpenRouter: openai.Adaptor{},
	constant.ChannelTypeMistral:    openai.Adaptor{},
	constant.ChannelTypeDeepSeek:   openai.Adaptor{},
	constant.ChannelTypeXAI:        openai.Adaptor{},
	constant.ChannelTypeAzure:      azure.Adaptor{},
	constant.ChannelTypeAnthropic:  anthropic.Adaptor{},
	constant.ChannelTypeGemini:     gemini.Adaptor{},
	constant.ChannelTypeAWS:        bedrock.Adaptor{},
	constant.ChannelTypeVertexAI:   vertex.Adaptor{},
}

// AdaptorFor returns the adaptor for a channel type, or nil.
func AdaptorFor(t int) channel.Adaptor { return adaptors[constant.ChannelType(t)] }

// SupportedTypes lists the channel types this build can relay to.
func SupportedTypes() []constant.ChannelType {
	out := make([]constant.ChannelType, 0, len(adaptors))
	for t := range adaptors {
		out = append(out, t)
	}
	return out
}
