package main

import "runtime"

// daemonProcs is GOMAXPROCS for the daemon when the environment does not
// set GOMAXPROCS. The daemon's work is one loop; with a P per CPU, each
// wake-up of the loop also woke idle threads to look for work, which is
// much of what the daemon costs at rest, above all in a guest whose CPUs
// are emulated. In the TCG guest beside systemd-oomd (BENCHMARKS.md, issue
// 15) one P took idle CPU from 560-690 to 450-610 ms a minute and RSS
// from 14.3-14.6 to 13.5-13.8 MiB (fewer threads), and raised the cost
// per watched cgroup from 0.14-0.17x systemd-oomd's to 0.18-0.19x: a read
// that outlasts the scheduler's check hands the only P to another thread.
// Work that blocks (memory.reclaim writes, hooks, D-Bus, scrapes) still
// runs side by side, each in its system call.
const daemonProcs = 1

// tuneProcs sets daemonProcs unless the operator set GOMAXPROCS, which
// the runtime has already applied. It returns the value in force.
func tuneProcs(getenv func(string) string) int {
	if getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0)
	}
	runtime.GOMAXPROCS(daemonProcs)
	return daemonProcs
}
