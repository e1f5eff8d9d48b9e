package router

import "sluice/controller"

// usageRoutes registers /api/data/ usage aggregates and log history deletion.
func usageRoutes(g routeGroups, h *controller.Handlers) {}
