package channel

import (
	"net/http"

	"github.com/tidwall/gjson"

	relaycommon "sluice/relay/common"
	"sluice/relay/relayerr"
)

// SetJSONHeaders sets what every JSON upstream call carries: the body's
// type and the answer's (SSE for a stream). Call ApplyChannelHeaders last.
func SetJSONHeaders(req *http.Request, info *relaycommon.RelayInfo) {
	req.Header.Set("Content-Type", "application/json")
	if info.IsStream {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
}

// ApplyChannelHeaders sets the channel's own extra headers, which may
// override anything the adaptor set (validated when the channel was saved).
func ApplyChannelHeaders(req *http.Request, info *relaycommon.RelayInfo) {
	for k, v := range info.Channel.Headers {
		req.Header.Set(k, v)
	}
}

// CheckJSON refuses an upstream success body that is not JSON: a proxy's
// HTML page or a cut body must not reach the client as a success.
func CheckJSON(body []byte) error {
	if !gjson.ValidBytes(body) {
		return relayerr.New(relayerr.KindUpstream, "the upstream provider returned a malformed response").Retry()
	}
	return nil
}
