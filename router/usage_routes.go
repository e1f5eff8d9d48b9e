package router

import "sluice/controller"

// usageRoutes registers /api/data/ usage aggregates and log history deletion.
func usageRoutes(g routeGroups, h *controller.Handlers) {
	g.user.GET("/data/self", h.GetSelfUsageData)
	g.admin.GET("/data/", h.GetUsageData)
	g.admin.DELETE("/log/", h.DeleteHistoryLogs)
}
