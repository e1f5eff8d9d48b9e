package relay

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"sluice/model"
	"sluice/relay/channel"
	"sluice/relay/channel/openai"
	relaycommon "sluice/relay/common"
	"sluice/relay/peek"
	"sluice/relay/relayerr"
)

// The admin's channel operations (a test call, listing the upstream's
// models) are upstream calls, so they live here with the relay rather than
// in the controllers.

const (
	// ChannelTestTimeout bounds one channel test, connection included.
	ChannelTestTimeout = 30 * time.Second
	// FetchModelsTimeout bounds one model-list call.
	FetchModelsTimeout = 10 * time.Second
	// maxOpsResponseBytes bounds an answer held in memory. OpenRouter's
	// model list, the largest in common use, is a few MB.
	maxOpsResponseBytes = 8 << 20
)

// TestChannel sends the smallest real request for modelName through ch's
// adaptor (a one-token chat completion, or an embedding of one word for an
// embedding model) and returns how long the upstream took to answer in
// full. The error, if any, is a *relayerr.Error whose Message is fit for an
// admin: the upstream's status and reason, without the channel's key;
// DisableChannel says the key or account is dead.
func TestChannel(ctx context.Context, client *http.Client, ch *model.ChannelView, modelName string) (time.Duration, error) {
	ad := AdaptorFor(ch.Type)
	if ad == nil {
		return 0, relayerr.New(relayerr.KindNoChannel, "channel type "+strconv.Itoa(ch.Type)+" is not supported")
	}
	if modelName == "" {
		return 0, relayerr.New(relayerr.KindInvalidRequest, "no model to test with")
	}
	mode, body := testRequest(modelName)
	info := &relaycommon.RelayInfo{RequestID: "channel-test", Mode: mode, OriginModel: modelName,
		UpstreamModel: ch.MapModel(modelName), Channel: ch, StartTime: time.Now()}
	info.Dialect = ad.Dialect(info)
	if info.Dialect != relaycommon.DialectOpenAI {
		// The test request is OpenAI's; a channel of another dialect gets
		// it converted, as a client's would be.
		if mode != relaycommon.ModeChatCompletions {
			return 0, relayerr.New(relayerr.KindInvalidRequest, "this channel type cannot serve "+modelName)
		}
		req := &Request{Mode: mode, Body: body, Peek: peek.Fields{Model: modelName}}
		var rerr *relayerr.Error
		if body, rerr = convertRequest(req, info); rerr != nil {
			return 0, rerr
		}
	}
	ctx, cancel := context.WithTimeout(withChannelProxy(ctx, ch.Settings.Proxy), ChannelTestTimeout)
	defer cancel()
	req, err := ad.BuildRequest(ctx, info, body)
	if err != nil {
		return 0, redactErr(relayerr.Wrap(relayerr.KindInternal, "failed to build the test request: "+err.Error(), err), ch.Key)
	}
	start := time.Now()
	status, respBody, err := doBounded(client, req)
	elapsed := time.Since(start)
	if err != nil {
		return elapsed, redactErr(err, ch.Key)
	}
	if status/100 != 2 {
		return elapsed, redactErr(upstreamStatusErr(ad.ParseError(status, respBody), status), ch.Key)
	}
	if _, _, err := ad.ParseResponse(info, respBody); err != nil {
		return elapsed, redactErr(relayerr.As(err), ch.Key)
	}
	if info.Dialect != relaycommon.DialectOpenAI {
		var rerr *relayerr.Error
		if respBody, _, rerr = convertResponse(relaycommon.DialectOpenAI, info, respBody); rerr != nil {
			return elapsed, redactErr(rerr, ch.Key)
		}
	}
	if e := gjson.GetBytes(respBody, "error"); e.Exists() && e.Type != gjson.Null {
		// Some OpenAI-compatible servers report failures with status 200.
		msg := e.Get("message").String()
		if msg == "" {
			msg = "the upstream answered with an error"
		}
		return elapsed, redactErr(relayerr.New(relayerr.KindUpstream, relayerr.Sanitize(msg)), ch.Key)
	}
	want := "choices"
	if mode == relaycommon.ModeEmbeddings {
		want = "data"
	}
	if !gjson.GetBytes(respBody, want).IsArray() {
		return elapsed, relayerr.New(relayerr.KindUpstream, "the upstream answer has no "+want+" array: not an OpenAI-compatible response")
	}
	return elapsed, nil
}

// testRequest is the smallest request that proves a model answers.
func testRequest(modelName string) (relaycommon.Mode, []byte) {
	q, _ := json.Marshal(modelName) // a string always encodes
	m := string(q)
	if IsEmbeddingModel(modelName) {
		return relaycommon.ModeEmbeddings, []byte(`{"model":` + m + `,"input":"hi"}`)
	}
	limit := `"max_tokens":1`
	if usesCompletionTokens(modelName) {
		// OpenAI's reasoning models refuse max_tokens; they need room to
		// think, or they answer with nothing but still succeed.
		limit = `"max_completion_tokens":16`
	}
	return relaycommon.ModeChatCompletions,
		[]byte(`{"model":` + m + `,"messages":[{"role":"user","content":"hi"}],` + limit + `}`)
}

// IsEmbeddingModel guesses from its name whether a model only embeds, as
// new-api does for its channel test.
func IsEmbeddingModel(name string) bool {
	n := strings.ToLower(name)
	if i := strings.LastIndexByte(n, '/'); i >= 0 {
		n = n[i+1:]
	}
	return strings.Contains(n, "embed") || strings.HasPrefix(n, "bge-") || strings.HasPrefix(n, "m3e")
}

func usesCompletionTokens(name string) bool {
	n := strings.ToLower(name)
	if i := strings.LastIndexByte(n, '/'); i >= 0 {
		n = n[i+1:]
	}
	for _, p := range []string{"o1", "o3", "o4", "gpt-5"} {
		if n == p || strings.HasPrefix(n, p+"-") {
			return true
		}
	}
	return false
}

// CanFetchModels reports whether FetchModels can list the models of a
// channel type.
func CanFetchModels(t int) bool {
	ad := AdaptorFor(t)
	if _, ok := ad.(channel.ModelLister); ok {
		return true
	}
	_, ok := ad.(openai.Adaptor)
	return ok
}

// FetchModels lists the models ch's upstream offers (GET /v1/models with
// the channel's key, or the provider's own list), sorted and de-duplicated.
func FetchModels(ctx context.Context, client *http.Client, ch *model.ChannelView) ([]string, error) {
	ad := AdaptorFor(ch.Type)
	if !CanFetchModels(ch.Type) {
		return nil, relayerr.New(relayerr.KindInvalidRequest,
			"listing models is not supported for channel type "+strconv.Itoa(ch.Type))
	}
	ctx, cancel := context.WithTimeout(withChannelProxy(ctx, ch.Settings.Proxy), FetchModelsTimeout)
	defer cancel()
	info := &relaycommon.RelayInfo{Channel: ch}
	lister, native := ad.(channel.ModelLister)
	var req *http.Request
	var err error
	if native {
		req, err = lister.ModelsRequest(ctx, info)
	} else {
		req, err = openAIModelsRequest(ctx, info)
	}
	if err != nil {
		return nil, relayerr.Wrap(relayerr.KindInvalidRequest, "invalid base_url", err)
	}
	status, body, err := doBounded(client, req)
	if err != nil {
		return nil, redactErr(err, ch.Key)
	}
	if status/100 != 2 {
		return nil, redactErr(upstreamStatusErr(ad.ParseError(status, body), status), ch.Key)
	}
	var ids []string
	if native {
		if ids, err = lister.ParseModels(body); err != nil {
			return nil, relayerr.Wrap(relayerr.KindUpstream, err.Error(), err)
		}
	} else {
		data := gjson.GetBytes(body, "data")
		if !data.IsArray() {
			return nil, relayerr.New(relayerr.KindUpstream, "the upstream answer is not an OpenAI model list")
		}
		for _, m := range data.Array() {
			ids = append(ids, m.Get("id").String())
		}
	}
	out := ids[:0]
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func openAIModelsRequest(ctx context.Context, info *relaycommon.RelayInfo) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, openai.URL(info, "/models"), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if info.Channel.Key != "" {
		req.Header.Set("Authorization", "Bearer "+info.Channel.Key)
	}
	for k, v := range info.Channel.Headers {
		req.Header.Set(k, v)
	}
	return req, nil
}

// doBounded sends req and reads at most maxOpsResponseBytes of the answer.
// Transport failures come back as relay errors naming the cause (refused,
// timed out, DNS), without the request URL.
func doBounded(client *http.Client, req *http.Request) (int, []byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, transportErr(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOpsResponseBytes+1))
	if err != nil {
		return 0, nil, transportErr(err)
	}
	if len(body) > maxOpsResponseBytes {
		return 0, nil, relayerr.New(relayerr.KindUpstream, "the upstream answer is larger than "+
			strconv.Itoa(maxOpsResponseBytes>>20)+" MB")
	}
	if resp.StatusCode/100 == 3 {
		// The client never follows redirects (the key must not go to
		// another host); say so rather than report a puzzling 3xx.
		return 0, nil, relayerr.New(relayerr.KindUpstream, "the upstream redirected (status "+
			strconv.Itoa(resp.StatusCode)+"); check the base_url")
	}
	return resp.StatusCode, body, nil
}

// transportErr classifies err like the relay does and appends its cause,
// which an admin needs ("connection refused", "no such host"). The URL is
// stripped: it may carry a credential in its query.
func transportErr(err error) *relayerr.Error {
	e := relayerr.FromTransport(err)
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		e.Message = "the upstream did not answer in time"
		return e
	}
	e.Message += ": " + cause.Error()
	return e
}

// upstreamStatusErr adds the upstream's status to a normalised error, so an
// admin can tell a 401 from a 403 or a 404 (the relay's client-facing
// messages leave it out on purpose).
func upstreamStatusErr(e *relayerr.Error, status int) *relayerr.Error {
	s := strconv.Itoa(status)
	if !strings.Contains(e.Message, s) {
		e.Message = "upstream answered " + s + ": " + e.Message
	}
	return e
}

// redactErr removes the channel's key from err's message, whatever the
// upstream or the transport echoed. A key field may hold several
// credentials, one per line; each is removed.
func redactErr(err error, key string) *relayerr.Error {
	secrets := append([]string{strings.TrimSpace(key)}, strings.Fields(key)...)
	return relayerr.As(err).Redact(secrets...)
}
