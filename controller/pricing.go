package controller

import (
	"io"
	"net/http"
	"sort"

	"github.com/gin-gonic/gin"

	"sluice/constant"
	"sluice/middleware"
	"sluice/setting/ratio_setting"
)

// pricingRow is one model on the pricing page, in new-api's shape.
type pricingRow struct {
	ModelName string `json:"model_name"`
	// QuotaType is 0 for a model billed by ratio per token, 1 for a fixed
	// price per call.
	QuotaType       int      `json:"quota_type"`
	ModelRatio      float64  `json:"model_ratio"`
	ModelPrice      float64  `json:"model_price"`
	CompletionRatio float64  `json:"completion_ratio"`
	CacheRatio      float64  `json:"cache_ratio"`
	EnableGroups    []string `json:"enable_groups"`
}

// GetPricing answers GET /api/pricing: every model some enabled channel
// serves, with its prices and the groups that can use it. Anonymous
// callers see every model; a logged-in user sees the models of their own
// group (admins see all) and usable_group, the groups they may use.
func (h *Handlers) GetPricing(c *gin.Context) {
	snap := ratio_setting.Current() // one snapshot for the whole answer
	served := h.Cache.ModelGroups()

	// Every group anyone can price: the configured ones and those a channel
	// serves (priced at 1 until the operator says otherwise).
	groupRatio := make(map[string]float64, len(snap.GroupRatio))
	for g, r := range snap.GroupRatio {
		groupRatio[g] = r
	}
	for _, gs := range served {
		for _, g := range gs {
			if _, ok := groupRatio[g]; !ok {
				groupRatio[g] = snap.GroupRatioOf(g)
			}
		}
	}

	models := h.Cache.AllModels()
	resp := gin.H{"success": true, "message": "", "group_ratio": groupRatio}
	if u := middleware.SessionUser(c); u != nil {
		usable := map[string]string{}
		if u.Role >= constant.RoleAdmin {
			for g := range groupRatio {
				usable[g] = g
			}
		} else {
			group := u.Group
			if group == "" {
				group = constant.DefaultGroup
			}
			usable[group] = group
			models = h.Cache.ModelsForGroup(group)
		}
		resp["usable_group"] = usable
	}

	rows := make([]pricingRow, 0, len(models))
	for _, m := range models {
		rows = append(rows, pricingOf(snap, m, served[m]))
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].ModelName < rows[j].ModelName })
	resp["data"] = rows
	c.JSON(http.StatusOK, resp)
}

func pricingOf(snap *ratio_setting.Snapshot, m string, groups []string) pricingRow {
	row := pricingRow{ModelName: m, CompletionRatio: snap.CompletionRatioOf(m), CacheRatio: snap.CacheRatioOf(m),
		EnableGroups: groups}
	if row.EnableGroups == nil {
		row.EnableGroups = []string{}
	}
	row.ModelRatio, _ = snap.ModelRatioOf(m)
	row.ModelPrice, _ = snap.ModelPriceOf(m)
	if p, ok := snap.PricingOf(m); ok && p.UsePrice {
		row.QuotaType = 1
	}
	return row
}

// GetRatioConfig answers GET /api/ratio_config while the operator has
// chosen to publish the ratios (ExposeRatioEnabled), from a cache of
// pre-encoded JSON so a flood of anonymous calls costs almost nothing.
func (h *Handlers) GetRatioConfig(c *gin.Context) {
	if !ratio_setting.ExposeRatioEnabled() {
		fail(c, http.StatusForbidden, "the ratio configuration is not public on this server")
		return
	}
	data := ratio_setting.ExposedRatioJSON()
	c.Header("Content-Type", "application/json; charset=utf-8")
	c.Status(http.StatusOK)
	w := c.Writer
	_, _ = io.WriteString(w, `{"success":true,"message":"","data":`)
	_, _ = io.WriteString(w, data)
	_, _ = io.WriteString(w, `}`)
}
