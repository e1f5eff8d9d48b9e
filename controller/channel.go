package controller

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"sluice/model"
	"sluice/relay"
)

// channelInput is a channel as the admin sends it; Key is write-only.
type channelInput struct {
	model.Channel
	Key string `json:"key"`
	// AutoBanIn shadows Channel.AutoBan so an absent field can default to 1.
	AutoBanIn *int `json:"auto_ban"`
}

// decodeChannel accepts the channel object itself or new-api's
// {"mode":"single","channel":{…}} wrapper.
func decodeChannel(c *gin.Context) (*channelInput, error) {
	raw, err := c.GetRawData()
	if err != nil {
		return nil, err
	}
	var probe struct {
		Mode    string          `json:"mode"`
		Channel json.RawMessage `json:"channel"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, errors.New("invalid JSON body")
	}
	if len(probe.Channel) > 0 && !bytes.Equal(probe.Channel, []byte("null")) {
		if probe.Mode != "" && probe.Mode != "single" {
			return nil, errors.New("only mode \"single\" is supported")
		}
		raw = probe.Channel
	}
	var in channelInput
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, errors.New("invalid channel object: " + err.Error())
	}
	in.AutoBan = 1
	if in.AutoBanIn != nil {
		in.AutoBan = *in.AutoBanIn
	}
	return &in, nil
}

func (h *Handlers) checkChannel(in *channelInput) error {
	if err := model.ValidateChannel(&in.Channel); err != nil {
		return err
	}
	if relay.AdaptorFor(in.Type) == nil {
		return errors.New("channel type " + strconv.Itoa(in.Type) + " is not supported")
	}
	if in.AutoBan != 0 && in.AutoBan != 1 {
		return errors.New("auto_ban must be 0 or 1")
	}
	if in.Group == "" {
		in.Group = "default"
	}
	return nil
}

// ListChannels answers GET /api/channel/.
func (h *Handlers) ListChannels(c *gin.Context) {
	p, size := pageParams(c)
	status, _ := strconv.Atoi(c.Query("status"))
	typ, _ := strconv.Atoi(c.Query("type"))
	cs, total, err := h.Store.ListChannels(model.ChannelFilter{Keyword: c.Query("keyword"), Group: c.Query("group"),
		Model: c.Query("model"), Tag: c.Query("tag"), Status: status, Type: typ, Page: p, PageSize: size})
	if err != nil {
		internal(c, err)
		return
	}
	ok(c, page{Items: cs, Total: total, Page: p, PageSize: size})
}

// GetChannel answers GET /api/channel/:id (without the key).
func (h *Handlers) GetChannel(c *gin.Context) {
	id, okID := idParam(c)
	if !okID {
		return
	}
	ch, err := h.Store.ChannelByID(id)
	if err != nil {
		fail(c, http.StatusNotFound, "channel not found")
		return
	}
	ok(c, ch)
}

// CreateChannel answers POST /api/channel/.
func (h *Handlers) CreateChannel(c *gin.Context) {
	in, err := decodeChannel(c)
	if err != nil {
		badRequest(c, err.Error())
		return
	}
	in.ID = 0
	if err := h.checkChannel(in); err != nil {
		badRequest(c, err.Error())
		return
	}
	if in.Key == "" {
		badRequest(c, "key is required")
		return
	}
	if err := h.Store.CreateChannel(&in.Channel, in.Key); err != nil {
		internal(c, err)
		return
	}
	h.reloadChannels(c)
	h.audit(c, "created channel #"+strconv.Itoa(in.ID)+" ("+in.Name+")")
	ok(c, in.Channel)
}

// UpdateChannel answers PUT /api/channel/; an empty key keeps the stored one.
func (h *Handlers) UpdateChannel(c *gin.Context) {
	in, err := decodeChannel(c)
	if err != nil {
		badRequest(c, err.Error())
		return
	}
	if in.ID <= 0 {
		badRequest(c, "id is required")
		return
	}
	if err := h.checkChannel(in); err != nil {
		badRequest(c, err.Error())
		return
	}
	if err := h.Store.UpdateChannel(&in.Channel, in.Key); err != nil {
		if errors.Is(err, model.ErrNotFound) {
			fail(c, http.StatusNotFound, "channel not found")
			return
		}
		internal(c, err)
		return
	}
	h.reloadChannels(c)
	h.audit(c, "updated channel #"+strconv.Itoa(in.ID)+" ("+in.Name+")")
	ch, err := h.Store.ChannelByID(in.ID)
	if err != nil {
		internal(c, err)
		return
	}
	ok(c, ch)
}

// DeleteChannel answers DELETE /api/channel/:id.
func (h *Handlers) DeleteChannel(c *gin.Context) {
	id, okID := idParam(c)
	if !okID {
		return
	}
	if err := h.Store.DeleteChannel(id); err != nil {
		if errors.Is(err, model.ErrNotFound) {
			fail(c, http.StatusNotFound, "channel not found")
			return
		}
		internal(c, err)
		return
	}
	h.reloadChannels(c)
	h.audit(c, "deleted channel #"+strconv.Itoa(id))
	ok(c, nil)
}

// reloadChannels makes an admin change take effect at once on this instance.
func (h *Handlers) reloadChannels(c *gin.Context) {
	if err := h.Cache.ReloadChannels(); err != nil {
		_ = c.Error(err)
	}
}
