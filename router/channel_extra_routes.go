package router

import "sluice/controller"

// channelExtraRoutes registers channel tests, model fetching and tag operations.
func channelExtraRoutes(g routeGroups, h *controller.Handlers) {}
