package service

import (
	"errors"
	"time"

	"sluice/model"
)

// Usage data windows.
const (
	DefaultUsageWindow = 7 * 24 * time.Hour
	// MaxUsageWindow is one year, leap day included: a dashboard never needs
	// more, and an unbounded window would read the whole table.
	MaxUsageWindow = 366 * 24 * time.Hour
)

// UsageWindow resolves a dashboard's start and end (unix seconds, 0 when
// absent) into the bucket hours to read: by default the 7 days before end
// (end defaults to now). The start is rounded down to its hour so the bucket
// holding it is included. Windows longer than a year, or ending before they
// start, are refused.
func UsageWindow(start, end int64, now time.Time) (int64, int64, error) {
	if start < 0 || end < 0 {
		return 0, 0, errors.New("start_timestamp and end_timestamp must be unix seconds")
	}
	if end == 0 {
		end = now.Unix()
	}
	if start == 0 {
		start = end - int64(DefaultUsageWindow/time.Second)
	}
	if end < start {
		return 0, 0, errors.New("end_timestamp must not be before start_timestamp")
	}
	if end-start > int64(MaxUsageWindow/time.Second) {
		return 0, 0, errors.New("the time window must not exceed one year")
	}
	return hourOf(start), end, nil
}

// hourOf truncates a unix time to the start of its hour, as new-api
// stamps its hourly rows.
func hourOf(unix int64) int64 {
	return unix - ((unix%model.QuotaDataHour)+model.QuotaDataHour)%model.QuotaDataHour
}

// quotaDataOf turns a charge's consume log into the bucket it counts
// towards and what it adds there; quota is what was actually charged.
func quotaDataOf(userID int, l *model.Log, quota int64) (model.QuotaDataKey, model.QuotaDataDelta) {
	return model.QuotaDataKey{UserID: userID, ModelName: l.ModelName, Hour: hourOf(l.CreatedAt)},
		model.QuotaDataDelta{Username: l.Username, Count: 1, Quota: quota,
			TokenUsed: int64(l.PromptTokens) + int64(l.CompletionTokens)}
}
