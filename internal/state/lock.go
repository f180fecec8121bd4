package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockName is the instance lock's file in memrelief's run directory.
const LockName = "memrelief.lock"

// Lock is the instance lock: one memrelief acts on a host. It is a flock
// held for the life of the process, so a crash releases it and no stale
// lock outlives its owner; two instances in different PID namespaces (the
// package's service and a DaemonSet with /run/memrelief from the host)
// see the same lock through the same file.
type Lock struct {
	f *os.File
}

// ErrHeld is returned by TakeLock when another process holds the lock.
var ErrHeld = errors.New("held by another process")

// TakeLock takes the lock in dir, creating both. When another process
// holds it, the error wraps ErrHeld and names what the holder wrote (its
// PID as it sees it, and its command line).
func TakeLock(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("instance lock: %w", err)
	}
	path := filepath.Join(dir, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, fmt.Errorf("instance lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		buf := make([]byte, 256) // the holder wrote one short line
		n, _ := f.ReadAt(buf, 0)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := strings.TrimSpace(string(buf[:n]))
			if holder == "" {
				holder = "unknown process"
			}
			return nil, fmt.Errorf("instance lock %s: %w (%s)", path, ErrHeld, holder)
		}
		return nil, fmt.Errorf("instance lock %s: %w", path, err)
	}
	exe, _ := os.Executable()
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte("pid "+strconv.Itoa(os.Getpid())+" "+exe+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release lets another instance take the lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
