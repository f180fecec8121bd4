package main

import "runtime/debug"

// daemonGCPercent is the collector's target for the daemon when GOGC is
// not set. At GOGC=100 the Go heap is allowed to reach 4 MB before its
// first collection and twice the live heap after; the daemon's live heap
// is 1.5 MB at 300 watched cgroups with history, so most of what the heap
// held in the guest was garbage waiting for that goal. At rest the daemon
// allocates a few KB a tick, so collections come from the runtime's
// 2-minute forced GC either way, and halving the target costs little CPU
// (BENCHMARKS.md, issue 15).
const daemonGCPercent = 50

// tuneGC sets daemonGCPercent unless the operator set GOGC, whose value
// the runtime has already applied. It returns the percent in force.
func tuneGC(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(daemonGCPercent)
	return daemonGCPercent
}
