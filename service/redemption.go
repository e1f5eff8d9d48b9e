package service

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"sluice/common"
	"sluice/constant"
	"sluice/model"
	"sluice/setting/operation_setting"
)

// Redemption code limits.
const (
	RedemptionCodeLength  = 32  // characters of [a-zA-Z0-9]: about 190 bits, beyond guessing
	MaxRedemptionsPerCall = 100 // codes one POST may create
	MaxRedemptionNameLen  = 128 // the column's size
)

// NewRedemptions is an operator's request for count codes of quota each.
type NewRedemptions struct {
	CreatorID   int
	Name        string
	Quota       int64
	Count       int
	ExpiredTime int64 // unix; 0: never
}

// Validate reports the first unacceptable field, or nil.
func (n *NewRedemptions) Validate(now time.Time) error {
	name := strings.TrimSpace(n.Name)
	switch {
	case name == "":
		return errors.New("name is required")
	case len(name) > MaxRedemptionNameLen:
		return errors.New("name must be at most " + itoa(MaxRedemptionNameLen) + " bytes")
	case n.Quota <= 0:
		return errors.New("quota must be greater than 0")
	case n.Count < 1 || n.Count > MaxRedemptionsPerCall:
		return errors.New("count must be between 1 and " + itoa(MaxRedemptionsPerCall))
	}
	return ValidateRedemptionExpiry(n.ExpiredTime, now)
}

// ValidateRedemptionExpiry accepts 0 (never) or a time still to come.
func ValidateRedemptionExpiry(t int64, now time.Time) error {
	if t != 0 && t <= now.Unix() {
		return errors.New("expired_time must be 0 (never) or a future unix timestamp")
	}
	return nil
}

// CreateRedemptions makes the codes and returns them. Only their hashes
// are stored: the returned strings are the one and only time anyone sees
// them.
func CreateRedemptions(store *model.Store, n NewRedemptions) ([]string, error) {
	now := time.Now()
	if err := n.Validate(now); err != nil {
		return nil, err
	}
	codes := make([]string, n.Count)
	rows := make([]model.Redemption, n.Count)
	for i := range codes {
		codes[i] = common.RandomString(RedemptionCodeLength)
		rows[i] = model.Redemption{UserID: n.CreatorID, Name: strings.TrimSpace(n.Name), KeyHash: common.HashSecret(codes[i]),
			MaskedKey: MaskRedemptionCode(codes[i]), Status: model.RedemptionStatusUnused, Quota: n.Quota,
			CreatedTime: now.Unix(), ExpiredTime: n.ExpiredTime}
	}
	if err := store.CreateRedemptions(rows); err != nil {
		return nil, err
	}
	return codes, nil
}

// MaskRedemptionCode keeps four characters at each end, enough to tell
// codes apart in a list and far too few to redeem one.
func MaskRedemptionCode(code string) string {
	if len(code) < 16 {
		return strings.Repeat("*", 8)
	}
	return code[:4] + strings.Repeat("*", 8) + code[len(code)-4:]
}

// ErrTooManyRedeemFailures refuses a caller who has recently tried too many
// wrong codes, whatever code they send now.
var ErrTooManyRedeemFailures = errors.New("too many failed redemption attempts; try again later")

// Redeemer spends redemption codes. Its guard makes wrong codes cost the
// caller: after MaxFailures wrong codes within Window a user is refused
// without the code being looked at until the window has passed.
type Redeemer struct {
	Store  *model.Store
	Cache  *model.Cache
	Writer *BatchWriter
	// MaxFailures wrong codes per Window (defaults 10 per 15 minutes).
	MaxFailures int
	Window      time.Duration

	mu       sync.Mutex
	failures map[int]*redeemFailures
}

type redeemFailures struct {
	n     int
	since time.Time // start of the current window
}

// Redeem tops userID up with the code's quota and returns the amount. It
// happens exactly once per code however many callers race: the store claims
// the code and adds the quota in one transaction, then the same amount goes
// to the live balance and a topup log (naming the amount, never the code) is
// queued. A wrong, used, disabled or expired code returns
// model.ErrRedemptionUnavailable and changes nothing.
func (r *Redeemer) Redeem(userID int, username, code string) (int64, error) {
	now := time.Now()
	if r.lockedOut(userID, now) {
		return 0, ErrTooManyRedeemFailures
	}
	code = strings.TrimSpace(code)
	if !plausibleCode(code) {
		r.fail(userID, now)
		return 0, model.ErrRedemptionUnavailable
	}
	red, err := r.Store.RedeemCode(common.HashSecret(code), userID, now.Unix())
	if err != nil {
		if errors.Is(err, model.ErrRedemptionUnavailable) {
			r.fail(userID, now)
		}
		return 0, err
	}
	// The live balance (the cache entry, or Redis when it is on) gets the
	// same amount SQL just got.
	r.Cache.AddUserQuota(context.Background(), userID, red.Quota)
	r.Writer.AddLog(model.Log{UserID: userID, Username: username, Type: constant.LogTypeTopup, CreatedAt: now.Unix(),
		Quota: red.Quota, Content: topupContent(red)})
	return red.Quota, nil
}

// plausibleCode rejects what can never be a code before touching SQL.
func plausibleCode(code string) bool {
	if len(code) != RedemptionCodeLength {
		return false
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func topupContent(red *model.Redemption) string {
	s := "Redeemed " + strconv.FormatInt(red.Quota, 10) + " quota"
	if per := operation_setting.Get().QuotaPerUnit; per > 0 {
		// Whole micro-dollars: small codes don't read as "$0.00".
		s += " ($" + strconv.FormatFloat(math.Round(float64(red.Quota)/per*1e6)/1e6, 'f', -1, 64) + ")"
	}
	return s + " with redemption code #" + itoa(red.ID)
}

func (r *Redeemer) limits() (int, time.Duration) {
	n, w := r.MaxFailures, r.Window
	if n <= 0 {
		n = 10
	}
	if w <= 0 {
		w = 15 * time.Minute
	}
	return n, w
}

func (r *Redeemer) lockedOut(userID int, now time.Time) bool {
	limit, window := r.limits()
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.failures[userID]
	if f == nil {
		return false
	}
	if now.Sub(f.since) >= window {
		delete(r.failures, userID)
		return false
	}
	return f.n >= limit
}

func (r *Redeemer) fail(userID int, now time.Time) {
	_, window := r.limits()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failures == nil {
		r.failures = map[int]*redeemFailures{}
	}
	// Forget windows that ended, so the map only holds recent offenders.
	if len(r.failures) > 1024 {
		for id, f := range r.failures {
			if now.Sub(f.since) >= window {
				delete(r.failures, id)
			}
		}
	}
	f := r.failures[userID]
	if f == nil || now.Sub(f.since) >= window {
		f = &redeemFailures{since: now}
		r.failures[userID] = f
	}
	f.n++
}
