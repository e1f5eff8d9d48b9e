package router

import "sluice/controller"

// userAdminRoutes registers user administration: /api/user/ CRUD, /api/user/manage, /api/user/self delete, /api/group/.
func userAdminRoutes(g routeGroups, h *controller.Handlers) {}
