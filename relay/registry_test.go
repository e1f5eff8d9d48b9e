package relay

import (
	"testing"

	"sluice/constant"
)

// Every channel type the admin API accepts must have an adaptor: a type
// without one would take channels that can serve nothing.
func TestEveryChannelTypeHasAnAdaptor(t *testing.T) {
	types := []constant.ChannelType{
		constant.ChannelTypeOpenAI, constant.ChannelTypeAzure, constant.ChannelTypeOllama, constant.ChannelTypeCustom,
		constant.ChannelTypeAnthropic, constant.ChannelTypeOpenRouter, constant.ChannelTypeGemini, constant.ChannelTypeAWS,
		constant.ChannelTypeVertexAI, constant.ChannelTypeMistral, constant.ChannelTypeDeepSeek, constant.ChannelTypeXAI,
	}
	for _, ct := range types {
		if AdaptorFor(int(ct)) == nil {
			t.Errorf("channel type %d (%s) has no adaptor", ct, ct)
		}
	}
	if got := len(SupportedTypes()); got != len(types) {
		t.Errorf("SupportedTypes lists %d types, this test knows %d: add the new one here", got, len(types))
	}
}
