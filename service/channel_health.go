package service

import (
	"log/slog"
	"time"

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
	// FailureRule reports how many failures within what window switch a
	// channel off (0 failures: never for the rate alone).
	FailureRule func() (failures int, window time.Duration)

	failures failureWindow
}

// AutoDisable marks a channel auto-disabled (status 3) when its auto_ban is
// on and the option allows it, and records a system log saying why.
func (h *ChannelHealth) AutoDisable(ch *model.ChannelView, reason string) {
	if ch == nil || !ch.AutoBan || (h.Enabled != nil && !h.Enabled()) {
		return
	}
	ch.SwitchOff()
	if err := h.Store.SetChannelStatus(ch.ID, constant.ChannelStatusAutoDisabled); err != nil {
		ch.SwitchOn()
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

// Reenable switches an auto-disabled channel back on after it passed a
// health probe, and records a system log.
func (h *ChannelHealth) Reenable(ch *model.ChannelView) {
	if err := h.Store.SetChannelStatus(ch.ID, constant.ChannelStatusEnabled); err != nil {
		slog.Error("re-enable channel failed", "channel_id", ch.ID, "err", err)
		return
	}
	h.failures.reset(ch.ID)
	if err := h.Cache.ReloadChannels(); err != nil {
		slog.Error("reload channels after re-enable failed", "err", err)
	}
	slog.Info("channel re-enabled after a successful probe", "channel_id", ch.ID, "channel", ch.Name)
	if h.Writer != nil {
		h.Writer.AddLog(model.Log{Type: constant.LogTypeSystem, ChannelID: ch.ID,
			Content: "channel #" + itoa(ch.ID) + " (" + ch.Name + ") re-enabled: it answered a health probe"})
	}
}
