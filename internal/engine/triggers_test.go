package engine

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/policy"
)

// The watcher sleeps in epoll_wait: a new set must wake it (here, a
// pressure file that cannot take a trigger is then reported refused), and
// so must the end of its context.
func TestTriggerWatcherWakesOnSetAndStop(t *testing.T) {
	w := newTriggerWatcher(make(chan wakeup, 1))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.run(ctx); close(done) }()
	time.Sleep(100 * time.Millisecond) // let it start waiting on nothing
	missing := filepath.Join(t.TempDir(), "memory.pressure")
	spec := policy.PSITrigger{Kind: "some", Stall: policy.Duration(100 * time.Millisecond), Window: policy.Duration(time.Second)}
	w.set(map[string]policy.PSITrigger{missing: spec})
	deadline := time.Now().Add(5 * time.Second)
	for w.Failed()[missing] == nil {
		if time.Now().After(deadline) {
			t.Fatal("a new set did not wake the watcher: the missing file is not reported within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher did not stop within 5 s of its context's end")
	}
}
