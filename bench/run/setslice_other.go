//go:build !linux

package main

import (
	"errors"
	"time"
)

// setSlice is refused where the thread's slice is not Linux's to set; the
// report then says the load ran with the default.
func setSlice(time.Duration) error { return errors.ErrUnsupported }
