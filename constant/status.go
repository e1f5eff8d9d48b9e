package constant

// User roles. A user may only act on users of a strictly lower role.
const (
	RoleGuest  = 0
	RoleCommon = 1
	RoleAdmin  = 10
	RoleRoot   = 100
)

// User statuses.
const (
	UserStatusEnabled  = 1
	UserStatusDisabled = 2
)

// API key (token) statuses. Expired and exhausted are derived from
// expired_time and remain_quota but also persisted so lists can filter.
const (
	TokenStatusEnabled   = 1
	TokenStatusDisabled  = 2
	TokenStatusExpired   = 3
	TokenStatusExhausted = 4
)

// Channel statuses: 3 is set by the gateway itself when an upstream
// rejects the channel's credentials, so operators can tell it from a manual switch-off.
const (
	ChannelStatusEnabled          = 1
	ChannelStatusManuallyDisabled = 2
	ChannelStatusAutoDisabled     = 3
)

// Log types as stored in the logs table.
const (
	LogTypeTopup   = 1
	LogTypeConsume = 2
	LogTypeManage  = 3
	LogTypeSystem  = 4
	LogTypeError   = 5
)

// DefaultGroup is the group users and keys get when none is set.
const DefaultGroup = "default"
