package model

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"modernc.org/libc"
	"modernc.org/libc/sys/types"
)

// mapped reports whether /proc/self/maps has a mapping covering addr.
func mapped(t *testing.T, addr uintptr) bool {
	t.Helper()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var lo, hi uintptr
		if _, err := fmt.Sscanf(sc.Text(), "%x-%x", &lo, &hi); err == nil && lo <= addr && addr < hi {
			return true
		}
	}
	return false
}

// After keepSQLiteHeapMapped, freeing the only block SQLite holds in a size
// class leaves that class's mapping in place for the next statement. The
// check runs in a child process: there the heap is as fresh as at sluice's
// start-up, whereas here other tests' databases hold blocks in every class
// (and, running in parallel, may spread a class over several mappings, of
// which only the first is kept).
func TestSQLiteHeapStaysMappedAfterFree(t *testing.T) {
	if os.Getenv("SLUICE_TEST_HEAP_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestSQLiteHeapStaysMappedAfterFree$", "-test.count", "1")
		cmd.Env = append(os.Environ(), "SLUICE_TEST_HEAP_CHILD=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	keepSQLiteHeapMapped()
	tls := libc.NewTLS()
	defer tls.Close()
	for class := 4; class <= 18; class++ {
		p := libc.Xmalloc(tls, types.Size_t(1)<<class)
		if p == 0 {
			t.Fatalf("malloc(1<<%d) failed", class)
		}
		libc.Xfree(tls, p)
		if !mapped(t, p) {
			t.Errorf("size class 1<<%d: its mapping was returned to the kernel after a free", class)
		}
	}
}
