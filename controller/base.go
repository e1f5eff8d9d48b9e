// Package controller holds the thin HTTP handlers: decode, call the store,
// a service or the relay, encode. Billing and SQL live elsewhere.
package controller

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/gin-gonic/gin"

	"sluice/constant"
	"sluice/middleware"
	"sluice/model"
	"sluice/relay"
	"sluice/service"
)

// Handlers carries what the handlers share.
type Handlers struct {
	Store    *model.Store
	Cache    *model.Cache
	Sessions *middleware.Sessions
	Engine   *relay.Engine
	Writer   *service.BatchWriter
	Version  string
	// BodyLimit bounds admin request bodies too.
	BodyLimit int64
	// Invalidator tells other instances about changes (nil without Redis).
	Invalidator *service.Invalidator
	// Redeemer redeems top-up codes and counts each user's failures.
	Redeemer *service.Redeemer
	// Background bounds work a handler leaves running after it answers
	// (testing every channel); main cancels it at shutdown.
	Background context.Context

	testAllRunning atomic.Bool
}

func (h *Handlers) background() context.Context {
	if h.Background != nil {
		return h.Background
	}
	return context.Background()
}

func ok(c *gin.Context, data any) {
	c.JSON(http.StatusOK, gin.H{"success": true, "message": "", "data": data})
}

// fail answers a refused admin call. new-api answers most refusals with
// 200 and success=false; scripts check success, so do we, but auth and
// not-found failures keep a meaningful status.
func fail(c *gin.Context, status int, msg string) {
	c.JSON(status, gin.H{"success": false, "message": msg})
}

func badRequest(c *gin.Context, msg string) { fail(c, http.StatusBadRequest, msg) }

func internal(c *gin.Context, err error) {
	_ = c.Error(err)
	fail(c, http.StatusInternalServerError, "internal error")
}

type page struct {
	Items    any   `json:"items"`
	Total    int64 `json:"total"`
	Page     int   `json:"page"`
	PageSize int   `json:"page_size"`
}

// pageParams reads p (1-based) and page_size, bounded so one call cannot
// ask the database for everything.
func pageParams(c *gin.Context) (int, int) {
	p, _ := strconv.Atoi(c.Query("p"))
	if p < 1 {
		p = 1
	}
	size, _ := strconv.Atoi(c.Query("page_size"))
	if size <= 0 {
		size = 10
	}
	if size > 1000 {
		size = 1000
	}
	return p, size
}

func idParam(c *gin.Context) (int, bool) {
	id, err := strconv.Atoi(c.Param("id"))
	if err != nil || id <= 0 {
		badRequest(c, "invalid id")
		return 0, false
	}
	return id, true
}

func jsonNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// audit records an admin action as a manage log (type 3), so operators can
// see who changed what. It never includes secrets.
func (h *Handlers) audit(c *gin.Context, content string) {
	actor := middleware.SessionUser(c)
	if actor == nil {
		return
	}
	h.Writer.AddLog(model.Log{Type: constant.LogTypeManage, UserID: actor.ID, Username: actor.Username,
		Content: content, RequestID: c.GetString(constant.CtxRequestID)})
}
