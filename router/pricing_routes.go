package router

import "sluice/controller"

// pricingRoutes registers /api/pricing and /api/ratio_config.
func pricingRoutes(g routeGroups, h *controller.Handlers) {}
