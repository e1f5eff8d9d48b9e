package constant

// Keys under which the middleware chain hands per-request values to the
// handlers. They are namespaced so no third-party middleware can collide.
const (
	CtxRequestID   = "sluice.request_id"
	CtxUser        = "sluice.user"
	CtxToken       = "sluice.token"
	CtxChannel     = "sluice.channel"
	CtxPinnedChan  = "sluice.pinned_channel"
	CtxPeek        = "sluice.peek"
	CtxBody        = "sluice.body"
	CtxRelayFormat = "sluice.relay_format"
	CtxSessionUser = "sluice.session_user"
)

// HeaderRequestID carries the request id back to the client and upstream.
const HeaderRequestID = "X-Sluice-Request-Id"
