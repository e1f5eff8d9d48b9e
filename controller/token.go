package controller

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"sluice/common"
	"sluice/constant"
	"sluice/middleware"
	"sluice/model"
	"sluice/service"
)

// tokenInput is what PUT and POST accept. A key sent back is ignored: the
// secret can never be set or changed through the API.
type tokenInput struct {
	ID                 int     `json:"id"`
	Name               string  `json:"name"`
	Status             int     `json:"status"`
	ExpiredTime        *int64  `json:"expired_time"`
	RemainQuota        *int64  `json:"remain_quota"`
	UnlimitedQuota     bool    `json:"unlimited_quota"`
	ModelLimitsEnabled bool    `json:"model_limits_enabled"`
	ModelLimits        string  `json:"model_limits"`
	AllowIps           *string `json:"allow_ips"`
	Group              string  `json:"group"`
}

func (in *tokenInput) validate() error {
	if strings.TrimSpace(in.Name) == "" {
		return errors.New("name is required")
	}
	if len(in.Name) > 128 {
		return errors.New("name is too long")
	}
	if in.ExpiredTime != nil && *in.ExpiredTime != -1 && *in.ExpiredTime <= 0 {
		return errors.New("expired_time must be -1 (never) or a unix timestamp")
	}
	if in.RemainQuota != nil && *in.RemainQuota < 0 {
		return errors.New("remain_quota must not be negative")
	}
	if in.AllowIps != nil {
		if _, err := model.ParseAllowIPs(*in.AllowIps); err != nil {
			return err
		}
	}
	if in.Status != 0 && in.Status != constant.TokenStatusEnabled && in.Status != constant.TokenStatusDisabled {
		return errors.New("status must be 1 (enabled) or 2 (disabled)")
	}
	return nil
}

// checkGroup refuses a key group its owner may not use: a common user
// could otherwise give a key a cheaper group than their own.
func (h *Handlers) checkGroup(c *gin.Context, group string) bool {
	if group == "" {
		return true
	}
	known, err := service.KnownGroups(h.Store)
	if err != nil {
		internal(c, err)
		return false
	}
	if !service.CanUseGroup(middleware.SessionUser(c), group, known) {
		badRequest(c, "group "+group+" is not available to this account")
		return false
	}
	return true
}

// tokenView shows a key with its live balance and derived status.
func (h *Handlers) tokenView(t *model.Token) model.Token {
	v := *t
	if live, ok := h.Cache.TokenRemain(context.Background(), t.ID); ok {
		v.RemainQuota = live
	}
	if v.Status == constant.TokenStatusEnabled {
		switch {
		case v.ExpiredTime > 0 && time.Now().Unix() >= v.ExpiredTime:
			v.Status = constant.TokenStatusExpired
		case !v.UnlimitedQuota && v.RemainQuota <= 0:
			v.Status = constant.TokenStatusExhausted
		}
	}
	return v
}

// ListTokens answers GET /api/token/ (the caller's own keys).
func (h *Handlers) ListTokens(c *gin.Context) {
	p, size := pageParams(c)
	ts, total, err := h.Store.ListTokens(model.TokenFilter{UserID: middleware.SessionUser(c).ID,
		Keyword: c.Query("keyword"), Page: p, PageSize: size})
	if err != nil {
		internal(c, err)
		return
	}
	items := make([]model.Token, len(ts))
	for i := range ts {
		items[i] = h.tokenView(&ts[i])
	}
	ok(c, page{Items: items, Total: total, Page: p, PageSize: size})
}

// ownToken loads a key of the caller's, answering 404 for anyone else's.
func (h *Handlers) ownToken(c *gin.Context, id int) *model.Token {
	t, err := h.Store.TokenByID(id)
	if err != nil || t.UserID != middleware.SessionUser(c).ID {
		fail(c, http.StatusNotFound, "token not found")
		return nil
	}
	return t
}

// GetToken answers GET /api/token/:id.
func (h *Handlers) GetToken(c *gin.Context) {
	id, okID := idParam(c)
	if !okID {
		return
	}
	if t := h.ownToken(c, id); t != nil {
		ok(c, h.tokenView(t))
	}
}

// CreateToken answers POST /api/token/: data is the key object with the
// full secret, the only time it is ever shown.
func (h *Handlers) CreateToken(c *gin.Context) {
	var in tokenInput
	if err := c.ShouldBindJSON(&in); err != nil {
		badRequest(c, "invalid JSON body")
		return
	}
	if err := in.validate(); err != nil {
		badRequest(c, err.Error())
		return
	}
	if !h.checkGroup(c, in.Group) {
		return
	}
	secret := common.NewAPIKey()
	t := &model.Token{UserID: middleware.SessionUser(c).ID, Name: strings.TrimSpace(in.Name), KeyHash: common.HashSecret(secret),
		MaskedKey: common.MaskSecret(secret), Status: constant.TokenStatusEnabled, ExpiredTime: -1,
		UnlimitedQuota: in.UnlimitedQuota, ModelLimitsEnabled: in.ModelLimitsEnabled, ModelLimits: in.ModelLimits, Group: in.Group}
	if in.Status == constant.TokenStatusDisabled {
		t.Status = in.Status
	}
	if in.ExpiredTime != nil {
		t.ExpiredTime = *in.ExpiredTime
	}
	if in.RemainQuota != nil {
		t.RemainQuota = *in.RemainQuota
	}
	if in.AllowIps != nil {
		t.AllowIps = *in.AllowIps
	}
	if err := h.Store.CreateToken(t); err != nil {
		internal(c, err)
		return
	}
	h.Cache.PutToken(t)
	v := h.tokenView(t)
	v.MaskedKey = secret
	ok(c, v)
}

// UpdateToken answers PUT /api/token/ (and ?status_only=true).
func (h *Handlers) UpdateToken(c *gin.Context) {
	var in tokenInput
	if err := c.ShouldBindJSON(&in); err != nil || in.ID <= 0 {
		badRequest(c, "invalid JSON body or missing id")
		return
	}
	t := h.ownToken(c, in.ID)
	if t == nil {
		return
	}
	if c.Query("status_only") != "" {
		if in.Status != constant.TokenStatusEnabled && in.Status != constant.TokenStatusDisabled {
			badRequest(c, "status must be 1 (enabled) or 2 (disabled)")
			return
		}
		t.Status = in.Status
		if err := h.Store.UpdateTokenFields(t.ID, map[string]any{"status": in.Status}); err != nil {
			internal(c, err)
			return
		}
		h.Cache.PutToken(t)
		ok(c, h.tokenView(t))
		return
	}
	if err := in.validate(); err != nil {
		badRequest(c, err.Error())
		return
	}
	if in.Group != t.Group && !h.checkGroup(c, in.Group) {
		return
	}
	fields := map[string]any{"name": strings.TrimSpace(in.Name), "unlimited_quota": in.UnlimitedQuota,
		"model_limits_enabled": in.ModelLimitsEnabled, "model_limits": in.ModelLimits, "group": in.Group}
	if in.Status != 0 {
		fields["status"] = in.Status
	}
	if in.ExpiredTime != nil {
		fields["expired_time"] = *in.ExpiredTime
	}
	if in.AllowIps != nil {
		fields["allow_ips"] = *in.AllowIps
	}
	if err := h.Store.UpdateTokenFields(t.ID, fields); err != nil {
		internal(c, err)
		return
	}
	if in.RemainQuota != nil {
		if err := service.SetTokenRemain(h.Store, h.Cache, h.Writer, t.ID, *in.RemainQuota); err != nil {
			internal(c, err)
			return
		}
	}
	t, err := h.Store.TokenByID(t.ID)
	if err != nil {
		internal(c, err)
		return
	}
	h.Cache.PutToken(t)
	ok(c, h.tokenView(t))
}

// DeleteToken answers DELETE /api/token/:id; the key is refused at once.
func (h *Handlers) DeleteToken(c *gin.Context) {
	id, okID := idParam(c)
	if !okID {
		return
	}
	deleted, err := h.Store.DeleteToken(id, middleware.SessionUser(c).ID)
	if err != nil {
		internal(c, err)
		return
	}
	if !deleted {
		fail(c, http.StatusNotFound, "token not found")
		return
	}
	h.Cache.RemoveToken(id)
	ok(c, nil)
}
