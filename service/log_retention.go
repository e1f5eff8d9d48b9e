package service

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"sluice/constant"
	"sluice/model"
	"sluice/setting/operation_setting"
)

// Log retention timing: one pass shortly after start (so a restart never
// postpones retention by a day), then one a day.
const (
	LogRetentionFirstDelay = time.Minute
	LogRetentionInterval   = 24 * time.Hour
)

// DeleteLogsBefore deletes the logs created before the unix time before,
// in batches, and records a manage log naming who asked (actor) and how many
// went. The manage log is written after the deletion, stamped now, so it is
// never among the deleted.
func DeleteLogsBefore(ctx context.Context, store *model.Store, w *BatchWriter, actor *model.UserInfo, before int64) (int64, error) {
	n, err := store.DeleteLogsBefore(ctx, before, 0)
	if n > 0 || err == nil {
		content := "Deleted " + strconv.FormatInt(n, 10) + " logs created before " +
			time.Unix(before, 0).UTC().Format(time.RFC3339) + " (by " + actor.Username + ", id " + itoa(actor.ID) + ")"
		if err != nil {
			content += "; stopped early: " + err.Error()
		}
		w.AddLog(model.Log{UserID: actor.ID, Username: actor.Username, Type: constant.LogTypeManage, Content: content})
	}
	return n, err
}

// PurgeOldLogs runs one retention pass: with days > 0 it deletes the logs
// older than days before now and, when any went, records a system log.
func PurgeOldLogs(ctx context.Context, store *model.Store, w *BatchWriter, days int, now time.Time) (int64, error) {
	if days <= 0 {
		return 0, nil
	}
	before := now.Add(-time.Duration(days) * 24 * time.Hour).Unix()
	n, err := store.DeleteLogsBefore(ctx, before, 0)
	if n > 0 {
		w.AddLog(model.Log{Type: constant.LogTypeSystem, Content: "Log retention: deleted " + strconv.FormatInt(n, 10) +
			" logs older than " + itoa(days) + " days"})
	}
	return n, err
}

// RunLogRetention applies operation_setting's LogRetentionDays once shortly
// after start and then daily, until ctx ends. The setting is read on every
// pass, so a change applies from the next one; 0 keeps logs forever.
func RunLogRetention(ctx context.Context, store *model.Store, w *BatchWriter) {
	runLogRetention(ctx, LogRetentionFirstDelay, LogRetentionInterval, func() {
		days := operation_setting.Get().LogRetentionDays
		if n, err := PurgeOldLogs(ctx, store, w, days, time.Now()); err != nil {
			slog.Error("log retention failed; will retry at the next pass", "err", err, "deleted", n)
		} else if n > 0 {
			slog.Info("log retention", "deleted", n, "days", days)
		}
	})
}

func runLogRetention(ctx context.Context, first, every time.Duration, pass func()) {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pass()
			t.Reset(every)
		}
	}
}
