package psi

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Kind selects which stall a trigger watches: some tasks stalled, or all.
type Kind string

// The two kinds of stall the kernel reports.
const (
	Some Kind = "some"
	Full Kind = "full"
)

// Window limits the kernel enforces on triggers (psi.rst). Kernels from 6.4
// allow longer windows for privileged users, but 10 s works everywhere.
const (
	MinWindow = 500 * time.Millisecond
	MaxWindow = 10 * time.Second
)

// Trigger is a registered kernel PSI trigger: the kernel signals POLLPRI on
// its file descriptor when stall time within the window exceeds the
// threshold, at most once per window.
type Trigger struct {
	Path string
	fd   int
}

// TriggerSpec is the text the kernel expects, e.g. "some 150000 1000000".
func TriggerSpec(kind Kind, stall, window time.Duration) (string, error) {
	if kind != Some && kind != Full {
		return "", fmt.Errorf("trigger kind %q: want some or full", kind)
	}
	if window < MinWindow || window > MaxWindow {
		return "", fmt.Errorf("trigger window %v: must be between %v and %v", window, MinWindow, MaxWindow)
	}
	if stall <= 0 || stall > window {
		return "", fmt.Errorf("trigger stall %v: must be above 0 and at most the window %v", stall, window)
	}
	return fmt.Sprintf("%s %d %d", kind, stall.Microseconds(), window.Microseconds()), nil
}

// OpenTrigger registers a trigger on a pressure file (/proc/pressure/memory or
// a cgroup's memory.pressure). Errors: the file is missing (fs.ErrNotExist),
// the caller lacks CAP_SYS_RESOURCE on kernels before 6.4 (EACCES/EPERM), or
// the kernel rejects the spec (EINVAL). The trigger lives until Close.
func OpenTrigger(path string, kind Kind, stall, window time.Duration) (*Trigger, error) {
	spec, err := TriggerSpec(kind, stall, window)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s for a PSI trigger: %w", path, err)
	}
	// The kernel replaces the last byte written with NUL before parsing, so
	// the terminator must be part of the write or the spec loses a digit.
	if _, err := unix.Write(fd, []byte(spec+"\x00")); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("register PSI trigger %q on %s: %w", spec, path, err)
	}
	return &Trigger{Path: path, fd: fd}, nil
}

// AdoptTrigger wraps fd, a descriptor already registered as a trigger on
// path (or, in tests, any descriptor epoll accepts), as a Trigger: Close
// closes it.
func AdoptTrigger(path string, fd int) *Trigger { return &Trigger{Path: path, fd: fd} }

// Close unregisters the trigger.
func (t *Trigger) Close() error {
	if t.fd < 0 {
		return nil
	}
	err := unix.Close(t.fd)
	t.fd = -1
	return err
}

// UnprivilegedWindowStep is the granularity kernels from 6.4 impose on the
// window of a trigger opened without CAP_SYS_RESOURCE; others get EINVAL.
// Seen on a 6.18 host whose root lacked CAP_SYS_RESOURCE: "some 500000
// 1000000" was refused, "some 500000 2000000" accepted.
const UnprivilegedWindowStep = 2 * time.Second

// Probe registers and removes a trigger, to learn whether this process may
// use triggers on path at all. Its window is a multiple of
// UnprivilegedWindowStep so that it answers the same with or without
// CAP_SYS_RESOURCE.
func Probe(path string) error {
	t, err := OpenTrigger(path, Some, 150*time.Millisecond, UnprivilegedWindowStep)
	if err != nil {
		return err
	}
	return t.Close()
}

// Event says what happened to one trigger during a Poller's Wait.
type Event struct {
	Trigger *Trigger
	Fired   bool // the stall threshold was crossed
	Gone    bool // the pressure file's source was removed (cgroup deleted); close the trigger
}
