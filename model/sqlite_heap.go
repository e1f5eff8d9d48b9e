package model

import (
	"sync"

	"modernc.org/libc"
	"modernc.org/libc/sys/types"
)

// keepSQLiteHeapMapped stops the pure-Go SQLite's C heap from handing its
// memory back to the kernel after every statement.
//
// That heap (modernc.org/memory under modernc.org/libc) serves each size
// class, 16 bytes to 256 KiB in powers of two, from 1 MiB mappings and
// unmaps a mapping as soon as its last block is freed. A statement's
// compiled program and a B-tree rebalance's scratch space are often the
// only blocks of their class, so every INSERT of a flush mapped, faulted in
// and unmapped megabytes: 13 mmap and 38 munmap calls per 200 logs, and
// more than half of BenchmarkInsertLogsSQLite's CPU time. One block held
// for good in each class keeps that class's first mapping alive; blocks
// freed in it are reused. The cost is the memory SQLite has used at its
// peak staying resident (a few MB at most) and 15 blocks never freed.
func keepSQLiteHeapMapped() {
	keepSQLiteHeapOnce.Do(func() {
		tls := libc.NewTLS()
		defer tls.Close()
		for class := 4; class <= 18; class++ {
			// A block of exactly 1<<class bytes lands in that class; it is
			// never written, so only the mapping's header page is resident.
			libc.Xmalloc(tls, types.Size_t(1)<<class)
		}
	})
}

var keepSQLiteHeapOnce sync.Once
