//go:build !unix

package cputime

import "time"

// process reports no CPU time where getrusage is missing.
func process() (time.Duration, bool) { return 0, false }
