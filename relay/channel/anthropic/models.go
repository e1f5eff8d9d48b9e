package anthropic

import (
	"context"
	"errors"
	"net/http"

	"github.com/tidwall/gjson"

	"sluice/relay/channel"
	relaycommon "sluice/relay/common"
)

var _ channel.ModelLister = Adaptor{}

// ModelsRequest implements channel.ModelLister: GET /v1/models (the first
// 1,000, Anthropic's page maximum, which covers its whole catalogue).
func (Adaptor) ModelsRequest(ctx context.Context, info *relaycommon.RelayInfo) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiRoot(info)+"/models?limit=1000", nil)
	if err != nil {
		return nil, err
	}
	if info.Channel.Key != "" {
		req.Header.Set("x-api-key", info.Channel.Key)
	}
	SetHeaders(req, info)
	req.Header.Del("Content-Type")
	return req, nil
}

// ParseModels implements channel.ModelLister.
func (Adaptor) ParseModels(body []byte) ([]string, error) {
	data := gjson.GetBytes(body, "data")
	if !data.IsArray() {
		return nil, errors.New("the upstream answer is not an Anthropic model list")
	}
	var ids []string
	data.ForEach(func(_, m gjson.Result) bool {
		ids = append(ids, m.Get("id").String())
		return true
	})
	return ids, nil
}
