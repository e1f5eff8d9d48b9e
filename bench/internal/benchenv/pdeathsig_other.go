//go:build !linux

package benchenv

import "os/exec"

// DieWithParent does nothing where the kernel has no parent-death signal:
// a killed run leaves its children to be stopped by hand.
func DieWithParent(cmd *exec.Cmd) {}
