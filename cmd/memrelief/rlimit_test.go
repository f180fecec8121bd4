package main

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/memrelief/memrelief/internal/report"
)

func TestRaiseOpenFilesLimit(t *testing.T) {
	boom := errors.New("EPERM")
	for _, tc := range []struct {
		name         string
		cur, max     uint64
		getErr       error
		setErr       error
		wantSet      uint64 // 0: setrlimit must not be called
		wantPrio     report.Priority
		wantContains string
	}{
		{"below the hard limit", 1024, 524288, nil, nil, 524288, report.Debug, "raised from 1024 to the hard limit 524288"},
		{"raised by the Go runtime", 524287, 524288, nil, nil, 0, report.Debug, "open files limit 524287, hard limit 524288"},
		{"at the hard limit", 4096, 4096, nil, nil, 0, report.Debug, "open files limit 4096, hard limit 4096"},
		{"setrlimit fails", 1024, 4096, nil, boom, 4096, report.Warning, "stays 1024, below the hard limit 4096: setrlimit: EPERM"},
		{"getrlimit fails", 0, 0, boom, nil, 0, report.Warning, "getrlimit: EPERM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var set uint64
			get := func(l *syscall.Rlimit) error { l.Cur, l.Max = tc.cur, tc.max; return tc.getErr }
			setf := func(l *syscall.Rlimit) error { set = l.Cur; return tc.setErr }
			var rec report.Recorder
			raiseOpenFilesLimit(&rec, get, setf)
			evs := rec.Events()
			if set != tc.wantSet {
				t.Errorf("setrlimit to %d, want %d (0: not called)", set, tc.wantSet)
			}
			if len(evs) != 1 || evs[0].Priority != tc.wantPrio || !strings.Contains(evs[0].Message, tc.wantContains) {
				t.Errorf("events %+v; want one at priority %d saying %q", evs, tc.wantPrio, tc.wantContains)
			}
		})
	}
}
