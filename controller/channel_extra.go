package controller

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"sluice/constant"
	"sluice/model"
	"sluice/relay"
	"sluice/relay/relayerr"
	"sluice/setting/operation_setting"
)

// testAllConcurrency bounds how many channels GET /api/channel/test calls
// at once, so testing a hundred channels does not look like a burst to the
// upstreams or tie up the relay pool.
const testAllConcurrency = 4

// channelFromStore loads a channel's relay view, answering 404 or 500
// itself when it cannot.
func (h *Handlers) channelFromStore(c *gin.Context) (*model.ChannelView, bool) {
	id, okID := idParam(c)
	if !okID {
		return nil, false
	}
	ch, err := h.Store.ChannelViewByID(id)
	if err != nil {
		if errors.Is(err, model.ErrNotFound) {
			fail(c, http.StatusNotFound, "channel not found")
			return nil, false
		}
		internal(c, err)
		return nil, false
	}
	return ch, true
}

// testModelOf is the model a channel is tested with: the one asked for, or
// the first the channel lists.
func testModelOf(ch *model.ChannelView, asked string) string {
	if asked = strings.TrimSpace(asked); asked != "" {
		return asked
	}
	if len(ch.Models) > 0 {
		return ch.Models[0]
	}
	return ""
}

// TestChannel answers GET /api/channel/test/:id?model=: one minimal real
// request through the channel, in new-api's shape
// {"success","message","time"} (time in seconds). A successful test
// records the response time on the channel. A manual test never disables
// the channel, whatever the upstream says: the admin is looking at the
// answer and decides.
func (h *Handlers) TestChannel(c *gin.Context) {
	ch, okCh := h.channelFromStore(c)
	if !okCh {
		return
	}
	m := testModelOf(ch, c.Query("model"))
	if m == "" {
		badRequest(c, "the channel lists no model to test with; pass ?model=")
		return
	}
	elapsed, err := relay.TestChannel(c.Request.Context(), h.Engine.Client, ch, m)
	if err != nil {
		c.JSON(http.StatusOK, gin.H{"success": false, "message": testFailure(err), "time": elapsed.Seconds()})
		return
	}
	if err := h.Store.RecordChannelTest(ch.ID, int(elapsed.Milliseconds())); err != nil {
		_ = c.Error(err)
	}
	c.JSON(http.StatusOK, gin.H{"success": true, "message": "", "time": elapsed.Seconds()})
}

// testFailure is the admin-facing message of a failed test; relay.TestChannel
// already removed the channel key from it.
func testFailure(err error) string {
	var re *relayerr.Error
	if errors.As(err, &re) {
		return re.Message
	}
	return "channel test failed"
}

// TestAllChannels answers GET /api/channel/test: it tests every enabled
// channel in the background, a few at a time, and answers at once. A
// channel whose test shows a dead key or account is auto-disabled when its
// auto_ban and the AutomaticDisableChannelEnabled option allow it.
func (h *Handlers) TestAllChannels(c *gin.Context) {
	guard := &h.testAllRunning
	if !guard.CompareAndSwap(false, true) {
		fail(c, http.StatusConflict, "a test of all channels is already running")
		return
	}
	chans, err := h.Store.EnabledChannelViews()
	if err != nil {
		guard.Store(false)
		internal(c, err)
		return
	}
	h.Engine.Tasks.Go(context.WithoutCancel(c.Request.Context()), func() {
		defer guard.Store(false)
		h.testAll(h.background(), chans)
	})
	ok(c, gin.H{"channels": len(chans)})
}

// testAll tests chans, testAllConcurrency at a time; it starts no new test
// once ctx is done.
func (h *Handlers) testAll(ctx context.Context, chans []*model.ChannelView) {
	sem := make(chan struct{}, testAllConcurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, ch := range chans {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			h.testOne(ctx, ch)
		})
	}
}

func (h *Handlers) testOne(ctx context.Context, ch *model.ChannelView) {
	m := testModelOf(ch, "")
	if m == "" {
		return
	}
	elapsed, err := relay.TestChannel(ctx, h.Engine.Client, ch, m)
	if err == nil {
		if err := h.Store.RecordChannelTest(ch.ID, int(elapsed.Milliseconds())); err != nil {
			slog.Error("record channel test failed", "channel_id", ch.ID, "err", err)
		}
		return
	}
	slog.Warn("channel test failed", "channel_id", ch.ID, "model", m, "err", testFailure(err))
	var re *relayerr.Error
	if errors.As(err, &re) && re.DisableChannel && ch.AutoBan && h.Engine.Health != nil &&
		operation_setting.Get().AutomaticDisableChannelEnabled {
		h.Engine.Health.AutoDisable(ch, "channel test: "+re.Message)
	}
}

// FetchChannelModels answers GET /api/channel/fetch_models/:id: the model
// ids the saved channel's upstream lists, sorted.
func (h *Handlers) FetchChannelModels(c *gin.Context) {
	ch, okCh := h.channelFromStore(c)
	if !okCh {
		return
	}
	h.fetchModels(c, ch)
}

// fetchModelsInput is an unsaved channel, as the channel editor sends it.
type fetchModelsInput struct {
	BaseURL string `json:"base_url"`
	Type    int    `json:"type"`
	Key     string `json:"key"`
}

// FetchModelsUnsaved answers POST /api/channel/fetch_models
// {base_url, type, key}: the same as for a saved channel, for one being
// created.
func (h *Handlers) FetchModelsUnsaved(c *gin.Context) {
	var in fetchModelsInput
	if err := c.ShouldBindJSON(&in); err != nil {
		badRequest(c, "invalid JSON body")
		return
	}
	in.BaseURL = strings.TrimSpace(in.BaseURL)
	in.Key = strings.TrimSpace(in.Key)
	// The checks of a saved channel's base_url (scheme, SSRF policy) apply
	// to an unsaved one too.
	urlErr := model.ValidateBaseURL(in.BaseURL)
	switch {
	case in.Type == 0:
		badRequest(c, "type is required")
		return
	case relay.AdaptorFor(in.Type) == nil:
		badRequest(c, "channel type "+strconv.Itoa(in.Type)+" is not supported")
		return
	case urlErr != nil:
		badRequest(c, urlErr.Error())
		return
	case in.Key == "" && in.Type != int(constant.ChannelTypeOllama):
		badRequest(c, "key is required")
		return
	}
	h.fetchModels(c, &model.ChannelView{Type: in.Type, BaseURL: in.BaseURL, Key: in.Key})
}

func (h *Handlers) fetchModels(c *gin.Context, ch *model.ChannelView) {
	if !relay.CanFetchModels(ch.Type) {
		badRequest(c, "listing models is not supported for channel type "+strconv.Itoa(ch.Type))
		return
	}
	ids, err := relay.FetchModels(c.Request.Context(), h.Engine.Client, ch)
	if err != nil {
		fail(c, http.StatusBadGateway, "fetching the model list failed: "+testFailure(err))
		return
	}
	if ids == nil {
		ids = []string{}
	}
	ok(c, ids)
}

// tagInput is the body of the tag routes.
type tagInput struct {
	Tag          string  `json:"tag"`
	NewTag       *string `json:"new_tag"`
	Priority     *int64  `json:"priority"`
	Weight       *uint   `json:"weight"`
	Models       *string `json:"models"`
	Groups       *string `json:"groups"`
	ModelMapping *string `json:"model_mapping"`
}

func decodeTag(c *gin.Context) (*tagInput, bool) {
	var in tagInput
	if err := c.ShouldBindJSON(&in); err != nil {
		badRequest(c, "invalid JSON body: "+err.Error())
		return nil, false
	}
	in.Tag = strings.TrimSpace(in.Tag)
	if in.Tag == "" {
		badRequest(c, "tag is required")
		return nil, false
	}
	return &in, true
}

// tagDone answers a tag operation and makes it take effect at once.
func (h *Handlers) tagDone(c *gin.Context, tag string, n int, err error) {
	if err != nil {
		if errors.Is(err, model.ErrNotFound) {
			fail(c, http.StatusNotFound, "no channel has the tag "+strconv.Quote(tag))
			return
		}
		internal(c, err)
		return
	}
	h.reloadChannels(c)
	ok(c, gin.H{"channels": n})
}

// DisableTag answers POST /api/channel/tag/disabled {tag}: every channel
// with the tag is manually disabled.
func (h *Handlers) DisableTag(c *gin.Context) {
	in, okIn := decodeTag(c)
	if !okIn {
		return
	}
	n, err := h.Store.SetChannelStatusByTag(in.Tag, constant.ChannelStatusManuallyDisabled)
	h.tagDone(c, in.Tag, n, err)
}

// EnableTag answers POST /api/channel/tag/enabled {tag}: every channel
// with the tag is enabled, including auto-disabled ones.
func (h *Handlers) EnableTag(c *gin.Context) {
	in, okIn := decodeTag(c)
	if !okIn {
		return
	}
	n, err := h.Store.SetChannelStatusByTag(in.Tag, constant.ChannelStatusEnabled)
	h.tagDone(c, in.Tag, n, err)
}

// EditTag answers PUT /api/channel/tag
// {tag, new_tag?, priority?, weight?, models?, groups?, model_mapping?}:
// the given fields are set on every channel with the tag and their
// abilities rewritten, in one transaction.
func (h *Handlers) EditTag(c *gin.Context) {
	in, okIn := decodeTag(c)
	if !okIn {
		return
	}
	e := model.TagEdit{NewTag: in.NewTag, Priority: in.Priority, Weight: in.Weight, Models: in.Models,
		Groups: in.Groups, ModelMapping: in.ModelMapping}
	if err := e.Validate(); err != nil {
		badRequest(c, err.Error())
		return
	}
	n, err := h.Store.EditChannelsByTag(in.Tag, e)
	h.tagDone(c, in.Tag, n, err)
}

// SearchChannels answers GET /api/channel/search with the list's filters
// (keyword, group, model, tag, status, type) and paging.
func (h *Handlers) SearchChannels(c *gin.Context) {
	var status, typ int
	for name, dst := range map[string]*int{"status": &status, "type": &typ} {
		if v := c.Query(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				badRequest(c, name+" must be a non-negative integer")
				return
			}
			*dst = n
		}
	}
	p, size := pageParams(c)
	cs, total, err := h.Store.ListChannels(model.ChannelFilter{Keyword: strings.TrimSpace(c.Query("keyword")),
		Group: c.Query("group"), Model: c.Query("model"), Tag: c.Query("tag"), Status: status, Type: typ,
		Page: p, PageSize: size})
	if err != nil {
		internal(c, err)
		return
	}
	if cs == nil {
		cs = []model.Channel{}
	}
	ok(c, page{Items: cs, Total: total, Page: p, PageSize: size})
}

// channelModel is a model with the channels that list it.
type channelModel struct {
	ID         string `json:"id"`
	ChannelIDs []int  `json:"channel_ids"`
}

// ChannelModels answers GET /api/channel/models: every model any channel
// lists, enabled or not, sorted, with the ids of those channels.
func (h *Handlers) ChannelModels(c *gin.Context) {
	idx, err := h.Store.ChannelModelIndex()
	if err != nil {
		internal(c, err)
		return
	}
	out := make([]channelModel, 0, len(idx))
	for m, ids := range idx {
		out = append(out, channelModel{ID: m, ChannelIDs: ids})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	ok(c, out)
}

// EnabledChannelModels answers GET /api/channel/models_enabled: the models
// an enabled channel serves, as the router sees them.
func (h *Handlers) EnabledChannelModels(c *gin.Context) {
	ms := h.Cache.AllModels()
	if ms == nil {
		ms = []string{}
	}
	ok(c, ms)
}
