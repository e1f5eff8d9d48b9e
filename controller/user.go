package controller

import (
	"context"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"sluice/common"
	"sluice/constant"
	"sluice/middleware"
	"sluice/model"
	"sluice/service"
)

// userView is a user as the API shows it: never a password or token hash,
// and the live balance rather than SQL's, which lags by one batch.
type userView struct {
	ID           int    `json:"id"`
	Username     string `json:"username"`
	DisplayName  string `json:"display_name"`
	Email        string `json:"email"`
	Role         int    `json:"role"`
	Status       int    `json:"status"`
	Group        string `json:"group"`
	Quota        int64  `json:"quota"`
	UsedQuota    int64  `json:"used_quota"`
	RequestCount int64  `json:"request_count"`
}

func (h *Handlers) viewUser(u *model.User) userView {
	v := userView{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Email: u.Email, Role: u.Role,
		Status: u.Status, Group: u.Group, Quota: u.Quota, UsedQuota: u.UsedQuota, RequestCount: u.RequestCount}
	if live, ok := h.Cache.UserQuota(context.Background(), u.ID); ok {
		// SQL lags the live balance by up to one batch interval.
		if pending := u.Quota - live; pending > 0 {
			v.UsedQuota += pending
		}
		v.Quota = live
	}
	return v
}

// Login answers POST /api/user/login.
func (h *Handlers) Login(c *gin.Context) {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := c.ShouldBindJSON(&in); err != nil || in.Username == "" || in.Password == "" {
		badRequest(c, "username and password are required")
		return
	}
	u, err := h.Store.UserByUsername(strings.TrimSpace(in.Username))
	if err != nil || !common.CheckPassword(u.Password, in.Password) {
		fail(c, http.StatusUnauthorized, "wrong username or password")
		return
	}
	if u.Status != constant.UserStatusEnabled {
		fail(c, http.StatusForbidden, "this account is disabled")
		return
	}
	h.Sessions.Issue(c, u.ID, u.SessionEpoch)
	ok(c, h.viewUser(u))
}

// Logout answers GET /api/user/logout. It ends the session server-side
// too (every session of the user: the cookie is stateless, so the epoch it
// is bound to moves on), so a copied cookie stops working.
func (h *Handlers) Logout(c *gin.Context) {
	if id, _ := h.Sessions.CookieUser(c); id != 0 {
		h.endSessions(c, id)
	}
	h.Sessions.Clear(c)
	ok(c, nil)
}

// endSessions invalidates every session cookie issued to user id.
func (h *Handlers) endSessions(c *gin.Context, id int) {
	u, err := h.Store.BumpSessionEpoch(id)
	if err != nil {
		_ = c.Error(err)
		return
	}
	h.Cache.PutUser(u)
}

// Self answers GET /api/user/self.
func (h *Handlers) Self(c *gin.Context) {
	u, err := h.Store.UserByID(middleware.SessionUser(c).ID)
	if err != nil {
		fail(c, http.StatusNotFound, "user not found")
		return
	}
	ok(c, h.viewUser(u))
}

// UpdateSelf answers PUT /api/user/self: display name and password.
func (h *Handlers) UpdateSelf(c *gin.Context) {
	var in struct {
		DisplayName     *string `json:"display_name"`
		Password        string  `json:"password"`
		OriginalPassord string  `json:"original_password"`
	}
	if err := c.ShouldBindJSON(&in); err != nil {
		badRequest(c, "invalid JSON body")
		return
	}
	me := middleware.SessionUser(c)
	fields := map[string]any{}
	if in.DisplayName != nil {
		if len(*in.DisplayName) > 64 {
			badRequest(c, "display_name is too long")
			return
		}
		fields["display_name"] = *in.DisplayName
	}
	if in.Password != "" {
		u, err := h.Store.UserByID(me.ID)
		if err != nil {
			internal(c, err)
			return
		}
		if !common.CheckPassword(u.Password, in.OriginalPassord) {
			badRequest(c, "original_password is wrong")
			return
		}
		if len(in.Password) < service.MinPasswordLength {
			badRequest(c, "password must be at least 8 characters")
			return
		}
		hash, err := common.HashPassword(in.Password)
		if err != nil {
			internal(c, err)
			return
		}
		fields["password"] = hash
	}
	if len(fields) > 0 {
		if err := h.Store.UpdateUserFields(me.ID, fields); err != nil {
			internal(c, err)
			return
		}
	}
	if _, changed := fields["password"]; changed {
		// Other sessions (a stolen cookie) end; this one is reissued.
		h.endSessions(c, me.ID)
		if u, err := h.Store.UserByID(me.ID); err == nil {
			h.Sessions.Issue(c, u.ID, u.SessionEpoch)
		}
	}
	ok(c, nil)
}

// GenerateAccessToken answers GET /api/user/token: a new admin access
// token, shown this once (only its hash is kept).
func (h *Handlers) GenerateAccessToken(c *gin.Context) {
	tok := common.RandomString(40)
	if err := h.Store.SetAccessTokenHash(middleware.SessionUser(c).ID, common.HashSecret(tok)); err != nil {
		internal(c, err)
		return
	}
	ok(c, tok)
}
