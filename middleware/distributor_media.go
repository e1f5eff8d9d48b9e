package middleware

import (
	"errors"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"
	"github.com/tidwall/gjson"

	"sluice/constant"
	"sluice/model"
	"sluice/relay"
	relaycommon "sluice/relay/common"
	"sluice/relay/peek"
	"sluice/relay/relayerr"
)

// CtxMediaForm is the context key under which the media distributors leave
// the *peek.Form they read.
const CtxMediaForm = "sluice.media_form"

// DefaultModerationModel is used for a moderation request that names no
// model, as OpenAI does.
const DefaultModerationModel = "omni-moderation-latest"

// maxMediaChannelSkips bounds how many channels of other dialects the
// distributor passes over looking for one that serves a media route.
const maxMediaChannelSkips = 16

// DistributeMedia is Distribute for the media routes (images, audio,
// moderations, rerank) of mode. JSON bodies are peeked as on the chat
// routes. Multipart uploads (image edits, transcriptions, translations)
// are read once, bounded by bodyLimit (413 past it, before any other work),
// and scanned for their fields without copying the files: the body is held
// in memory for the request's duration so a failed attempt can be retried
// on another channel, and streams from there to the upstream. Only
// OpenAI-dialect channels are picked.
func DistributeMedia(cache *model.Cache, bodyLimit int64, mode relaycommon.Mode) gin.HandlerFunc {
	return func(c *gin.Context) {
		var (
			form    peek.Form
			fields  peek.Fields
			headers map[string]string
		)
		if relay.IsMultipart(mode) {
			ctype := c.GetHeader("Content-Type")
			boundary, ok := peek.Boundary(ctype)
			if !ok {
				AbortRelay(c, relayerr.New(relayerr.KindInvalidRequest, "this endpoint takes a multipart/form-data upload"))
				return
			}
			body, rerr := ReadBody(c, bodyLimit)
			if rerr != nil {
				AbortRelay(c, rerr)
				return
			}
			f, err := peek.Multipart(body, boundary)
			if err != nil {
				AbortRelay(c, relayerr.Wrap(relayerr.KindInvalidRequest, err.Error(), err))
				return
			}
			if f.Files == 0 {
				AbortRelay(c, relayerr.New(relayerr.KindInvalidRequest, "the upload carries no file"))
				return
			}
			form, fields = f, peek.Fields{Model: f.Model, N: f.N, Stream: f.Stream}
			headers = map[string]string{"Content-Type": ctype}
			c.Set(constant.CtxBody, body)
		} else {
			body, rerr := ReadBody(c, bodyLimit)
			if rerr != nil {
				AbortRelay(c, rerr)
				return
			}
			f, err := peek.Peek(body)
			if errors.Is(err, peek.ErrMissingModel) && mode == relaycommon.ModeModerations && modelAbsent(body) {
				f, err = peek.Fields{Model: DefaultModerationModel, N: 1}, nil
			}
			if err != nil {
				AbortRelay(c, relayerr.Wrap(relayerr.KindInvalidRequest, err.Error(), err))
				return
			}
			form, fields = peek.MediaJSON(body, f), f
			c.Set(constant.CtxBody, body)
		}
		if !pickMediaChannel(c, cache, fields.Model, mode) {
			return
		}
		c.Set(constant.CtxPeek, fields)
		c.Set(CtxMediaForm, &form)
		if headers != nil {
			c.Set(ctxMediaHeaders, headers)
		}
		c.Next()
	}
}

const ctxMediaHeaders = "sluice.media_headers"

// MediaHeaders returns the client headers the media distributor keeps for
// the upstream (a multipart upload's Content-Type with its boundary).
func MediaHeaders(c *gin.Context) map[string]string {
	if v, ok := c.Get(ctxMediaHeaders); ok {
		return v.(map[string]string)
	}
	return nil
}

// modelAbsent reports a body (already known to be a JSON object) without
// a model, or with a null one; a model of the wrong type stays an error.
func modelAbsent(body []byte) bool {
	m := gjson.GetBytes(body, "model")
	return !m.Exists() || m.Type == gjson.Null
}

// DistributeRealtime admits a Realtime WebSocket request: the model comes
// from ?model=, the request must be an upgrade, and an OpenAI-dialect
// channel is picked.
func DistributeRealtime(cache *model.Cache) gin.HandlerFunc {
	return func(c *gin.Context) {
		m := c.Query("model")
		if m == "" {
			AbortRelay(c, relayerr.New(relayerr.KindInvalidRequest, "the model query parameter is required"))
			return
		}
		if !websocket.IsWebSocketUpgrade(c.Request) {
			AbortRelay(c, relayerr.New(relayerr.KindInvalidRequest, "/v1/realtime takes a WebSocket upgrade").WithStatus(426))
			return
		}
		if !pickMediaChannel(c, cache, m, relaycommon.ModeRealtime) {
			return
		}
		c.Set(constant.CtxPeek, peek.Fields{Model: m, N: 1, Stream: true})
		c.Next()
	}
}

// pickMediaChannel checks the key may use model and picks its first
// channel among those that serve the media routes, setting CtxChannel. It
// answers the client itself and reports false when there is none.
func pickMediaChannel(c *gin.Context, cache *model.Cache, modelName string, mode relaycommon.Mode) bool {
	token := c.MustGet(constant.CtxToken).(*model.TokenEntry).Info()
	user := c.MustGet(constant.CtxUser).(*model.UserEntry).Info()
	if !token.AllowsModel(modelName) {
		AbortRelay(c, relayerr.New(relayerr.KindForbidden, "this API key may not use model "+modelName).WithCode("model_not_allowed"))
		return false
	}
	group := GroupOf(token, user)
	if pin, ok := c.Get(constant.CtxPinnedChan); ok {
		ch := cache.ChannelByID(pin.(int))
		switch {
		case ch == nil:
			AbortRelay(c, relayerr.New(relayerr.KindNotFound, "pinned channel does not exist").WithCode("channel_not_found"))
			return false
		case !ch.Serving():
			AbortRelay(c, relayerr.New(relayerr.KindNoChannel, "pinned channel is disabled"))
			return false
		case !relay.ServesMedia(ch.Type):
			AbortRelay(c, relayerr.New(relayerr.KindNoChannel, "the pinned channel does not serve "+mode.Path()))
			return false
		}
		c.Set(constant.CtxChannel, ch)
		return true
	}
	var skipped []int
	for range maxMediaChannelSkips {
		ch, err := cache.SelectChannel(group, modelName, skipped)
		if err != nil {
			break
		}
		if relay.ServesMedia(ch.Type) {
			c.Set(constant.CtxChannel, ch)
			return true
		}
		skipped = append(skipped, ch.ID)
	}
	switch {
	case len(skipped) > 0:
		AbortRelay(c, relayerr.New(relayerr.KindNoChannel, "no available channel serves "+mode.Path()+" for model "+modelName))
	case cache.ModelKnown(group, modelName):
		AbortRelay(c, relayerr.New(relayerr.KindNoChannel, "no enabled channel is available for model "+modelName))
	default:
		AbortRelay(c, relayerr.New(relayerr.KindNotFound, "model "+modelName+" is not served for group "+group))
	}
	return false
}

// subprotocolKey finds an API key a browser sent in the Realtime
// subprotocol list ("realtime, openai-insecure-api-key.sk-…").
func subprotocolKey(header string) string {
	for _, p := range strings.Split(header, ",") {
		if k, ok := strings.CutPrefix(strings.TrimSpace(p), relay.RealtimeSubprotocolKeyPrefix); ok && k != "" {
			return k
		}
	}
	return ""
}
