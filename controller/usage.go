package controller

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"sluice/middleware"
	"sluice/model"
	"sluice/service"
)

// usageFilter reads start_timestamp and end_timestamp into a QuotaData
// window (service.UsageWindow: 7 days by default, at most a year).
func usageFilter(c *gin.Context) (model.QuotaDataFilter, bool) {
	var ts [2]int64
	for i, k := range []string{"start_timestamp", "end_timestamp"} {
		if v := c.Query(k); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				badRequest(c, k+" must be a unix timestamp in seconds")
				return model.QuotaDataFilter{}, false
			}
			ts[i] = n
		}
	}
	start, end, err := service.UsageWindow(ts[0], ts[1], time.Now())
	if err != nil {
		badRequest(c, err.Error())
		return model.QuotaDataFilter{}, false
	}
	return model.QuotaDataFilter{Start: start, End: end}, true
}

// GetUsageData answers GET /api/data/ (every user's hourly usage, or one
// username's).
func (h *Handlers) GetUsageData(c *gin.Context) {
	f, valid := usageFilter(c)
	if !valid {
		return
	}
	f.Username = c.Query("username")
	h.usageData(c, f)
}

// GetSelfUsageData answers GET /api/data/self (the caller's hourly usage).
func (h *Handlers) GetSelfUsageData(c *gin.Context) {
	f, valid := usageFilter(c)
	if !valid {
		return
	}
	f.UserID = middleware.SessionUser(c).ID
	h.usageData(c, f)
}

func (h *Handlers) usageData(c *gin.Context, f model.QuotaDataFilter) {
	rows, err := h.Store.ListQuotaData(f)
	if err != nil {
		internal(c, err)
		return
	}
	if rows == nil {
		rows = []model.QuotaData{}
	}
	ok(c, rows)
}

// DeleteHistoryLogs answers DELETE /api/log/?target_timestamp=<unix>: the
// logs created before it are deleted in batches; data is how many.
func (h *Handlers) DeleteHistoryLogs(c *gin.Context) {
	target, err := strconv.ParseInt(c.Query("target_timestamp"), 10, 64)
	if err != nil || target <= 0 {
		badRequest(c, "target_timestamp (unix seconds) is required")
		return
	}
	// A millisecond timestamp or a date in the future would delete every
	// log there is; that is never what the caller meant.
	if target > time.Now().Unix() {
		badRequest(c, "target_timestamp is in the future (it is in seconds, not milliseconds)")
		return
	}
	// The deletion the admin asked for completes even if they hang up.
	n, err := service.DeleteLogsBefore(context.WithoutCancel(c.Request.Context()), h.Store, h.Writer, middleware.SessionUser(c), target)
	if err != nil {
		_ = c.Error(err)
		fail(c, http.StatusInternalServerError, "deleted "+strconv.FormatInt(n, 10)+" logs, then failed")
		return
	}
	ok(c, n)
}
