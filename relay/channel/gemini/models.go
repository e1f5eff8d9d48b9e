package gemini

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"sluice/relay/channel"
	relaycommon "sluice/relay/common"
)

var _ channel.ModelLister = Adaptor{}

// ModelsRequest implements channel.ModelLister: GET /v1beta/models, one
// page of 1,000 (the API's maximum, far above its catalogue).
func (Adaptor) ModelsRequest(ctx context.Context, info *relaycommon.RelayInfo) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiRoot(info)+"/models?pageSize=1000", nil)
	if err != nil {
		return nil, err
	}
	if info.Channel.Key != "" {
		req.Header.Set("x-goog-api-key", info.Channel.Key)
	}
	SetHeaders(req, info)
	req.Header.Del("Content-Type")
	return req, nil
}

// ParseModels implements channel.ModelLister: names lose their "models/"
// prefix, and only models that generate content are listed.
func (Adaptor) ParseModels(body []byte) ([]string, error) {
	models := gjson.GetBytes(body, "models")
	if !models.IsArray() {
		return nil, errors.New("the upstream answer is not a Gemini model list")
	}
	var ids []string
	models.ForEach(func(_, m gjson.Result) bool {
		methods := m.Get("supportedGenerationMethods")
		generates := !methods.Exists()
		methods.ForEach(func(_, v gjson.Result) bool {
			generates = generates || v.String() == "generateContent"
			return !generates
		})
		if generates {
			ids = append(ids, strings.TrimPrefix(m.Get("name").String(), "models/"))
		}
		return true
	})
	return ids, nil
}
