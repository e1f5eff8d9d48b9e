package controller

import (
	"errors"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"

	"sluice/service"
)

var setupMu sync.Mutex

// Status answers GET /api/status once the server can serve.
func (h *Handlers) Status(c *gin.Context) {
	n, err := h.Store.CountUsers()
	if err != nil {
		internal(c, err)
		return
	}
	ok(c, gin.H{"version": h.Version, "setup": n > 0, "system_name": "sluice"})
}

// GetSetup answers GET /api/setup: data.status is true once root exists.
func (h *Handlers) GetSetup(c *gin.Context) {
	n, err := h.Store.CountUsers()
	if err != nil {
		internal(c, err)
		return
	}
	ok(c, gin.H{"status": n > 0})
}

// PostSetup creates root once ({username, password, confirmPassword}).
func (h *Handlers) PostSetup(c *gin.Context) {
	var in struct {
		Username        string `json:"username"`
		Password        string `json:"password"`
		ConfirmPassword string `json:"confirmPassword"`
	}
	if err := c.ShouldBindJSON(&in); err != nil {
		badRequest(c, "invalid JSON body")
		return
	}
	if in.Password != in.ConfirmPassword {
		badRequest(c, "passwords do not match")
		return
	}
	setupMu.Lock()
	defer setupMu.Unlock()
	u, err := service.Setup(h.Store, in.Username, in.Password)
	if errors.Is(err, service.ErrSetupDone) {
		fail(c, http.StatusForbidden, err.Error())
		return
	}
	if err != nil {
		badRequest(c, err.Error())
		return
	}
	h.Cache.PutUser(u)
	ok(c, gin.H{"id": u.ID, "username": u.Username})
}
