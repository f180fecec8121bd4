package main

import (
	"runtime/debug"
	"testing"
)

// TestTuneGC: without GOGC the daemon runs at daemonGCPercent; an
// operator's GOGC (already applied by the runtime) is left as it is.
func TestTuneGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	if got := tuneGC(func(string) string { return "" }); got != daemonGCPercent {
		t.Errorf("tuneGC without GOGC = %d, want %d", got, daemonGCPercent)
	}
	if p := debug.SetGCPercent(200); p != daemonGCPercent {
		t.Errorf("GC percent %d after tuneGC without GOGC, want %d", p, daemonGCPercent)
	}
	env := func(k string) string {
		if k == "GOGC" {
			return "200"
		}
		return ""
	}
	if got := tuneGC(env); got != 200 {
		t.Errorf("tuneGC with GOGC=200 = %d, want 200", got)
	}
	if p := debug.SetGCPercent(100); p != 200 {
		t.Errorf("GC percent %d after tuneGC with GOGC=200, want the operator's 200", p)
	}
}
