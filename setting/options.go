// Package setting is the one registry of runtime options: every key the options table and PUT /api/option/ may
// carry, with its default, its validation and how it is applied to the typed settings in ratio_setting and
// operation_setting.
//
// Each key maps to a small struct of functions, so adding an option is one line in the table below, and no code
// reaches settings through reflection or a string switch over package variables.
package setting

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"sluice/setting/operation_setting"
	"sluice/setting/ratio_setting"
)

// Option keys, as stored in the options table and sent to PUT /api/option/.
const (
	KeyModelRatio                     = "ModelRatio"
	KeyCompletionRatio                = "CompletionRatio"
	KeyCacheRatio                     = "CacheRatio"
	KeyCreateCacheRatio               = "CreateCacheRatio"
	KeyGroupRatio                     = "GroupRatio"
	KeyModelPrice                     = "ModelPrice"
	KeyExposeRatioEnabled             = "ExposeRatioEnabled"
	KeyQuotaPerUnit                   = "QuotaPerUnit"
	KeyQuotaForNewUser                = "QuotaForNewUser"
	KeyRetryTimes                     = "RetryTimes"
	KeyAutomaticDisableChannelEnabled = "AutomaticDisableChannelEnabled"
	KeySelfUseModeEnabled             = "SelfUseModeEnabled"
	KeyPreConsumeCompletionTokens     = "PreConsumeCompletionTokens"
	KeyDisplayInCurrencyEnabled       = "DisplayInCurrencyEnabled"
	KeyLogRetentionDays               = "LogRetentionDays"
	KeyModelRequestRateLimitEnabled   = "ModelRequestRateLimitEnabled"
	KeyModelRequestRateLimitCount     = "ModelRequestRateLimitCount"
	KeyModelRequestRateLimitDuration  = "ModelRequestRateLimitDurationMinutes"
	KeyChannelFailureThreshold        = "ChannelFailureThreshold"
	KeyChannelFailureWindowSeconds    = "ChannelFailureWindowSeconds"
	KeyChannelProbeIntervalSeconds    = "ChannelProbeIntervalSeconds"
	KeyCPUMonitorEnabled              = "CPUMonitorEnabled"
	KeyCPUMonitorThreshold            = "CPUMonitorThreshold"
	KeyCPUProfileSeconds              = "CPUProfileSeconds"
	KeyCPUProfileIntervalSeconds      = "CPUProfileIntervalSeconds"
	KeyCPUProfileDir                  = "CPUProfileDir"
	KeyCPUProfileKeep                 = "CPUProfileKeep"
	KeyCPUMonitorSampleSeconds        = "CPUMonitorSampleSeconds"
	KeyAllowPrivateUpstreams          = "AllowPrivateUpstreams"
	// Media route multipliers (docs/media.md).
	KeyImageSizeRatio       = "ImageSizeRatio"
	KeyImageQualityRatio    = "ImageQualityRatio"
	KeyAudioRatio           = "AudioRatio"
	KeyAudioCompletionRatio = "AudioCompletionRatio"
	KeyAudioTokensPerSecond = "AudioTokensPerSecond"
)

// ErrUnknownOption is wrapped by the error for a key that is not in the registry, so a handler can tell a typo
// in the key from a bad value.
var ErrUnknownOption = errors.New("unknown option")

// option is how one key is handled. Every function's error already names the key.
type option struct {
	key      string
	def      string             // the default, in stored (string) form
	validate func(string) error // parses and checks a value without changing anything
	apply    func(string) error // validates, then publishes; on error nothing changes
	get      func() string      // the current value in stored form
}

// registry is every known option. It is built once at start-up and only read afterwards.
var registry = buildRegistry(
	ratioOption(KeyModelRatio, ratio_setting.Defaults().ModelRatio, ratio_setting.SetModelRatio, ratio_setting.ModelRatioJSON),
	ratioOption(KeyCompletionRatio, ratio_setting.Defaults().CompletionRatio, ratio_setting.SetCompletionRatio, ratio_setting.CompletionRatioJSON),
	ratioOption(KeyCacheRatio, ratio_setting.Defaults().CacheRatio, ratio_setting.SetCacheRatio, ratio_setting.CacheRatioJSON),
	ratioOption(KeyCreateCacheRatio, ratio_setting.Defaults().CreateCacheRatio, ratio_setting.SetCreateCacheRatio,
		ratio_setting.CreateCacheRatioJSON),
	ratioOption(KeyGroupRatio, ratio_setting.Defaults().GroupRatio, ratio_setting.SetGroupRatio, ratio_setting.GroupRatioJSON),
	ratioOption(KeyModelPrice, ratio_setting.Defaults().ModelPrice, ratio_setting.SetModelPrice, ratio_setting.ModelPriceJSON),
	boolOption(KeyExposeRatioEnabled, false, ratio_setting.ExposeRatioEnabled, ratio_setting.SetExposeRatioEnabled),
	operationOption(KeyQuotaPerUnit, func(o *operation_setting.Operation) *float64 { return &o.QuotaPerUnit }, parseFloat, formatFloat),
	operationOption(KeyQuotaForNewUser, func(o *operation_setting.Operation) *int64 { return &o.QuotaForNewUser }, parseInt64, formatInt64),
	operationOption(KeyRetryTimes, func(o *operation_setting.Operation) *int { return &o.RetryTimes }, parseInt, strconv.Itoa),
	operationOption(KeyAutomaticDisableChannelEnabled, func(o *operation_setting.Operation) *bool { return &o.AutomaticDisableChannelEnabled }, parseBool, strconv.FormatBool),
	operationOption(KeySelfUseModeEnabled, func(o *operation_setting.Operation) *bool { return &o.SelfUseModeEnabled }, parseBool, strconv.FormatBool),
	operationOption(KeyPreConsumeCompletionTokens, func(o *operation_setting.Operation) *int { return &o.PreConsumeCompletionTokens }, parseInt, strconv.Itoa),
	operationOption(KeyDisplayInCurrencyEnabled, func(o *operation_setting.Operation) *bool { return &o.DisplayInCurrencyEnabled }, parseBool, strconv.FormatBool),
	operationOption(KeyLogRetentionDays, func(o *operation_setting.Operation) *int { return &o.LogRetentionDays }, parseInt, strconv.Itoa),
	operationOption(KeyModelRequestRateLimitEnabled, func(o *operation_setting.Operation) *bool { return &o.ModelRequestRateLimitEnabled }, parseBool, strconv.FormatBool),
	operationOption(KeyModelRequestRateLimitCount, func(o *operation_setting.Operation) *int { return &o.ModelRequestRateLimitCount }, parseInt, strconv.Itoa),
	operationOption(KeyModelRequestRateLimitDuration, func(o *operation_setting.Operation) *int { return &o.ModelRequestRateLimitDurationMinutes }, parseInt, strconv.Itoa),
	operationOption(KeyAllowPrivateUpstreams, func(o *operation_setting.Operation) *bool { return &o.AllowPrivateUpstreams }, parseBool, strconv.FormatBool),
	operationOption(KeyChannelFailureThreshold, func(o *operation_setting.Operation) *int { return &o.ChannelFailureThreshold }, parseInt, strconv.Itoa),
	operationOption(KeyChannelFailureWindowSeconds, func(o *operation_setting.Operation) *int { return &o.ChannelFailureWindowSeconds }, parseInt, strconv.Itoa),
	operationOption(KeyChannelProbeIntervalSeconds, func(o *operation_setting.Operation) *int { return &o.ChannelProbeIntervalSeconds }, parseInt, strconv.Itoa),
	monitorOption(KeyCPUMonitorEnabled, func(m *operation_setting.Monitor) *bool { return &m.CPUMonitorEnabled }, parseBool, strconv.FormatBool),
	monitorOption(KeyCPUMonitorThreshold, func(m *operation_setting.Monitor) *int { return &m.CPUMonitorThreshold }, parseInt, strconv.Itoa),
	monitorOption(KeyCPUProfileSeconds, func(m *operation_setting.Monitor) *int { return &m.CPUProfileSeconds }, parseInt, strconv.Itoa),
	monitorOption(KeyCPUProfileIntervalSeconds, func(m *operation_setting.Monitor) *int { return &m.CPUProfileIntervalSeconds }, parseInt, strconv.Itoa),
	monitorOption(KeyCPUProfileDir, func(m *operation_setting.Monitor) *string { return &m.CPUProfileDir }, parsePath, identity),
	monitorOption(KeyCPUProfileKeep, func(m *operation_setting.Monitor) *int { return &m.CPUProfileKeep }, parseInt, strconv.Itoa),
	monitorOption(KeyCPUMonitorSampleSeconds, func(m *operation_setting.Monitor) *int { return &m.CPUMonitorSampleSeconds }, parseInt, strconv.Itoa),
	ratioOption(KeyImageSizeRatio, ratio_setting.DefaultMedia().ImageSizeRatio, ratio_setting.SetImageSizeRatio, ratio_setting.ImageSizeRatioJSON),
	ratioOption(KeyImageQualityRatio, ratio_setting.DefaultMedia().ImageQualityRatio, ratio_setting.SetImageQualityRatio, ratio_setting.ImageQualityRatioJSON),
	ratioOption(KeyAudioRatio, ratio_setting.DefaultMedia().AudioRatio, ratio_setting.SetAudioRatio, ratio_setting.AudioRatioJSON),
	ratioOption(KeyAudioCompletionRatio, ratio_setting.DefaultMedia().AudioCompletionRatio, ratio_setting.SetAudioCompletionRatio, ratio_setting.AudioCompletionRatioJSON),
	fieldOption(KeyAudioTokensPerSecond, operation_setting.DefaultMedia(), operation_setting.GetMedia, operation_setting.UpdateMedia,
		(*operation_setting.Media).Validate, func(m *operation_setting.Media) *int { return &m.AudioTokensPerSecond }, parseInt, strconv.Itoa),
)

// sortedKeys is Keys() computed once.
var sortedKeys = func() []string {
	keys := make([]string, 0, len(registry))
	for k := range registry {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}()

func buildRegistry(opts ...option) map[string]option {
	m := make(map[string]option, len(opts))
	for _, o := range opts {
		if _, dup := m[o.key]; dup {
			panic("setting: option " + o.key + " registered twice")
		}
		m[o.key] = o
	}
	return m
}

func lookup(key string) (option, error) {
	o, ok := registry[key]
	if !ok {
		return option{}, fmt.Errorf("%w %q", ErrUnknownOption, key)
	}
	return o, nil
}

// Apply validates value for key and, if it is valid, makes it current at once. An unknown key or an invalid
// value is an error naming the key and the problem, and then nothing changes.
func Apply(key, value string) error {
	o, err := lookup(key)
	if err != nil {
		return err
	}
	return o.apply(value)
}

// Validate runs Apply's checks without changing anything, so a caller can refuse a bad value before storing it.
func Validate(key, value string) error {
	o, err := lookup(key)
	if err != nil {
		return err
	}
	return o.validate(value)
}

// Values returns the current value of every option in stored form, for GET /api/option/.
func Values() map[string]string {
	m := make(map[string]string, len(registry))
	for k, o := range registry {
		m[k] = o.get()
	}
	return m
}

// Keys returns every option key, sorted.
func Keys() []string { return append([]string(nil), sortedKeys...) }

// Defaults returns every option's default in stored form.
func Defaults() map[string]string {
	m := make(map[string]string, len(registry))
	for k, o := range registry {
		m[k] = o.def
	}
	return m
}

// ApplyAll applies the rows of the options table at start-up. A bad stored value is reported and skipped, so the
// gateway still starts with that option at its previous value; keys this version does not know (left by another
// version or another fork) are ignored. Keys are applied in sorted order so the errors come out in a stable order.
func ApplyAll(stored map[string]string) []error {
	var errs []error
	for _, key := range sortedKeys {
		value, ok := stored[key]
		if !ok {
			continue
		}
		if err := registry[key].apply(value); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// ratioOption handles a JSON object option backed by one map of the ratio snapshot.
func ratioOption(key string, def map[string]float64, set func(string) error, get func() string) option {
	wrap := func(err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	}
	return option{
		key: key,
		def: ratio_setting.EncodeRatioMap(def),
		validate: func(v string) error {
			_, err := ratio_setting.ParseRatioMap(v)
			return wrap(err)
		},
		apply: func(v string) error { return wrap(set(v)) },
		get:   get,
	}
}

// boolOption handles a boolean backed by its own atomic flag.
func boolOption(key string, def bool, get func() bool, set func(bool)) option {
	return option{
		key: key,
		def: strconv.FormatBool(def),
		validate: func(v string) error {
			_, err := parseBool(v)
			return wrapParse(key, err)
		},
		apply: func(v string) error {
			b, err := parseBool(v)
			if err != nil {
				return wrapParse(key, err)
			}
			set(b)
			return nil
		},
		get: func() string { return strconv.FormatBool(get()) },
	}
}

// fieldOption handles one field of a typed settings struct S that is
// published as a whole (read with get, changed with update, checked with
// validate). field points into the S it is given, so one accessor serves
// reading the default, reading the current value and writing a copy. Range
// checks live in S's Validate, whose messages already name the field (= the
// key), so they are returned unwrapped.
func fieldOption[S, T any](key string, def S, get func() *S, update func(func(*S)) error, validate func(*S) error,
	field func(*S) *T, parse func(string) (T, error), format func(T) string) option {
	return option{
		key: key,
		def: format(*field(&def)),
		validate: func(v string) error {
			x, err := parse(v)
			if err != nil {
				return wrapParse(key, err)
			}
			next := *get()
			*field(&next) = x
			return validate(&next)
		},
		apply: func(v string) error {
			x, err := parse(v)
			if err != nil {
				return wrapParse(key, err)
			}
			return update(func(s *S) { *field(s) = x })
		},
		get: func() string { return format(*field(get())) },
	}
}

// operationOption handles one field of operation_setting.Operation.
func operationOption[T any](key string, field func(*operation_setting.Operation) *T, parse func(string) (T, error), format func(T) string) option {
	return fieldOption(key, operation_setting.Default(), operation_setting.Get, operation_setting.Update,
		(*operation_setting.Operation).Validate, field, parse, format)
}

// monitorOption handles one field of operation_setting.Monitor, the CPU monitor's knobs.
func monitorOption[T any](key string, field func(*operation_setting.Monitor) *T, parse func(string) (T, error), format func(T) string) option {
	return fieldOption(key, operation_setting.DefaultMonitor(), operation_setting.GetMonitor, operation_setting.UpdateMonitor,
		(*operation_setting.Monitor).Validate, field, parse, format)
}

func wrapParse(key string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// Parsers are strict: a value is its whole string (surrounding spaces aside), in plain decimal notation, so that
// "10abc", "1e3" for a count, "0x10", "NaN" or "Inf" are refused rather than half-read.

func parseBool(s string) (bool, error) {
	switch strings.TrimSpace(s) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf(`want "true" or "false", got %q`, s)
}

func parseInt(s string) (int, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, strconv.IntSize)
	if err != nil {
		return 0, intError(s, err)
	}
	return int(n), nil
}

func parseInt64(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, intError(s, err)
	}
	return n, nil
}

func intError(s string, err error) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("%q is out of range", s)
	}
	return fmt.Errorf("%q is not an integer", s)
}

func parseFloat(s string) (float64, error) {
	t := strings.TrimSpace(s)
	if !isDecimal(t) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil { // only a range error is left: the syntax was checked above
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return v, nil
}

// isDecimal reports whether s is a JSON-style number: an optional minus, digits, an optional fraction and an
// optional exponent. strconv.ParseFloat alone would also take "NaN", "Inf", hex floats and underscores.
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == start {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		frac := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == frac {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == exp {
			return false
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func formatInt64(v int64) string { return strconv.FormatInt(v, 10) }

// parsePath takes a file-system path as given, without surrounding spaces (a trailing space in a directory name
// is far likelier a paste accident than intended).
func parsePath(s string) (string, error) { return strings.TrimSpace(s), nil }

func identity(s string) string { return s }
