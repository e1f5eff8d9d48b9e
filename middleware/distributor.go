package middleware

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"sluice/common"
	"sluice/constant"
	"sluice/model"
	"sluice/relay/peek"
	"sluice/relay/relayerr"
)

// ReadBody reads the request body once, refusing it with 413 past limit
// before doing any other work.
func ReadBody(c *gin.Context, limit int64) ([]byte, *relayerr.Error) {
	if c.Request.ContentLength > limit {
		return nil, relayerr.New(relayerr.KindBodyTooLarge, "request body exceeds "+strconv.FormatInt(limit>>20, 10)+" MB")
	}
	// MaxBytesReader never yields more than limit bytes: past them it fails
	// with MaxBytesError, and has the server close the connection rather
	// than drain what is left of a body too large.
	body, err := common.ReadSized(http.MaxBytesReader(nil, c.Request.Body, limit), c.Request.ContentLength, limit)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, relayerr.New(relayerr.KindBodyTooLarge, "request body exceeds "+strconv.FormatInt(limit>>20, 10)+" MB")
	}
	if err != nil {
		return nil, relayerr.Wrap(relayerr.KindInvalidRequest, "could not read the request body", err)
	}
	return body, nil
}

// GroupOf is the group a request is billed and routed in: the key's own
// group when set, else its owner's.
func GroupOf(t *model.TokenInfo, u *model.UserInfo) string {
	if t.Group != "" {
		return t.Group
	}
	if u.Group != "" {
		return u.Group
	}
	return constant.DefaultGroup
}

// Distribute reads and peeks the body, checks the key may use the model,
// and picks the first channel (or the pinned one). Retries pick further
// channels inside the relay.
func Distribute(cache *model.Cache, bodyLimit int64) gin.HandlerFunc {
	return distribute(cache, bodyLimit, func(_ *gin.Context, body []byte) (peek.Fields, error) { return peek.Peek(body) })
}

// DistributeGemini is Distribute for Gemini's routes, whose model and
// stream flag are in the path: /v1beta/models/{model}:{action}.
func DistributeGemini(cache *model.Cache, bodyLimit int64) gin.HandlerFunc {
	return distribute(cache, bodyLimit, func(c *gin.Context, body []byte) (peek.Fields, error) {
		model, stream, _ := GeminiAction(c.Param("action"))
		return peek.PeekGemini(body, model, stream)
	})
}

// GeminiAction splits a Gemini model path ("/gemini-2.0-flash:generateContent")
// into the model and whether the action streams; ok is false for an action
// the gateway does not serve.
func GeminiAction(path string) (model string, stream, ok bool) {
	path = strings.TrimPrefix(path, "/")
	i := strings.LastIndexByte(path, ':')
	if i <= 0 {
		return "", false, false
	}
	switch path[i+1:] {
	case "generateContent":
		return path[:i], false, true
	case "streamGenerateContent":
		return path[:i], true, true
	}
	return "", false, false
}

func distribute(cache *model.Cache, bodyLimit int64, peekBody func(*gin.Context, []byte) (peek.Fields, error)) gin.HandlerFunc {
	// The handler's own frame stays small (route does the work) because a
	// stream's handler goroutine holds this frame while it is open: see
	// relay.Engine.attempt.
	return func(c *gin.Context) {
		if route(c, cache, bodyLimit, peekBody) {
			c.Next()
		}
	}
}

// route reads and peeks at the body and picks the channel, storing them
// in c; false means it aborted c with the error.
func route(c *gin.Context, cache *model.Cache, bodyLimit int64, peekBody func(*gin.Context, []byte) (peek.Fields, error)) bool {
	body, rerr := ReadBody(c, bodyLimit)
	if rerr != nil {
		AbortRelay(c, rerr)
		return false
	}
	f, err := peekBody(c, body)
	if err != nil {
		AbortRelay(c, relayerr.Wrap(relayerr.KindInvalidRequest, err.Error(), err))
		return false
	}
	token := c.MustGet(constant.CtxToken).(*model.TokenEntry).Info()
	user := c.MustGet(constant.CtxUser).(*model.UserEntry).Info()
	if !token.AllowsModel(f.Model) {
		AbortRelay(c, relayerr.New(relayerr.KindForbidden, "this API key may not use model "+f.Model).WithCode("model_not_allowed"))
		return false
	}
	group := GroupOf(token, user)
	var ch *model.ChannelView
	if pin, ok := c.Get(constant.CtxPinnedChan); ok {
		ch = cache.ChannelByID(pin.(int))
		if ch == nil {
			AbortRelay(c, relayerr.New(relayerr.KindNotFound, "pinned channel does not exist").WithCode("channel_not_found"))
			return false
		}
		if !ch.Serving() {
			AbortRelay(c, relayerr.New(relayerr.KindNoChannel, "pinned channel is disabled"))
			return false
		}
	} else {
		ch, err = cache.SelectChannel(group, f.Model, nil)
		if err != nil {
			if cache.ModelKnown(group, f.Model) {
				AbortRelay(c, relayerr.New(relayerr.KindNoChannel, "no enabled channel is available for model "+f.Model))
			} else {
				AbortRelay(c, relayerr.New(relayerr.KindNotFound, "model "+f.Model+" is not served for group "+group))
			}
			return false
		}
	}
	c.Set(constant.CtxBody, body)
	c.Set(constant.CtxPeek, f)
	c.Set(constant.CtxChannel, ch)
	return true
}
