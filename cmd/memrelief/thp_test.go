package main

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The daemon's process ends up with THP disabled, as the kernel reports it.
func TestDisableHugePages(t *testing.T) {
	before, err := unix.PrctlRetInt(unix.PR_GET_THP_DISABLE, 0, 0, 0, 0)
	if err != nil {
		t.Skipf("SKIP: this kernel has no PR_GET_THP_DISABLE: %v", err)
	}
	if before == 0 {
		// Restore for the rest of the test binary.
		defer unix.Prctl(unix.PR_SET_THP_DISABLE, 0, 0, 0, 0)
	}
	if err := disableHugePages(); err != nil {
		t.Fatal(err)
	}
	after, err := unix.PrctlRetInt(unix.PR_GET_THP_DISABLE, 0, 0, 0, 0)
	if err != nil || after != 1 {
		t.Fatalf("PR_GET_THP_DISABLE after disableHugePages: %d, %v; want 1", after, err)
	}
}
