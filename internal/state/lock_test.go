package state

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLockOneHolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "memrelief")
	l, err := TakeLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, LockName))
	if !strings.HasPrefix(string(data), "pid "+strconv.Itoa(os.Getpid())+" ") {
		t.Errorf("lock file %q: want the holder's PID", data)
	}
	// flock is per open file: a second open in this process is refused as
	// a second process would be.
	_, err = TakeLock(dir)
	if !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second TakeLock: %v; want ErrHeld naming the holder", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := TakeLock(dir)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Release()
}

// TestLockDiesWithItsHolder: a holder that is killed leaves no stale lock.
func TestLockDiesWithItsHolder(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("SKIP: flock(1) not installed (util-linux); the crash case did NOT run")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, LockName)
	// --close: the lock is flock(1)'s alone, not its sleep's.
	cmd := exec.Command("flock", "--exclusive", "--close", path, "sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	kill := func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for { // until flock(1) has it
		l, err := TakeLock(dir)
		if errors.Is(err, ErrHeld) {
			break
		}
		l.Release()
		if time.Now().After(deadline) {
			kill()
			t.Fatalf("flock(1) does not hold the lock after 5 s: TakeLock says %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	kill()
	// The lock goes with the last descriptor: flock(1)'s child may still
	// be dying with its copy (it closes it only once it runs), so allow
	// the kernel a moment, not forever.
	deadline = time.Now().Add(5 * time.Second)
	for {
		l, err := TakeLock(dir)
		if err == nil {
			l.Release()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after the holder was killed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
