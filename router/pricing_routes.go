package router

import "sluice/controller"

// pricingRoutes registers /api/pricing and /api/ratio_config.
func pricingRoutes(g routeGroups, h *controller.Handlers) {
	// Anyone may read the pricing page; a logged-in caller gets the view of
	// their own group, so credentials are read when present.
	g.api.GET("/pricing", h.Sessions.TryAuth(), h.GetPricing)
	// Public only while ExposeRatioEnabled; the handler refuses otherwise.
	g.api.GET("/ratio_config", h.GetRatioConfig)
}
