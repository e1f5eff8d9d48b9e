package controller

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"sluice/constant"
	"sluice/middleware"
	"sluice/model"
	"sluice/relay/relayerr"
)

type openAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// modelsForKey is what a key may call: its group's models, narrowed by
// the key's model limits.
func (h *Handlers) modelsForKey(c *gin.Context) []string {
	token := c.MustGet(constant.CtxToken).(*model.TokenEntry).Info()
	user := c.MustGet(constant.CtxUser).(*model.UserEntry).Info()
	all := h.Cache.ModelsForGroup(middleware.GroupOf(token, user))
	out := make([]string, 0, len(all))
	for _, m := range all {
		if token.AllowsModel(m) {
			out = append(out, m)
		}
	}
	return out
}

// ListModels answers GET /v1/models.
func (h *Handlers) ListModels(c *gin.Context) {
	names := h.modelsForKey(c)
	data := make([]openAIModel, len(names))
	for i, m := range names {
		data[i] = openAIModel{ID: m, Object: "model", Created: 1700000000, OwnedBy: "sluice"}
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": data})
}

// RetrieveModel answers GET /v1/models/:model.
func (h *Handlers) RetrieveModel(c *gin.Context) {
	want := c.Param("model")
	for _, m := range h.modelsForKey(c) {
		if m == want {
			c.JSON(http.StatusOK, openAIModel{ID: m, Object: "model", Created: 1700000000, OwnedBy: "sluice"})
			return
		}
	}
	middleware.AbortRelay(c, relayerr.New(relayerr.KindNotFound, "the model "+want+" does not exist or you do not have access to it"))
}
