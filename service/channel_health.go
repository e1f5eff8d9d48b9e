package service

import (
	"log/slog"

	"sluice/constant"
	"sluice/model"
)

// ChannelHealth switches off channels whose upstream rejects their
// credentials, so later requests stop paying a failed attempt for them.
type ChannelHealth struct {
	Store *model.Store
	Cache *model.Cache
	// Enabled reports the AutomaticDisableChannelEnabled option.
	Enabled func() bool
	Writer  *BatchWriter
}

// AutoDisable marks a channel auto-disabled (status 3) when its auto_ban is
// on and the option allows it, and records a system log saying why.
func (h *ChannelHealth) AutoDisable(ch *model.ChannelView, reason string) {
	if ch == nil || !ch.AutoBan || (h.Enabled != nil && !h.Enabled()) {
		return
	}
	if err := h.Store.SetChannelStatus(ch.ID, constant.ChannelStatusAutoDisabled); err != nil {
		slog.Error("auto-disable channel failed", "channel_id", ch.ID, "err", err)
		return
	}
	if err := h.Cache.ReloadChannels(); err != nil {
		slog.Error("reload channels after auto-disable failed", "err", err)
	}
	slog.Warn("channel auto-disabled", "channel_id", ch.ID, "channel", ch.Name, "reason", reason)
	if h.Writer != nil {
		h.Writer.AddLog(model.Log{Type: constant.LogTypeSystem, ChannelID: ch.ID,
			Content: "channel #" + itoa(ch.ID) + " (" + ch.Name + ") auto-disabled: " + reason})
	}
}
