//go:build linux

package benchenv

import (
	"os/exec"
	"syscall"
)

// DieWithParent has cmd's process killed when the process that started it
// dies: should a run be killed, the gateways and mocks it started go too.
func DieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
