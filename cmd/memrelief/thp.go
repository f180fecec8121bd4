package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// disableHugePages turns transparent huge pages off for the daemon
// (prctl PR_SET_THP_DISABLE, inherited by nothing it does not start).
// Under THP "always", the default of many distribution kernels, the Go
// heap's arenas fault in 2 MiB pages: in the Debian 12 guest the daemon,
// with a live heap of 2.5 MiB, held 10 MiB of them (AnonHugePages), half
// of its RSS. The runtime's own switch (GODEBUG=disablethp) is marked for
// removal. run calls it first thing, before the heap grows; a kernel that
// refuses it (before 3.15) costs memory, nothing else, so the error is
// logged at debug level.
func disableHugePages() error {
	if err := unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("transparent huge pages stay on for memrelief's heap: prctl(PR_SET_THP_DISABLE): %w", err)
	}
	return nil
}
