package main

import (
	"runtime"
	"testing"
)

// TestTuneProcs: without GOMAXPROCS the daemon runs on daemonProcs; an
// operator's GOMAXPROCS (already applied by the runtime) is left as it is.
func TestTuneProcs(t *testing.T) {
	old := runtime.GOMAXPROCS(3)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
	if got := tuneProcs(func(string) string { return "" }); got != daemonProcs {
		t.Errorf("tuneProcs without GOMAXPROCS = %d, want %d", got, daemonProcs)
	}
	if p := runtime.GOMAXPROCS(3); p != daemonProcs {
		t.Errorf("GOMAXPROCS %d after tuneProcs without GOMAXPROCS, want %d", p, daemonProcs)
	}
	env := func(k string) string {
		if k == "GOMAXPROCS" {
			return "3"
		}
		return ""
	}
	if got := tuneProcs(env); got != 3 {
		t.Errorf("tuneProcs with GOMAXPROCS=3 = %d, want 3", got)
	}
	if p := runtime.GOMAXPROCS(0); p != 3 {
		t.Errorf("GOMAXPROCS %d after tuneProcs with GOMAXPROCS=3, want the operator's 3", p)
	}
}
