package cgroupfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// ErrNoReclaim means the host has no memory.reclaim for the cgroup: a v1
// memory controller, or a v2 kernel older than 5.19.
var ErrNoReclaim = errors.New("no memory.reclaim")

// ReclaimRequest is the text written to memory.reclaim: a byte count and,
// when swappiness is not nil, the swappiness= argument of newer kernels.
func ReclaimRequest(bytes uint64, swappiness *int) string {
	s := strconv.FormatUint(bytes, 10)
	if swappiness != nil {
		s += " swappiness=" + strconv.Itoa(*swappiness)
	}
	return s
}

// Reclaim asks the kernel to reclaim bytes from cgroup cg by writing
// memory.reclaim. The write blocks while the kernel reclaims. The kernel's
// errors come back unwrapped enough for errors.Is: EAGAIN when it reclaimed
// less than asked (normal for slab, whose freeing is not counted), EINVAL
// for an argument it does not know (swappiness= before ~6.9), EBUSY, and
// ErrGone when the cgroup vanished.
//
// When ctx ends first the write is interrupted: the kernel's reclaim loop
// returns EINTR between rounds once a signal is pending, and Reclaim
// returns ctx's error. Seen in the guest: with slab not counted as
// reclaimed and a workload still allocating, a 32M request freed 79M of
// slab and then kept the write (and the cgroup) busy for minutes.
func (r *Reader) Reclaim(ctx context.Context, cg string, bytes uint64, swappiness *int) error {
	if r.L.Mode != Unified {
		return fmt.Errorf("%w: cgroup %s hierarchy", ErrNoReclaim, r.L.Mode)
	}
	dir, err := Dir(r.L.MemoryDir, cg)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "memory.reclaim")
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		if _, serr := os.Stat(dir); serr == nil && errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s is missing (kernel older than 5.19)", ErrNoReclaim, path)
		}
		return gone(fmt.Errorf("open %s: %w", path, err))
	}
	defer f.Close()
	req := ReclaimRequest(bytes, swappiness)
	if err := interruptibleWrite(ctx, f, []byte(req)); err != nil {
		if errors.Is(err, syscall.EINTR) && ctx.Err() != nil {
			return fmt.Errorf("write %q to %s: interrupted: %w", req, path, ctx.Err())
		}
		return gone(fmt.Errorf("write %q to %s: %w", req, path, err))
	}
	return nil
}

// interruptibleWrite writes p to f once, with the raw system call (os.File
// retries EINTR), on a thread it can signal: when ctx ends, SIGURG (which
// the Go runtime takes as a harmless preemption request) is sent to that
// thread until the write returns.
func interruptibleWrite(ctx context.Context, f *os.File, p []byte) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid, tid := syscall.Getpid(), syscall.Gettid()
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		for {
			_ = syscall.Tgkill(pid, tid, syscall.SIGURG)
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	var werr error
	cerr := rc.Write(func(fd uintptr) bool {
		_, werr = syscall.Write(int(fd), p)
		return true
	})
	// The signaller must be done before the thread is unlocked and may run
	// another goroutine.
	close(done)
	<-stopped
	if cerr != nil {
		return cerr
	}
	return werr
}
