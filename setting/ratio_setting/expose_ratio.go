package ratio_setting

import "sync/atomic"

// exposeRatio gates GET /api/ratio_config. Off by default: an operator's price list is their business until they
// choose to publish it.
var exposeRatio atomic.Bool

// ExposeRatioEnabled reports whether the ratio configuration may be served to anyone who asks.
func ExposeRatioEnabled() bool { return exposeRatio.Load() }

// SetExposeRatioEnabled turns the public ratio configuration on or off.
func SetExposeRatioEnabled(on bool) { exposeRatio.Store(on) }
