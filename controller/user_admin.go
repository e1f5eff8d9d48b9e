package controller

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"sluice/middleware"
	"sluice/model"
	"sluice/service"
)

// userAdmin binds the user-administration rules to this server's stores.
func (h *Handlers) userAdmin() *service.UserAdmin {
	return &service.UserAdmin{Store: h.Store, Cache: h.Cache, Writer: h.Writer}
}

// refuseUser answers an error from service.UserAdmin: refusals with their
// own status and message, anything else as an internal error.
func refuseUser(c *gin.Context, err error) {
	switch {
	case errors.Is(err, service.ErrUserInput):
		badRequest(c, err.Error())
	case errors.Is(err, service.ErrUserForbidden):
		fail(c, http.StatusForbidden, err.Error())
	case errors.Is(err, service.ErrUserNotFound):
		fail(c, http.StatusNotFound, err.Error())
	case errors.Is(err, service.ErrUsernameTaken):
		fail(c, http.StatusConflict, err.Error())
	default:
		internal(c, err)
	}
}

func (h *Handlers) userPage(c *gin.Context, users []model.User, total int64, p, size int) {
	items := make([]userView, len(users))
	for i := range users {
		items[i] = h.viewUser(&users[i])
	}
	ok(c, page{Items: items, Total: total, Page: p, PageSize: size})
}

// ListUsers answers GET /api/user/ (admin).
func (h *Handlers) ListUsers(c *gin.Context) {
	p, size := pageParams(c)
	users, total, err := h.Store.SearchUsers(model.UserSearch{Page: p, PageSize: size})
	if err != nil {
		internal(c, err)
		return
	}
	h.userPage(c, users, total, p, size)
}

// SearchUsers answers GET /api/user/search?keyword=&group= (admin): the
// keyword matches username, display name or email, or an exact id.
func (h *Handlers) SearchUsers(c *gin.Context) {
	p, size := pageParams(c)
	users, total, err := h.Store.SearchUsers(model.UserSearch{Keyword: c.Query("keyword"), Group: c.Query("group"),
		Page: p, PageSize: size})
	if err != nil {
		internal(c, err)
		return
	}
	h.userPage(c, users, total, p, size)
}

// GetUser answers GET /api/user/:id (admin; users of lower role only).
func (h *Handlers) GetUser(c *gin.Context) {
	id, okID := idParam(c)
	if !okID {
		return
	}
	u, err := h.userAdmin().Get(middleware.SessionUser(c), id)
	if err != nil {
		refuseUser(c, err)
		return
	}
	ok(c, h.viewUser(u))
}

// CreateUser answers POST /api/user/ (admin).
func (h *Handlers) CreateUser(c *gin.Context) {
	var in struct {
		Username    string `json:"username"`
		Password    string `json:"password"`
		DisplayName string `json:"display_name"`
		Role        int    `json:"role"`
		Quota       *int64 `json:"quota"`
		Group       string `json:"group"`
	}
	if err := c.ShouldBindJSON(&in); err != nil {
		badRequest(c, "invalid JSON body")
		return
	}
	u, err := h.userAdmin().Create(middleware.SessionUser(c), service.NewUser{Username: in.Username,
		Password: in.Password, DisplayName: in.DisplayName, Role: in.Role, Quota: in.Quota, Group: in.Group})
	if err != nil {
		refuseUser(c, err)
		return
	}
	ok(c, h.viewUser(u))
}

// UpdateUser answers PUT /api/user/ (admin): absent fields stay as they
// are; an empty password keeps the old one.
func (h *Handlers) UpdateUser(c *gin.Context) {
	var in struct {
		ID          int     `json:"id"`
		Username    *string `json:"username"`
		DisplayName *string `json:"display_name"`
		Password    *string `json:"password"`
		Quota       *int64  `json:"quota"`
		Group       *string `json:"group"`
		Role        int     `json:"role"`
	}
	if err := c.ShouldBindJSON(&in); err != nil || in.ID <= 0 {
		badRequest(c, "invalid JSON body or missing id")
		return
	}
	u, err := h.userAdmin().Update(c.Request.Context(), middleware.SessionUser(c), service.UserEdit{ID: in.ID, Username: in.Username,
		DisplayName: in.DisplayName, Password: in.Password, Quota: in.Quota, Group: in.Group, Role: in.Role})
	if err != nil {
		refuseUser(c, err)
		return
	}
	ok(c, h.viewUser(u))
}

// DeleteUser answers DELETE /api/user/:id (admin): a soft delete whose
// keys are refused at once and whose username becomes free again.
func (h *Handlers) DeleteUser(c *gin.Context) {
	id, okID := idParam(c)
	if !okID {
		return
	}
	if err := h.userAdmin().Delete(middleware.SessionUser(c), id); err != nil {
		refuseUser(c, err)
		return
	}
	ok(c, nil)
}

// ManageUser answers POST /api/user/manage {id, action} (admin). data is
// the user afterwards, which includes new-api's {role, status}.
func (h *Handlers) ManageUser(c *gin.Context) {
	var in struct {
		ID     int    `json:"id"`
		Action string `json:"action"`
	}
	if err := c.ShouldBindJSON(&in); err != nil || in.ID <= 0 {
		badRequest(c, "invalid JSON body or missing id")
		return
	}
	u, err := h.userAdmin().Manage(middleware.SessionUser(c), in.ID, in.Action)
	if err != nil {
		refuseUser(c, err)
		return
	}
	ok(c, h.viewUser(u))
}

// DeleteSelf answers DELETE /api/user/self: the caller deletes their own
// account (root cannot); their keys are refused and the session ends.
func (h *Handlers) DeleteSelf(c *gin.Context) {
	if err := h.userAdmin().DeleteSelf(middleware.SessionUser(c)); err != nil {
		refuseUser(c, err)
		return
	}
	h.Sessions.Clear(c)
	ok(c, nil)
}
