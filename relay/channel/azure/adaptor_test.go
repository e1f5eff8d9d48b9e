package azure

import (
	"context"
	"io"
	"testing"

	"sluice/model"
	relaycommon "sluice/relay/common"
)

func TestBuildRequest(t *testing.T) {
	ch := &model.ChannelView{Type: 3, BaseURL: "https://res.openai.azure.com/", Key: "azure-key",
		Settings: model.ChannelSettings{APIVersion: "2025-01-01-preview"}}
	info := &relaycommon.RelayInfo{Mode: relaycommon.ModeChatCompletions, Dialect: relaycommon.DialectOpenAI,
		OriginModel: "gpt-4o", UpstreamModel: "my deploy", IsStream: true, Channel: ch}
	req, err := Adaptor{}.BuildRequest(context.Background(), info, []byte(`{"model":"gpt-4o","stream":true,"messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := req.URL.String(); got != "https://res.openai.azure.com/openai/deployments/my%20deploy/chat/completions?api-version=2025-01-01-preview" {
		t.Fatalf("URL %s", got)
	}
	if req.Header.Get("api-key") != "azure-key" || req.Header.Get("Authorization") != "" {
		t.Fatalf("auth headers %v", req.Header)
	}
	body, _ := io.ReadAll(req.Body)
	if string(body) != `{"model":"my deploy","stream":true,"messages":[],"stream_options":{"include_usage":true}}` {
		t.Fatalf("body %s", body)
	}
	// A Responses client on Azure is converted to Chat Completions.
	if (Adaptor{}).Dialect(&relaycommon.RelayInfo{Mode: relaycommon.ModeResponses, Channel: ch}) != relaycommon.DialectOpenAI {
		t.Fatal("Azure must take Chat Completions")
	}
	ch.Settings.APIVersion = ""
	if got := URL(info); got != "https://res.openai.azure.com/openai/deployments/my%20deploy/chat/completions?api-version="+DefaultAPIVersion {
		t.Fatalf("default api-version URL %s", got)
	}
}
