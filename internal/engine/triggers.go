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
// the poller still waits on it; it sleeps in epoll_wait until a trigger
// fires, the set changes or ctx ends, and costs nothing in between.
type triggerWatcher struct {
	wake chan<- wakeup

	mu     sync.Mutex
	want   map[string]policy.PSITrigger // guarded by mu: the set to have
	failed map[string]error             // guarded by mu: paths that refused a trigger
	poller *psi.Poller                  // guarded by mu: nil until run starts, and after
	// broken is why the watcher cannot wait at all (guarded by mu): every
	// wanted trigger counts as refused, and its cgroup is polled.
	broken error
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

// set replaces the wanted set; the watcher catches up at once.
func (t *triggerWatcher) set(want map[string]policy.PSITrigger) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.want = want
	if t.poller != nil {
		t.poller.Wake()
	}
}

// Failed returns paths whose trigger the kernel refused (they are polled).
func (t *triggerWatcher) Failed() map[string]error {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]error, len(t.failed))
	for k, v := range t.failed {
		out[k] = v
	}
	if t.broken != nil {
		for k := range t.want {
			out[k] = t.broken
		}
	}
	return out
}

func (t *triggerWatcher) run(ctx context.Context) {
	p, err := psi.NewPoller()
	if err != nil {
		t.refuseAll(err)
		return
	}
	t.mu.Lock()
	t.poller = p
	t.mu.Unlock()
	stop := context.AfterFunc(ctx, p.Wake)
	open := map[string]*psi.Trigger{}
	defer func() {
		stop()
		t.mu.Lock()
		t.poller = nil
		t.mu.Unlock()
		for _, tr := range open {
			p.Remove(tr)
			tr.Close()
		}
		p.Close()
	}()
	for ctx.Err() == nil {
		t.sync(p, open)
		evs, err := p.Wait()
		if err != nil {
			t.refuseAll(err)
			return
		}
		for _, ev := range evs {
			if ev.Gone {
				p.Remove(ev.Trigger)
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

// sync opens the triggers wanted and not open, and closes those open and
// no longer wanted.
func (t *triggerWatcher) sync(p *psi.Poller, open map[string]*psi.Trigger) {
	t.mu.Lock()
	defer t.mu.Unlock()
	want := t.want
	for path, tr := range open {
		if _, ok := want[path]; !ok {
			p.Remove(tr)
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
		if err == nil {
			if err = p.Add(tr); err != nil {
				tr.Close()
			}
		}
		if err != nil {
			t.failed[path] = err
			continue
		}
		open[path] = tr
	}
}

// refuseAll marks every wanted trigger failed, now and later, when the
// watcher cannot wait at all: their cgroups are polled instead, and each
// is reported.
func (t *triggerWatcher) refuseAll(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.broken = err
}
