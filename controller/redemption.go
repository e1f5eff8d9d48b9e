package controller

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"sluice/middleware"
	"sluice/model"
	"sluice/service"
)

// redemptionInput is what POST and PUT /api/redemption/ accept. A key sent
// back (the masked one from a list) is ignored: codes are never set through
// the API.
type redemptionInput struct {
	ID          int    `json:"id"`
	Name        string `json:"name"`
	Quota       int64  `json:"quota"`
	Count       int    `json:"count"`
	Status      int    `json:"status"`
	ExpiredTime *int64 `json:"expired_time"`
}

func (h *Handlers) redeemer() *service.Redeemer { return h.Redeemer }

// CreateRedemptions answers POST /api/redemption/ {name, quota, count,
// expired_time}: data is the array of new codes, the only time they are
// ever shown.
func (h *Handlers) CreateRedemptions(c *gin.Context) {
	var in redemptionInput
	if err := c.ShouldBindJSON(&in); err != nil {
		badRequest(c, "invalid JSON body")
		return
	}
	n := service.NewRedemptions{CreatorID: middleware.SessionUser(c).ID, Name: in.Name, Quota: in.Quota, Count: in.Count}
	if in.ExpiredTime != nil {
		n.ExpiredTime = *in.ExpiredTime
	}
	if err := n.Validate(time.Now()); err != nil {
		badRequest(c, err.Error())
		return
	}
	codes, err := service.CreateRedemptions(h.Store, n)
	if err != nil {
		internal(c, err)
		return
	}
	ok(c, codes)
}

// ListRedemptions answers GET /api/redemption/.
func (h *Handlers) ListRedemptions(c *gin.Context) { h.listRedemptions(c, "") }

// SearchRedemptions answers GET /api/redemption/search?keyword= (a name
// containing the keyword, or the code with that id).
func (h *Handlers) SearchRedemptions(c *gin.Context) {
	h.listRedemptions(c, strings.TrimSpace(c.Query("keyword")))
}

func (h *Handlers) listRedemptions(c *gin.Context, keyword string) {
	p, size := pageParams(c)
	rs, total, err := h.Store.ListRedemptions(model.RedemptionFilter{Keyword: keyword, Page: p, PageSize: size})
	if err != nil {
		internal(c, err)
		return
	}
	if rs == nil {
		rs = []model.Redemption{}
	}
	ok(c, page{Items: rs, Total: total, Page: p, PageSize: size})
}

// GetRedemption answers GET /api/redemption/:id.
func (h *Handlers) GetRedemption(c *gin.Context) {
	id, okID := idParam(c)
	if !okID {
		return
	}
	r, err := h.Store.RedemptionByID(id)
	if err != nil {
		h.redemptionError(c, err)
		return
	}
	ok(c, r)
}

// UpdateRedemption answers PUT /api/redemption/ {id, name, quota,
// expired_time} and, with ?status_only=true, {id, status}.
func (h *Handlers) UpdateRedemption(c *gin.Context) {
	var in redemptionInput
	if err := c.ShouldBindJSON(&in); err != nil || in.ID <= 0 {
		badRequest(c, "invalid JSON body or missing id")
		return
	}
	if c.Query("status_only") != "" {
		if in.Status != model.RedemptionStatusUnused && in.Status != model.RedemptionStatusDisabled {
			badRequest(c, "status must be 1 (enabled) or 2 (disabled)")
			return
		}
		r, err := h.Store.SetRedemptionStatus(in.ID, in.Status)
		if err != nil {
			h.redemptionError(c, err)
			return
		}
		ok(c, r)
		return
	}
	cur, err := h.Store.RedemptionByID(in.ID)
	if err != nil {
		h.redemptionError(c, err)
		return
	}
	e := model.RedemptionEdit{Name: strings.TrimSpace(in.Name), Quota: in.Quota, ExpiredTime: cur.ExpiredTime}
	if in.ExpiredTime != nil {
		e.ExpiredTime = *in.ExpiredTime
	}
	if msg := validateRedemptionEdit(e, cur); msg != "" {
		badRequest(c, msg)
		return
	}
	r, err := h.Store.UpdateRedemption(in.ID, e)
	if err != nil {
		h.redemptionError(c, err)
		return
	}
	ok(c, r)
}

func validateRedemptionEdit(e model.RedemptionEdit, cur *model.Redemption) string {
	switch {
	case e.Name == "":
		return "name is required"
	case len(e.Name) > service.MaxRedemptionNameLen:
		return "name is too long"
	case e.Quota <= 0:
		return "quota must be greater than 0"
	}
	// The object read back from a list may carry an expiry that has since
	// passed; sending it again unchanged is not an error.
	if e.ExpiredTime != cur.ExpiredTime {
		if err := service.ValidateRedemptionExpiry(e.ExpiredTime, time.Now()); err != nil {
			return err.Error()
		}
	}
	return ""
}

// DeleteRedemption answers DELETE /api/redemption/:id.
func (h *Handlers) DeleteRedemption(c *gin.Context) {
	id, okID := idParam(c)
	if !okID {
		return
	}
	deleted, err := h.Store.DeleteRedemption(id)
	if err != nil {
		internal(c, err)
		return
	}
	if !deleted {
		fail(c, http.StatusNotFound, "redemption code not found")
		return
	}
	ok(c, nil)
}

// DeleteInvalidRedemptions answers DELETE /api/redemption/invalid: every
// used, disabled or expired code goes; data is how many.
func (h *Handlers) DeleteInvalidRedemptions(c *gin.Context) {
	n, err := h.Store.DeleteInvalidRedemptions(time.Now().Unix())
	if err != nil {
		internal(c, err)
		return
	}
	ok(c, n)
}

// Topup answers POST /api/user/topup {key}: the caller redeems a code and
// data is the quota added.
func (h *Handlers) Topup(c *gin.Context) {
	var in struct {
		Key string `json:"key"`
	}
	if err := c.ShouldBindJSON(&in); err != nil || strings.TrimSpace(in.Key) == "" {
		badRequest(c, "key is required")
		return
	}
	u := middleware.SessionUser(c)
	quota, err := h.redeemer().Redeem(u.ID, u.Username, in.Key)
	if errors.Is(err, model.ErrNotFound) { // the caller was deleted meanwhile
		fail(c, http.StatusNotFound, "user not found")
		return
	}
	if err != nil {
		h.redemptionError(c, err)
		return
	}
	ok(c, quota)
}

// redemptionError maps the store's and service's refusals to answers.
func (h *Handlers) redemptionError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, model.ErrNotFound):
		fail(c, http.StatusNotFound, "redemption code not found")
	case errors.Is(err, model.ErrRedemptionUnavailable), errors.Is(err, model.ErrRedemptionUsed):
		badRequest(c, err.Error())
	case errors.Is(err, service.ErrTooManyRedeemFailures):
		fail(c, http.StatusTooManyRequests, err.Error())
	default:
		internal(c, err)
	}
}
