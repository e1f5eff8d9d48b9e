package router

import "sluice/controller"

// channelExtraRoutes registers channel tests, model fetching and tag operations.
func channelExtraRoutes(g routeGroups, h *controller.Handlers) {
	a := g.admin
	a.GET("/channel/test", h.TestAllChannels)
	a.GET("/channel/test/:id", h.TestChannel)
	a.GET("/channel/fetch_models/:id", h.FetchChannelModels)
	a.POST("/channel/fetch_models", h.FetchModelsUnsaved)
	a.POST("/channel/tag/disabled", h.DisableTag)
	a.POST("/channel/tag/enabled", h.EnableTag)
	a.PUT("/channel/tag", h.EditTag)
	a.GET("/channel/search", h.SearchChannels)
	a.GET("/channel/models", h.ChannelModels)
	a.GET("/channel/models_enabled", h.EnabledChannelModels)
}
