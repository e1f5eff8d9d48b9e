package operation_setting

import (
	"math"
	"strings"
	"sync"
	"testing"
)

func restore(t *testing.T) {
	t.Cleanup(func() {
		if err := Set(Default()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDefaultIsValid(t *testing.T) {
	d := Default()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if *Get() != d {
		t.Fatalf("Get() = %+v before any change, want the defaults %+v", *Get(), d)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		change  func(*Operation)
		wantErr string // empty: valid
	}{
		{"defaults", func(*Operation) {}, ""},
		{"tiny unit", func(o *Operation) { o.QuotaPerUnit = 0.001 }, ""},
		{"zero unit", func(o *Operation) { o.QuotaPerUnit = 0 }, "QuotaPerUnit"},
		{"negative unit", func(o *Operation) { o.QuotaPerUnit = -1 }, "QuotaPerUnit"},
		{"NaN unit", func(o *Operation) { o.QuotaPerUnit = math.NaN() }, "QuotaPerUnit"},
		{"infinite unit", func(o *Operation) { o.QuotaPerUnit = math.Inf(1) }, "QuotaPerUnit"},
		{"negative new-user quota", func(o *Operation) { o.QuotaForNewUser = -1 }, "QuotaForNewUser"},
		{"no retries", func(o *Operation) { o.RetryTimes = 0 }, ""},
		{"max retries", func(o *Operation) { o.RetryTimes = MaxRetryTimes }, ""},
		{"too many retries", func(o *Operation) { o.RetryTimes = MaxRetryTimes + 1 }, "RetryTimes"},
		{"negative retries", func(o *Operation) { o.RetryTimes = -1 }, "RetryTimes"},
		{"no allowance", func(o *Operation) { o.PreConsumeCompletionTokens = 0 }, ""},
		{"negative allowance", func(o *Operation) { o.PreConsumeCompletionTokens = -1 }, "PreConsumeCompletionTokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := Default()
			tt.change(&o)
			err := o.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestUpdateRejectsWithoutChange(t *testing.T) {
	restore(t)
	before := Get()
	if err := Update(func(o *Operation) { o.RetryTimes = 99 }); err == nil {
		t.Fatal("Update accepted RetryTimes 99")
	}
	if Get() != before {
		t.Fatal("a rejected Update published a new value")
	}
	if err := Set(Operation{}); err == nil {
		t.Fatal("Set accepted a zero QuotaPerUnit")
	}
	if Get() != before {
		t.Fatal("a rejected Set published a new value")
	}
}

// TestConcurrentUpdates checks (under -race) that writers of different fields do not lose each other's changes
// and that readers see whole values.
func TestConcurrentUpdates(t *testing.T) {
	restore(t)
	const n = 200
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := 1; i <= n; i++ {
			if err := Update(func(o *Operation) { o.QuotaForNewUser = int64(i) }); err != nil {
				t.Error(err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 1; i <= n; i++ {
			if err := Update(func(o *Operation) { o.PreConsumeCompletionTokens = i }); err != nil {
				t.Error(err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range 10 * n {
			if o := Get(); o.Validate() != nil {
				t.Errorf("reader saw an invalid value %+v", *o)
				return
			}
		}
	}()
	wg.Wait()
	if o := Get(); o.QuotaForNewUser != n || o.PreConsumeCompletionTokens != n {
		t.Errorf("lost update: %+v", *o)
	}
}
