// Package operation_setting holds the operator's quota and relay rules (the quota unit, new-user quota, retries,
// channel auto-disable, self-use mode, the completion allowance reserved up front).
//
// They are read on every request, so the whole set is one immutable Operation value behind an atomic pointer:
// readers never lock and never see a half-applied change.
package operation_setting

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// MaxRetryTimes bounds RetryTimes: each retry is another upstream call the client waits for, and beyond a
// handful they only multiply the damage of an outage.
const MaxRetryTimes = 10

// Operation is one published, immutable set of operation rules.
type Operation struct {
	// QuotaPerUnit is how much quota is worth 1 USD; it converts fixed USD prices to quota. Must be > 0.
	QuotaPerUnit float64
	// QuotaForNewUser is the quota a newly registered user starts with. Must be ≥ 0.
	QuotaForNewUser int64
	// RetryTimes is how many other channels a failed request is retried on. 0..MaxRetryTimes.
	RetryTimes int
	// AutomaticDisableChannelEnabled lets the relay disable a channel whose upstream rejects its key.
	AutomaticDisableChannelEnabled bool
	// SelfUseModeEnabled serves models without a price or ratio (free) instead of refusing them, for operators
	// who run the gateway only for themselves.
	SelfUseModeEnabled bool
	// PreConsumeCompletionTokens is the completion allowance reserved for a request without max_tokens. ≥ 0.
	PreConsumeCompletionTokens int
	// DisplayInCurrencyEnabled asks the UI to show quota as money rather than raw quota.
	DisplayInCurrencyEnabled bool
	// LogRetentionDays deletes logs older than this many days, daily (0 keeps them forever).
	LogRetentionDays int
	// ModelRequestRateLimitEnabled turns on the per-user relay request limit below.
	ModelRequestRateLimitEnabled bool
	// ModelRequestRateLimitCount is how many relay requests one user may start per
	// ModelRequestRateLimitDurationMinutes. ≥ 1 when enabled.
	ModelRequestRateLimitCount int
	// ModelRequestRateLimitDurationMinutes is the window of the per-user limit. 1..1440.
	ModelRequestRateLimitDurationMinutes int
	// ChannelFailureThreshold failed attempts (5xx, timeouts, refused
	// connections) within ChannelFailureWindowSeconds auto-disable a
	// channel; 0 disables only on dead keys and accounts.
	ChannelFailureThreshold     int
	ChannelFailureWindowSeconds int
	// ChannelProbeIntervalSeconds is how often auto-disabled channels are
	// probed and re-enabled when they answer; 0 never re-enables them.
	ChannelProbeIntervalSeconds int
	// AllowPrivateUpstreams lets channels reach private-network and loopback addresses (10/8, 172.16/12,
	// 192.168/16, 100.64/10, fc00::/7, 127/8, ::1). On by default, because local model servers such as Ollama
	// and vLLM are legitimate upstreams; an operator who serves customers, or whose admins are not all trusted,
	// should turn it off so that no channel can be pointed at the internal network (SSRF). Link-local and cloud
	// metadata addresses are refused whatever it says (common/netguard).
	AllowPrivateUpstreams bool
}

// Default returns the rules of a fresh install.
func Default() Operation {
	return Operation{
		QuotaPerUnit:                         500000, // $0.002 per 1K tokens at ratio 1 makes 1000 tokens = 1000 quota
		QuotaForNewUser:                      0,
		RetryTimes:                           2,
		AutomaticDisableChannelEnabled:       true,
		SelfUseModeEnabled:                   false,
		PreConsumeCompletionTokens:           512,
		DisplayInCurrencyEnabled:             true,
		LogRetentionDays:                     0,
		ModelRequestRateLimitEnabled:         false,
		ModelRequestRateLimitCount:           60,
		ModelRequestRateLimitDurationMinutes: 1,
		ChannelFailureThreshold:              5,
		ChannelFailureWindowSeconds:          60,
		ChannelProbeIntervalSeconds:          300,
		AllowPrivateUpstreams:                true,
	}
}

// Validate reports the first field out of range, naming it, or nil.
func (o *Operation) Validate() error {
	switch {
	case math.IsNaN(o.QuotaPerUnit) || math.IsInf(o.QuotaPerUnit, 0) || o.QuotaPerUnit <= 0:
		// It divides and multiplies every fixed price; zero or infinity would make calls free or unpayable.
		return fmt.Errorf("QuotaPerUnit must be a finite number greater than 0, got %v", o.QuotaPerUnit)
	case o.QuotaForNewUser < 0:
		return fmt.Errorf("QuotaForNewUser must not be negative, got %d", o.QuotaForNewUser)
	case o.RetryTimes < 0 || o.RetryTimes > MaxRetryTimes:
		return fmt.Errorf("RetryTimes must be between 0 and %d, got %d", MaxRetryTimes, o.RetryTimes)
	case o.PreConsumeCompletionTokens < 0:
		return fmt.Errorf("PreConsumeCompletionTokens must not be negative, got %d", o.PreConsumeCompletionTokens)
	case o.LogRetentionDays < 0 || o.LogRetentionDays > 36500:
		return fmt.Errorf("LogRetentionDays must be between 0 and 36500, got %d", o.LogRetentionDays)
	case o.ModelRequestRateLimitCount < 1 || o.ModelRequestRateLimitCount > 1_000_000:
		return fmt.Errorf("ModelRequestRateLimitCount must be between 1 and 1000000, got %d", o.ModelRequestRateLimitCount)
	case o.ChannelFailureThreshold < 0 || o.ChannelFailureThreshold > 10_000:
		return fmt.Errorf("ChannelFailureThreshold must be between 0 and 10000, got %d", o.ChannelFailureThreshold)
	case o.ChannelFailureWindowSeconds < 1 || o.ChannelFailureWindowSeconds > 86400:
		return fmt.Errorf("ChannelFailureWindowSeconds must be between 1 and 86400, got %d", o.ChannelFailureWindowSeconds)
	case o.ChannelProbeIntervalSeconds < 0 || o.ChannelProbeIntervalSeconds > 86400:
		return fmt.Errorf("ChannelProbeIntervalSeconds must be between 0 and 86400, got %d", o.ChannelProbeIntervalSeconds)
	case o.ModelRequestRateLimitDurationMinutes < 1 || o.ModelRequestRateLimitDurationMinutes > 1440:
		return fmt.Errorf("ModelRequestRateLimitDurationMinutes must be between 1 and 1440, got %d", o.ModelRequestRateLimitDurationMinutes)
	}
	return nil
}

var (
	current atomic.Pointer[Operation]
	// writeMu serialises Update so that two concurrent changes to different fields both survive.
	writeMu sync.Mutex
)

func init() {
	o := Default()
	current.Store(&o)
}

// Get returns the current rules. It never returns nil; the value is shared, so callers must not modify it.
func Get() *Operation { return current.Load() }

// Set replaces all the rules at once after validating them; on error nothing changes.
func Set(o Operation) error {
	if err := o.Validate(); err != nil {
		return err
	}
	writeMu.Lock()
	defer writeMu.Unlock()
	current.Store(&o)
	return nil
}

// Update applies change to a copy of the current rules and publishes the copy if it is valid; on error nothing
// changes. Use it to change one field without racing other writers.
func Update(change func(*Operation)) error {
	writeMu.Lock()
	defer writeMu.Unlock()
	next := *current.Load()
	change(&next)
	if err := next.Validate(); err != nil {
		return err
	}
	current.Store(&next)
	return nil
}
