package controller

import (
	"github.com/gin-gonic/gin"

	"sluice/service"
	"sluice/setting"
)

// GetOptions answers GET /api/option/ with every setting as key/value rows.
func (h *Handlers) GetOptions(c *gin.Context) {
	vals := setting.Values()
	rows := make([]gin.H, 0, len(vals))
	for _, k := range setting.Keys() {
		rows = append(rows, gin.H{"key": k, "value": vals[k]})
	}
	ok(c, rows)
}

// UpdateOption answers PUT /api/option/ {key, value}: validated first, then
// stored, then applied, so a bad value changes nothing anywhere.
func (h *Handlers) UpdateOption(c *gin.Context) {
	var in struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	}
	if err := c.ShouldBindJSON(&in); err != nil || in.Key == "" {
		badRequest(c, "body must be {\"key\":…,\"value\":…}")
		return
	}
	value := optionString(in.Value)
	if err := setting.Validate(in.Key, value); err != nil {
		badRequest(c, err.Error())
		return
	}
	if err := h.Store.SaveOption(in.Key, value); err != nil {
		internal(c, err)
		return
	}
	if err := setting.Apply(in.Key, value); err != nil {
		badRequest(c, err.Error())
		return
	}
	if h.Invalidator != nil {
		h.Invalidator.Publish(service.KindOptions, 0)
	}
	h.audit(c, "changed option "+in.Key)
	ok(c, nil)
}

// optionString accepts scripts that send booleans or numbers unquoted.
func optionString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case bool:
		if t {
			return "true"
		}
		return "false"
	case float64:
		return jsonNumber(t)
	case nil:
		return ""
	default:
		return ""
	}
}
