package psi

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTriggerSpec(t *testing.T) {
	tests := []struct {
		kind          Kind
		stall, window time.Duration
		want, wantErr string
	}{
		{Some, 150 * time.Millisecond, time.Second, "some 150000 1000000", ""},
		{Full, 500 * time.Millisecond, 10 * time.Second, "full 500000 10000000", ""},
		{"most", time.Millisecond, time.Second, "", `kind "most"`},
		{Some, time.Millisecond, 100 * time.Millisecond, "", "window 100ms"},
		{Some, time.Millisecond, 11 * time.Second, "", "window 11s"},
		{Some, 2 * time.Second, time.Second, "", "stall 2s"},
		{Some, 0, time.Second, "", "stall 0s"},
	}
	for _, tt := range tests {
		got, err := TriggerSpec(tt.kind, tt.stall, tt.window)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("TriggerSpec(%v,%v,%v) error = %v, want %q", tt.kind, tt.stall, tt.window, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("TriggerSpec(%v,%v,%v) = %q, %v; want %q", tt.kind, tt.stall, tt.window, got, err, tt.want)
		}
	}
}

func TestOpenTriggerMissingFile(t *testing.T) {
	_, err := OpenTrigger(filepath.Join(t.TempDir(), "memory.pressure"), Some, 150*time.Millisecond, time.Second)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OpenTrigger on a missing file: error = %v, want ErrNotExist", err)
	}
}

// The real kernel interface: registers a trigger on the node's memory
// pressure, checks it is accepted, and that Wait times out cleanly when
// nothing stalls and returns promptly on cancellation.
func TestTriggerOnHostKernel(t *testing.T) {
	const path = "/proc/pressure/memory"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("SKIP: this kernel has no %s (PSI disabled or kernel < 4.20): %v", path, err)
	}
	tr, err := OpenTrigger(path, Some, 500*time.Millisecond, UnprivilegedWindowStep)
	if err != nil {
		if os.Geteuid() != 0 {
			t.Skipf("SKIP: triggers need CAP_SYS_RESOURCE before kernel 6.4 and this test is not root: %v", err)
		}
		t.Fatalf("OpenTrigger: %v", err)
	}
	defer tr.Close()
	// A second trigger on the same fd is EBUSY; on a new fd it is fine.
	if err := Probe(path); err != nil {
		t.Fatalf("Probe with a trigger already registered elsewhere: %v", err)
	}
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Add(tr); err != nil {
		t.Fatalf("Add: %v", err)
	}
	// Nothing stalls: only a Wake ends the wait, promptly, with no event.
	time.AfterFunc(200*time.Millisecond, p.Wake)
	start := time.Now()
	evs, err := p.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("Wait returned after %v, before the Wake", d)
	}
	for _, e := range evs {
		if e.Gone {
			t.Fatalf("trigger on %s reported gone", path)
		}
	}
	p.Remove(tr)
	if p.Len() != 0 {
		t.Fatalf("%d triggers after Remove", p.Len())
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// A trigger whose cgroup is removed is reported gone, so the watcher
// closes it: on a real cgroup v2 directory made for the test.
func TestPollerReportsRemovedCgroup(t *testing.T) {
	parent := "/sys/fs/cgroup"
	if _, err := os.Stat(filepath.Join(parent, "cgroup.controllers")); err != nil {
		parent = "/sys/fs/cgroup/unified" // hybrid hosts
	}
	dir := filepath.Join(parent, fmt.Sprintf("memrelief-psi-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("SKIP: cannot make a cgroup v2 directory to remove (needs root and a writable cgroup2 mount): %v", err)
	}
	defer os.Remove(dir)
	tr, err := OpenTrigger(filepath.Join(dir, "memory.pressure"), Some, 500*time.Millisecond, UnprivilegedWindowStep)
	if err != nil {
		t.Skipf("SKIP: no PSI trigger on a cgroup's memory.pressure here: %v", err)
	}
	defer tr.Close()
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Add(tr); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(5*time.Second, p.Wake)
	defer timer.Stop()
	evs, err := p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Trigger != tr || !evs[0].Gone {
		t.Fatalf("events after rmdir: %+v, want the trigger gone", evs)
	}
}
