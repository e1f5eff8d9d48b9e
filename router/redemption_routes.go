package router

import "sluice/controller"

// redemptionRoutes registers redemption codes and /api/user/topup.
func redemptionRoutes(g routeGroups, h *controller.Handlers) {}
