//go:build !race

package sse

// raceEnabled lets allocation tests skip under -race, where sync.Pool drops
// items at random on purpose and allocation counts mean nothing.
const raceEnabled = false
