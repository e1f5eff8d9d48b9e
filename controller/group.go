package controller

import (
	"github.com/gin-gonic/gin"

	"sluice/constant"
	"sluice/middleware"
	"sluice/service"
)

// ListGroups answers GET /api/group/ (admin): every known group name,
// sorted (priced in GroupRatio or named by a user or channel).
func (h *Handlers) ListGroups(c *gin.Context) {
	groups, err := service.KnownGroups(h.Store)
	if err != nil {
		internal(c, err)
		return
	}
	ok(c, groups)
}

// SelfGroups answers GET /api/user/self/groups: the groups the caller may
// use, as {"name": {"ratio": r, "desc": d}}.
func (h *Handlers) SelfGroups(c *gin.Context) {
	me := middleware.SessionUser(c)
	var known []string
	if me.Role >= constant.RoleAdmin {
		// Only admins may use groups other than their own.
		var err error
		if known, err = service.KnownGroups(h.Store); err != nil {
			internal(c, err)
			return
		}
	}
	ok(c, service.UsableGroups(me, known))
}
