package main

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestStartLoadProcGivesTheChildTheShortSlice checks what the kernel
// reports: the child runs with loadSlice, the thread that forked it is back
// to the default.
func TestStartLoadProcGivesTheChildTheShortSlice(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, ok := sliceOf(t, "/proc/thread-self/sched")
	if !ok {
		t.Skip("the kernel does not report se.slice (no EEVDF)")
	}
	child := exec.Command("sleep", "30")
	if err := startLoadProc(child); err != nil {
		t.Skip("no sleep:", err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	if strings.Contains(loadSliceNote.text, "refused") {
		t.Skip("the kernel refuses a custom slice:", loadSliceNote.text)
	}
	if got, _ := sliceOf(t, "/proc/"+strconv.Itoa(child.Process.Pid)+"/sched"); got != int64(loadSlice) {
		t.Errorf("child's slice = %d ns, want %d", got, loadSlice)
	}
	if got, _ := sliceOf(t, "/proc/thread-self/sched"); got != before {
		t.Errorf("forking thread's slice = %d ns after the start, want %d as before", got, before)
	}
	if !strings.Contains(loadSliceNote.text, "ask for a 100µs scheduler slice") {
		t.Errorf("report note = %q", loadSliceNote.text)
	}
}

// sliceOf reads se.slice (ns) from a /proc/…/sched file.
func sliceOf(t *testing.T, path string) (int64, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "se.slice" {
			n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
			if err != nil {
				t.Fatalf("%s: se.slice %q", path, value)
			}
			return n, true
		}
	}
	return 0, false
}
