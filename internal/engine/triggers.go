package engine

import (
	"context"
	"sync"
	"time"

	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/psi"
)

// triggerWatcher owns the kernel PSI triggers: it opens and closes them as
// the set of watched cgroups changes and wakes the main loop when one
// fires. One goroutine owns the file descriptors, so none is closed while
// poll(2) still waits on it.
type triggerWatcher struct {
	wake chan<- wakeup

	mu     sync.Mutex
	want   map[string]policy.PSITrigger // guarded by mu: the set to have
	failed map[string]error             // guarded by mu: paths that refused a trigger
}

// wakeup is one kernel trigger event: the pressure file, and when poll
// returned with it.
type wakeup struct {
	path string
	at   time.Time
}

func newTriggerWatcher(wake chan<- wakeup) *triggerWatcher {
	return &triggerWatcher{wake: wake, failed: map[string]error{}}
}

// set replaces the wanted set; the watcher catches up within a poll slice.
func (t *triggerWatcher) set(want map[string]policy.PSITrigger) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.want = want
}

// Failed returns paths whose trigger the kernel refused (they are polled).
func (t *triggerWatcher) Failed() map[string]error {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]error, len(t.failed))
	for k, v := range t.failed {
		out[k] = v
	}
	return out
}

func (t *triggerWatcher) run(ctx context.Context) {
	open := map[string]*psi.Trigger{}
	defer func() {
		for _, tr := range open {
			tr.Close()
		}
	}()
	var list []*psi.Trigger
	for ctx.Err() == nil {
		t.mu.Lock()
		want := t.want
		for path, tr := range open {
			if _, ok := want[path]; !ok {
				tr.Close()
				delete(open, path)
			}
		}
		for path := range t.failed {
			if _, ok := want[path]; !ok {
				delete(t.failed, path) // the cgroup left; so does its failure
			}
		}
		for path, spec := range want {
			if _, ok := open[path]; ok || t.failed[path] != nil {
				continue
			}
			tr, err := psi.OpenTrigger(path, psi.Kind(spec.Kind), spec.Stall.Std(), spec.Window.Std())
			if err != nil {
				t.failed[path] = err
				continue
			}
			open[path] = tr
		}
		t.mu.Unlock()
		list = list[:0]
		for _, tr := range open {
			list = append(list, tr)
		}
		if len(list) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		evs, err := psi.Wait(ctx, list, time.Second)
		if err != nil {
			continue
		}
		for _, ev := range evs {
			if ev.Gone {
				ev.Trigger.Close()
				delete(open, ev.Trigger.Path)
				continue
			}
			if ev.Fired {
				select {
				case t.wake <- wakeup{ev.Trigger.Path, time.Now()}:
				default:
				}
			}
		}
	}
}
