package relay

import (
	relaycommon "sluice/relay/common"
	fanthropic "sluice/relay/format/anthropic"
	fgemini "sluice/relay/format/gemini"
	fopenai "sluice/relay/format/openai"
	fresponses "sluice/relay/format/responses"
)

// codecs is the one table from dialect to its conversions.
var codecs = map[relaycommon.Dialect]codec{
	relaycommon.DialectOpenAI: {fopenai.DecodeRequest, fopenai.EncodeRequest, fopenai.DecodeResponse,
		fopenai.EncodeResponse, fopenai.NewStreamDecoder, fopenai.NewStreamEncoder},
	relaycommon.DialectAnthropic: {fanthropic.DecodeRequest, fanthropic.EncodeRequest, fanthropic.DecodeResponse,
		fanthropic.EncodeResponse, fanthropic.NewStreamDecoder, fanthropic.NewStreamEncoder},
	relaycommon.DialectGemini: {fgemini.DecodeRequest, fgemini.EncodeRequest, fgemini.DecodeResponse,
		fgemini.EncodeResponse, fgemini.NewStreamDecoder, fgemini.NewStreamEncoder},
	relaycommon.DialectResponses: {fresponses.DecodeRequest, fresponses.EncodeRequest, fresponses.DecodeResponse,
		fresponses.EncodeResponse, fresponses.NewStreamDecoder, fresponses.NewStreamEncoder},
}
