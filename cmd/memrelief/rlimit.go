package main

import (
	"fmt"
	"syscall"
	"time"

	"github.com/memrelief/memrelief/internal/report"
)

// raiseOpenFilesLimit raises the soft RLIMIT_NOFILE to the hard limit, as
// systemd's own daemons do: the daemon holds a PSI trigger and files of
// every watched cgroup. The Go runtime (1.19 and later) already raises it
// at start, to one below the hard limit (so that it notices a change by
// prlimit), and gives the processes it starts (exec hooks) the old soft
// limit back; a Setrlimit of RLIMIT_NOFILE would make it forget that, so
// it is called only when the runtime could not raise the limit. The figure
// goes to the log at debug level; a failure is a warning, not fatal. get
// and set are getrlimit(2) and setrlimit(2) of RLIMIT_NOFILE (see
// nofile), or fakes in tests.
func raiseOpenFilesLimit(sink report.Sink, get, set func(*syscall.Rlimit) error) {
	emit := func(prio report.Priority, kind report.Kind, format string, a ...any) {
		sink.Emit(report.Event{Time: time.Now(), Kind: kind, Priority: prio, Message: fmt.Sprintf(format, a...)})
	}
	var lim syscall.Rlimit
	if err := get(&lim); err != nil {
		emit(report.Warning, report.Problem, "open files limit unknown: getrlimit: %v", err)
		return
	}
	if lim.Cur+1 >= lim.Max {
		emit(report.Debug, "", "open files limit %d, hard limit %d", lim.Cur, lim.Max)
		return
	}
	was := lim.Cur
	lim.Cur = lim.Max
	if err := set(&lim); err != nil {
		emit(report.Warning, report.Problem, "open files limit stays %d, below the hard limit %d: setrlimit: %v", was, lim.Max, err)
		return
	}
	emit(report.Debug, "", "open files limit raised from %d to the hard limit %d", was, lim.Max)
}

// nofile returns getrlimit(2) and setrlimit(2) of RLIMIT_NOFILE.
func nofile() (get, set func(*syscall.Rlimit) error) {
	return func(l *syscall.Rlimit) error { return syscall.Getrlimit(syscall.RLIMIT_NOFILE, l) },
		func(l *syscall.Rlimit) error { return syscall.Setrlimit(syscall.RLIMIT_NOFILE, l) }
}
