package router

import "sluice/controller"

// redemptionRoutes registers redemption codes and /api/user/topup.
func redemptionRoutes(g routeGroups, h *controller.Handlers) {
	g.user.POST("/user/topup", h.Topup)

	r := g.admin.Group("/redemption")
	r.GET("/", h.ListRedemptions)
	r.GET("/search", h.SearchRedemptions)
	r.GET("/:id", h.GetRedemption)
	r.POST("/", h.CreateRedemptions)
	r.PUT("/", h.UpdateRedemption)
	r.DELETE("/invalid", h.DeleteInvalidRedemptions)
	r.DELETE("/:id", h.DeleteRedemption)
}
