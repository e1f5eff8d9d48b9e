package setting

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"sluice/setting/operation_setting"
	"sluice/setting/ratio_setting"
)

// restoreDefaults puts every option back to its default after a test that changes them.
func restoreDefaults(t *testing.T) {
	t.Cleanup(func() {
		if errs := ApplyAll(Defaults()); len(errs) > 0 {
			t.Fatalf("restoring defaults: %v", errs)
		}
	})
}

var allKeys = []string{
	KeyAllowPrivateUpstreams, KeyAudioCompletionRatio, KeyAudioRatio, KeyAudioTokensPerSecond, KeyAutomaticDisableChannelEnabled,
	KeyCPUMonitorEnabled, KeyCPUMonitorSampleSeconds, KeyCPUMonitorThreshold, KeyCPUProfileDir,
	KeyCPUProfileIntervalSeconds, KeyCPUProfileKeep, KeyCPUProfileSeconds,
	KeyCacheRatio, KeyChannelFailureThreshold, KeyChannelFailureWindowSeconds, KeyChannelProbeIntervalSeconds,
	KeyCompletionRatio, KeyCreateCacheRatio, KeyDisplayInCurrencyEnabled,
	KeyExposeRatioEnabled, KeyGroupRatio, KeyImageQualityRatio, KeyImageSizeRatio, KeyLogRetentionDays, KeyModelPrice, KeyModelRatio,
	KeyModelRequestRateLimitCount, KeyModelRequestRateLimitDuration, KeyModelRequestRateLimitEnabled,
	KeyPreConsumeCompletionTokens, KeyQuotaForNewUser, KeyQuotaPerUnit, KeyRetryTimes, KeySelfUseModeEnabled,
}

func TestKeysAndDefaults(t *testing.T) {
	if got := Keys(); !slices.Equal(got, allKeys) {
		t.Fatalf("Keys() = %v, want %v", got, allKeys)
	}
	want := map[string]string{
		KeyQuotaPerUnit:                   "500000",
		KeyQuotaForNewUser:                "0",
		KeyRetryTimes:                     "2",
		KeyAutomaticDisableChannelEnabled: "true",
		KeySelfUseModeEnabled:             "false",
		KeyPreConsumeCompletionTokens:     "512",
		KeyDisplayInCurrencyEnabled:       "true",
		KeyExposeRatioEnabled:             "false",
		KeyAllowPrivateUpstreams:          "true",
		KeyGroupRatio:                     `{"default":1,"svip":1,"vip":1}`,
		KeyModelPrice:                     `{"dall-e-2":0.02,"dall-e-3":0.04,"gpt-image-1":0.04}`,
	}
	defs := Defaults()
	for k, v := range want {
		if defs[k] != v {
			t.Errorf("Defaults()[%s] = %q, want %q", k, defs[k], v)
		}
	}
	// Before any change the current values are the defaults, and every default is itself valid.
	if vals := Values(); fmt.Sprint(vals) != fmt.Sprint(defs) {
		t.Errorf("Values() differs from Defaults() on a fresh start")
	}
	for k, v := range defs {
		if err := Validate(k, v); err != nil {
			t.Errorf("default of %s is invalid: %v", k, err)
		}
	}
}

func TestApplyEveryKey(t *testing.T) {
	restoreDefaults(t)
	tests := []struct {
		key, value string
		wantErr    string // empty: accepted
		wantValue  string // the value Values() reports afterwards; empty: same as value
	}{
		{KeyModelRatio, `{"gpt-4o": 1.25, "free": 0}`, "", `{"free":0,"gpt-4o":1.25}`},
		{KeyModelRatio, `{}`, "", ""},
		{KeyModelRatio, `{"gpt-4o": -1}`, `ModelRatio: key "gpt-4o": must not be negative`, ""},
		{KeyModelRatio, `{"gpt-4o": "1"}`, `ModelRatio: key "gpt-4o": want a number`, ""},
		{KeyModelRatio, `{"gpt-4o": NaN}`, `ModelRatio: key "gpt-4o": invalid JSON`, ""},
		{KeyModelRatio, `{"gpt-4o": 1e999}`, `ModelRatio: key "gpt-4o": 1e999 is not a finite number`, ""},
		{KeyModelRatio, `{"gpt-4o": 1`, "ModelRatio: invalid JSON", ""},
		{KeyModelRatio, `[]`, "ModelRatio: want a JSON object", ""},
		{KeyModelRatio, ``, "ModelRatio: empty value", ""},
		{KeyCompletionRatio, `{"gpt-4o": 4}`, "", `{"gpt-4o":4}`},
		{KeyCompletionRatio, `{"gpt-4o": -4}`, `CompletionRatio: key "gpt-4o"`, ""},
		{KeyCacheRatio, `{"gpt-4o": 0.5}`, "", `{"gpt-4o":0.5}`},
		{KeyCacheRatio, `{"gpt-4o": true}`, `CacheRatio: key "gpt-4o": want a number, got a boolean`, ""},
		{KeyGroupRatio, `{"default": 1, "vip": 0.8}`, "", `{"default":1,"vip":0.8}`},
		{KeyGroupRatio, `{"vip": -0.1}`, `GroupRatio: key "vip"`, ""},
		{KeyModelPrice, `{"dall-e-3": 0.04}`, "", `{"dall-e-3":0.04}`},
		{KeyModelPrice, `{"dall-e-3": null}`, `ModelPrice: key "dall-e-3": want a number, got null`, ""},
		{KeyExposeRatioEnabled, "true", "", ""},
		{KeyExposeRatioEnabled, "false", "", ""},
		{KeyExposeRatioEnabled, "1", `ExposeRatioEnabled: want "true" or "false"`, ""},
		{KeyExposeRatioEnabled, "True", `ExposeRatioEnabled: want "true" or "false"`, ""},
		{KeyExposeRatioEnabled, "", `ExposeRatioEnabled: want "true" or "false"`, ""},
		{KeyQuotaPerUnit, "1000000", "", ""},
		{KeyQuotaPerUnit, "7.5", "", ""},
		{KeyQuotaPerUnit, " 250000 ", "", "250000"},
		{KeyQuotaPerUnit, "5e5", "", "500000"},
		{KeyQuotaPerUnit, "0", "QuotaPerUnit must be a finite number greater than 0", ""},
		{KeyQuotaPerUnit, "-1", "QuotaPerUnit must be a finite number greater than 0", ""},
		{KeyQuotaPerUnit, "NaN", `QuotaPerUnit: "NaN" is not a number`, ""},
		{KeyQuotaPerUnit, "Inf", `QuotaPerUnit: "Inf" is not a number`, ""},
		{KeyQuotaPerUnit, "1e999", `QuotaPerUnit: "1e999" is out of range`, ""},
		{KeyQuotaPerUnit, "0x10", `QuotaPerUnit: "0x10" is not a number`, ""},
		{KeyQuotaPerUnit, "1_000", `QuotaPerUnit: "1_000" is not a number`, ""},
		{KeyQuotaPerUnit, "12abc", `QuotaPerUnit: "12abc" is not a number`, ""},
		{KeyQuotaPerUnit, "1.", `QuotaPerUnit: "1." is not a number`, ""},
		{KeyQuotaPerUnit, "", `QuotaPerUnit: "" is not a number`, ""},
		{KeyQuotaForNewUser, "1000", "", ""},
		{KeyQuotaForNewUser, "0", "", ""},
		{KeyQuotaForNewUser, "-1", "QuotaForNewUser must not be negative", ""},
		{KeyQuotaForNewUser, "1.5", `QuotaForNewUser: "1.5" is not an integer`, ""},
		{KeyQuotaForNewUser, "1e3", `QuotaForNewUser: "1e3" is not an integer`, ""},
		{KeyQuotaForNewUser, "99999999999999999999", `QuotaForNewUser: "99999999999999999999" is out of range`, ""},
		{KeyRetryTimes, "0", "", ""},
		{KeyRetryTimes, "10", "", ""},
		{KeyRetryTimes, "11", "RetryTimes must be between 0 and 10, got 11", ""},
		{KeyRetryTimes, "-1", "RetryTimes must be between 0 and 10, got -1", ""},
		{KeyRetryTimes, "two", `RetryTimes: "two" is not an integer`, ""},
		{KeyRetryTimes, "true", `RetryTimes: "true" is not an integer`, ""},
		{KeyAutomaticDisableChannelEnabled, "false", "", ""},
		{KeyAutomaticDisableChannelEnabled, "yes", `AutomaticDisableChannelEnabled: want "true" or "false"`, ""},
		{KeySelfUseModeEnabled, "true", "", ""},
		{KeyAllowPrivateUpstreams, "false", "", ""},
		{KeyAllowPrivateUpstreams, "true", "", ""},
		{KeyAllowPrivateUpstreams, "no", `AllowPrivateUpstreams: want "true" or "false"`, ""},
		{KeySelfUseModeEnabled, "0", `SelfUseModeEnabled: want "true" or "false"`, ""},
		{KeyPreConsumeCompletionTokens, "0", "", ""},
		{KeyPreConsumeCompletionTokens, "4096", "", ""},
		{KeyPreConsumeCompletionTokens, "-512", "PreConsumeCompletionTokens must not be negative", ""},
		{KeyPreConsumeCompletionTokens, "512.0", `PreConsumeCompletionTokens: "512.0" is not an integer`, ""},
		{KeyDisplayInCurrencyEnabled, "false", "", ""},
		{KeyDisplayInCurrencyEnabled, "null", `DisplayInCurrencyEnabled: want "true" or "false"`, ""},
		{KeyCPUMonitorEnabled, "false", "", ""},
		{KeyCPUMonitorEnabled, "off", `CPUMonitorEnabled: want "true" or "false"`, ""},
		{KeyCPUMonitorThreshold, "1", "", ""},
		{KeyCPUMonitorThreshold, "100", "", ""},
		{KeyCPUMonitorThreshold, "0", "CPUMonitorThreshold must be between 1 and 100, got 0", ""},
		{KeyCPUMonitorThreshold, "101", "CPUMonitorThreshold must be between 1 and 100, got 101", ""},
		{KeyCPUMonitorThreshold, "80%", `CPUMonitorThreshold: "80%" is not an integer`, ""},
		{KeyCPUProfileSeconds, "300", "", ""},
		{KeyCPUProfileSeconds, "0", "CPUProfileSeconds must be between 1 and 300, got 0", ""},
		{KeyCPUProfileSeconds, "301", "CPUProfileSeconds must be between 1 and 300, got 301", ""},
		{KeyCPUProfileIntervalSeconds, "1", "", ""},
		{KeyCPUProfileIntervalSeconds, "0", "CPUProfileIntervalSeconds must be between 1 and 86400, got 0", ""},
		{KeyCPUProfileDir, "/var/lib/sluice/pprof", "", ""},
		{KeyCPUProfileDir, " ./profiles ", "", "./profiles"},
		{KeyCPUProfileDir, "  ", "CPUProfileDir must not be empty", ""},
		{KeyCPUProfileKeep, "1", "", ""},
		{KeyCPUProfileKeep, "0", "CPUProfileKeep must be between 1 and 1000, got 0", ""},
		{KeyCPUMonitorSampleSeconds, "2", "", ""},
		{KeyCPUMonitorSampleSeconds, "0", "CPUMonitorSampleSeconds must be between 1 and 300, got 0", ""},
		{"NoSuchOption", "1", `unknown option "NoSuchOption"`, ""},
		{"modelratio", "{}", `unknown option "modelratio"`, ""}, // keys are case-sensitive, as stored
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			before := Values()
			verr := Validate(tt.key, tt.value)
			if fmt.Sprint(Values()) != fmt.Sprint(before) {
				t.Fatal("Validate changed a value")
			}
			err := Apply(tt.key, tt.value)
			if (verr == nil) != (err == nil) {
				t.Fatalf("Validate = %v but Apply = %v", verr, err)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Apply = %v, want an error containing %q", err, tt.wantErr)
				}
				if fmt.Sprint(Values()) != fmt.Sprint(before) {
					t.Fatal("a rejected value changed something")
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply = %v, want success", err)
			}
			want := tt.wantValue
			if want == "" {
				want = tt.value
			}
			if got := Values()[tt.key]; got != want {
				t.Fatalf("after Apply, Values()[%s] = %q, want %q", tt.key, got, want)
			}
		})
	}
}

func TestUnknownKeyIsErrUnknownOption(t *testing.T) {
	if err := Apply("Nope", "1"); !errors.Is(err, ErrUnknownOption) {
		t.Fatalf("Apply(unknown) = %v, want ErrUnknownOption", err)
	}
	if err := Validate("Nope", "1"); !errors.Is(err, ErrUnknownOption) {
		t.Fatalf("Validate(unknown) = %v, want ErrUnknownOption", err)
	}
	if err := Apply(KeyRetryTimes, "x"); errors.Is(err, ErrUnknownOption) {
		t.Fatalf("a bad value for a known key reads as an unknown key: %v", err)
	}
}

// TestAppliedValuesReachTheTypedSettings checks the registry writes where the relay reads.
func TestAppliedValuesReachTheTypedSettings(t *testing.T) {
	restoreDefaults(t)
	for k, v := range map[string]string{
		KeyModelRatio: `{"m": 3}`, KeyGroupRatio: `{"vip": 0.5}`, KeyExposeRatioEnabled: "true",
		KeyRetryTimes: "5", KeyQuotaPerUnit: "1000", KeySelfUseModeEnabled: "true",
		KeyCPUMonitorThreshold: "50", KeyCPUProfileDir: "/tmp/p", KeyAllowPrivateUpstreams: "false",
	} {
		if err := Apply(k, v); err != nil {
			t.Fatal(err)
		}
	}
	s := ratio_setting.Current()
	if r, _ := s.ModelRatioOf("m"); r != 3 || s.GroupRatioOf("vip") != 0.5 || !ratio_setting.ExposeRatioEnabled() {
		t.Errorf("ratio settings not applied: %v %v %v", r, s.GroupRatioOf("vip"), ratio_setting.ExposeRatioEnabled())
	}
	if o := operation_setting.Get(); o.RetryTimes != 5 || o.QuotaPerUnit != 1000 || !o.SelfUseModeEnabled || o.AllowPrivateUpstreams {
		t.Errorf("operation settings not applied: %+v", *o)
	}
	if c := operation_setting.CurrentCPUMonitorConfig(); c.ThresholdPercent != 50 || c.Dir != "/tmp/p" {
		t.Errorf("monitor settings not applied: %+v", c)
	}
}

func TestApplyAll(t *testing.T) {
	restoreDefaults(t)
	errs := ApplyAll(map[string]string{
		KeyRetryTimes:       "4",
		KeyQuotaPerUnit:     "0",              // bad: reported, previous value kept
		KeyModelRatio:       `{"x": "cheap"}`, // bad
		KeyGroupRatio:       `{"vip": 2}`,
		"SomeRetiredOption": "whatever", // unknown: ignored
	})
	if len(errs) != 2 {
		t.Fatalf("ApplyAll returned %d errors, want 2: %v", len(errs), errs)
	}
	// Sorted key order: ModelRatio before QuotaPerUnit.
	if !strings.HasPrefix(errs[0].Error(), "ModelRatio") || !strings.HasPrefix(errs[1].Error(), "QuotaPerUnit") {
		t.Errorf("errors = %v", errs)
	}
	v := Values()
	if v[KeyRetryTimes] != "4" || v[KeyGroupRatio] != `{"vip":2}` {
		t.Errorf("good rows not applied: RetryTimes %s GroupRatio %s", v[KeyRetryTimes], v[KeyGroupRatio])
	}
	if v[KeyQuotaPerUnit] != "500000" || v[KeyModelRatio] != Defaults()[KeyModelRatio] {
		t.Errorf("bad rows changed something: QuotaPerUnit %s", v[KeyQuotaPerUnit])
	}
}

// TestConcurrentApplyAndRead runs option writers against hot-path style readers; run with -race.
func TestConcurrentApplyAndRead(t *testing.T) {
	restoreDefaults(t)
	const n = 200
	var writers, readers sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := ratio_setting.Current()
				a, _ := s.ModelRatioOf("a")
				b, _ := s.ModelRatioOf("b")
				if a != b {
					t.Errorf("reader saw half an update: a=%v b=%v", a, b)
					return
				}
				if o := operation_setting.Get(); o.Validate() != nil {
					t.Errorf("reader saw invalid operation settings %+v", *o)
					return
				}
				_ = Values()
			}
		}()
	}
	writers.Add(3)
	go func() {
		defer writers.Done()
		for i := 1; i <= n; i++ {
			if err := Apply(KeyModelRatio, fmt.Sprintf(`{"a": %d, "b": %d}`, i, i)); err != nil {
				t.Error(err)
			}
			_ = Apply(KeyModelRatio, `{"a": 1, "b": -1}`) // rejected: must not publish a half
		}
	}()
	go func() {
		defer writers.Done()
		for i := 1; i <= n; i++ {
			if err := Apply(KeyQuotaForNewUser, fmt.Sprint(i)); err != nil {
				t.Error(err)
			}
		}
	}()
	go func() {
		defer writers.Done()
		for i := 1; i <= n; i++ {
			if err := Apply(KeyRetryTimes, fmt.Sprint(i%11)); err != nil {
				t.Error(err)
			}
			_ = Apply(KeyRetryTimes, "11")
		}
	}()
	writers.Wait()
	close(stop)
	readers.Wait()
	o := operation_setting.Get()
	if r, _ := ratio_setting.Current().ModelRatioOf("a"); r != n || o.QuotaForNewUser != n || o.RetryTimes != n%11 {
		t.Errorf("lost update: ratio a=%v QuotaForNewUser=%d RetryTimes=%d", r, o.QuotaForNewUser, o.RetryTimes)
	}
}
