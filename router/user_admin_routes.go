package router

import "sluice/controller"

// userAdminRoutes registers user administration: /api/user/ CRUD, /api/user/manage, /api/user/self delete, /api/group/.
func userAdminRoutes(g routeGroups, h *controller.Handlers) {
	g.admin.GET("/user/", h.ListUsers)
	g.admin.GET("/user/search", h.SearchUsers)
	g.admin.GET("/user/:id", h.GetUser)
	g.admin.POST("/user/", h.CreateUser)
	g.admin.PUT("/user/", h.UpdateUser)
	g.admin.DELETE("/user/:id", h.DeleteUser)
	g.admin.POST("/user/manage", h.ManageUser)
	g.admin.GET("/group/", h.ListGroups)

	g.user.DELETE("/user/self", h.DeleteSelf)
	g.user.GET("/user/self/groups", h.SelfGroups)
}
