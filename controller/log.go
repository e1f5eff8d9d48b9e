package controller

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"sluice/middleware"
	"sluice/model"
)

func logFilter(c *gin.Context) model.LogFilter {
	atoi := func(k string) int { n, _ := strconv.Atoi(c.Query(k)); return n }
	atoi64 := func(k string) int64 { n, _ := strconv.ParseInt(c.Query(k), 10, 64); return n }
	p, size := pageParams(c)
	return model.LogFilter{Type: atoi("type"), Username: c.Query("username"), TokenName: c.Query("token_name"),
		ModelName: c.Query("model_name"), ChannelID: atoi("channel"), Group: c.Query("group"),
		StartTimestamp: atoi64("start_timestamp"), EndTimestamp: atoi64("end_timestamp"), Page: p, PageSize: size}
}

// ListLogs answers GET /api/log/ (every user's logs).
func (h *Handlers) ListLogs(c *gin.Context) { h.listLogs(c, logFilter(c)) }

// ListSelfLogs answers GET /api/log/self (the caller's logs only).
func (h *Handlers) ListSelfLogs(c *gin.Context) {
	f := logFilter(c)
	f.UserID = middleware.SessionUser(c).ID
	f.Username = ""
	h.listLogs(c, f)
}

func (h *Handlers) listLogs(c *gin.Context, f model.LogFilter) {
	logs, total, err := h.Store.ListLogs(f)
	if err != nil {
		internal(c, err)
		return
	}
	ok(c, page{Items: logs, Total: total, Page: f.Page, PageSize: f.PageSize})
}

// LogStat answers GET /api/log/stat.
func (h *Handlers) LogStat(c *gin.Context) { h.logStat(c, logFilter(c)) }

// SelfLogStat answers GET /api/log/self/stat.
func (h *Handlers) SelfLogStat(c *gin.Context) {
	f := logFilter(c)
	f.UserID = middleware.SessionUser(c).ID
	f.Username = ""
	h.logStat(c, f)
}

func (h *Handlers) logStat(c *gin.Context, f model.LogFilter) {
	st, err := h.Store.SumLogs(f, time.Now().Unix())
	if err != nil {
		internal(c, err)
		return
	}
	ok(c, st)
}
