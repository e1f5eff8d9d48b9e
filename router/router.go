// Package router is the route table: which middleware chain and handler
// serve which path.
package router

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"sluice/constant"
	"sluice/controller"
	"sluice/middleware"
	relaycommon "sluice/relay/common"
	"sluice/relay/relayerr"
	"sluice/web"
)

// Limits are the per-IP limits for the admin API and web UI.
type Limits struct {
	APIPerWindow int
	WebPerWindow int
	// CriticalPerWindow limits login, setup and redemption per IP, which
	// attackers would otherwise brute-force at the general API rate.
	CriticalPerWindow int
	Window            time.Duration
	// TrustedProxies may set X-Forwarded-For; nil trusts nobody.
	TrustedProxies []string
}

// New builds the HTTP handler.
func New(h *controller.Handlers, lim Limits) (*gin.Engine, error) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	if err := r.SetTrustedProxies(lim.TrustedProxies); err != nil {
		return nil, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	r.Use(middleware.RequestID(), middleware.Recover(), middleware.Cache())
	r.ContextWithFallback = true

	critical := middleware.NewRateLimiter(lim.CriticalPerWindow, lim.Window)
	api := r.Group("/api", middleware.NewRateLimiter(lim.APIPerWindow, lim.Window).Middleware(),
		critical.CriticalPaths("/api/user/login", "/api/setup", "/api/user/topup"), limitBody(h.BodyLimit))
	api.GET("/status", h.Status)
	api.GET("/setup", h.GetSetup)
	api.POST("/setup", h.PostSetup)
	api.POST("/user/login", h.Login)
	api.GET("/user/logout", h.Logout)

	user := api.Group("", h.Sessions.Auth(constant.RoleCommon))
	user.GET("/user/self", h.Self)
	user.PUT("/user/self", h.UpdateSelf)
	user.GET("/user/token", h.GenerateAccessToken)
	user.GET("/token/", h.ListTokens)
	user.GET("/token/:id", h.GetToken)
	user.POST("/token/", h.CreateToken)
	user.PUT("/token/", h.UpdateToken)
	user.DELETE("/token/:id", h.DeleteToken)
	user.GET("/log/self", h.ListSelfLogs)
	user.GET("/log/self/stat", h.SelfLogStat)

	admin := api.Group("", h.Sessions.Auth(constant.RoleAdmin))
	admin.GET("/channel/", h.ListChannels)
	admin.GET("/channel/:id", h.GetChannel)
	admin.POST("/channel/", h.CreateChannel)
	admin.PUT("/channel/", h.UpdateChannel)
	admin.DELETE("/channel/:id", h.DeleteChannel)
	admin.GET("/log/", h.ListLogs)
	admin.GET("/log/stat", h.LogStat)

	root := api.Group("", h.Sessions.Auth(constant.RoleRoot))
	root.GET("/option/", h.GetOptions)
	root.PUT("/option/", h.UpdateOption)

	groups := routeGroups{api: api, user: user, admin: admin, root: root}
	userAdminRoutes(groups, h)
	redemptionRoutes(groups, h)
	usageRoutes(groups, h)
	pricingRoutes(groups, h)
	channelExtraRoutes(groups, h)

	v1 := r.Group("/v1", middleware.CORS(), middleware.TokenAuth(h.Cache),
		middleware.ModelRequestLimit(middleware.NewRateLimiter(0, time.Minute)))
	v1.GET("/models", h.ListModels)
	v1.GET("/models/:model", h.RetrieveModel)
	relay := v1.Group("", middleware.Distribute(h.Cache, h.BodyLimit))
	relay.POST("/chat/completions", h.Relay(relaycommon.ModeChatCompletions))
	relay.POST("/completions", h.Relay(relaycommon.ModeCompletions))
	relay.POST("/embeddings", h.Relay(relaycommon.ModeEmbeddings))
	relay.POST("/messages", h.Relay(relaycommon.ModeMessages))
	relay.POST("/responses", h.Relay(relaycommon.ModeResponses))
	mediaRoutes(v1, h)

	v1beta := r.Group("/v1beta", middleware.CORS(), middleware.TokenAuth(h.Cache),
		middleware.ModelRequestLimit(middleware.NewRateLimiter(0, time.Minute)))
	v1beta.POST("/models/*action", geminiActionKnown, middleware.DistributeGemini(h.Cache, h.BodyLimit),
		h.Relay(relaycommon.ModeGemini))
	// A browser asks before a cross-origin call with a key in its headers;
	// the group middlewares above (authentication first) never see it.
	r.OPTIONS("/v1/*path", middleware.Preflight)
	r.OPTIONS("/v1beta/*path", middleware.Preflight)

	ui, err := newWebUI(web.Dist(), middleware.NewRateLimiter(lim.WebPerWindow, lim.Window))
	if err != nil {
		return nil, fmt.Errorf("web UI build: %w", err)
	}
	r.NoRoute(func(c *gin.Context) {
		p := c.Request.URL.Path
		switch {
		case p == "/v1" || p == "/v1beta" || strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/v1beta/"):
			middleware.AbortRelay(c, relayerr.New(relayerr.KindNotFound, "unknown endpoint "+c.Request.Method+" "+p).WithCode("unknown_url"))
		case p == "/api" || strings.HasPrefix(p, "/api/"):
			middleware.AbortAPI(c, http.StatusNotFound, "unknown endpoint")
		default:
			// The admin SPA: its files, or index.html for client-side routes.
			ui.serve(c)
		}
	})
	return r, nil
}

// geminiActionKnown answers 404 in Gemini's shape for a model action the
// gateway does not serve (countTokens, embedContent…).
func geminiActionKnown(c *gin.Context) {
	if _, _, ok := middleware.GeminiAction(c.Param("action")); !ok {
		middleware.AbortRelay(c, relayerr.New(relayerr.KindNotFound, "unknown endpoint "+c.Request.Method+" "+c.Request.URL.Path).WithCode("unknown_url"))
		return
	}
	c.Next()
}

// routeGroups are the /api groups by the role they require.
type routeGroups struct {
	api   *gin.RouterGroup // anyone
	user  *gin.RouterGroup // role ≥ 1
	admin *gin.RouterGroup // role ≥ 10
	root  *gin.RouterGroup // role 100
}

// limitBody bounds admin request bodies like relay ones.
func limitBody(limit int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > limit {
			middleware.AbortAPI(c, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		c.Next()
	}
}
