package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/psi"
	"github.com/memrelief/memrelief/internal/report"
)

// triggerWatcher owns the kernel PSI triggers: it opens and closes them as
// the set of watched cgroups changes and wakes the main loop when one
// fires. One goroutine owns the file descriptors, so none is closed while
// the poller still waits on it; it sleeps in epoll_wait until a trigger
// fires, the set changes or ctx ends, and costs nothing in between.
type triggerWatcher struct {
	wake chan<- wakeup
	// max is the descriptor budget of triggers (see triggerBudget); open
	// opens one (psi.OpenTrigger; tests put a fake here).
	max  int
	open func(path string, spec policy.PSITrigger) (*psi.Trigger, error)

	mu   sync.Mutex
	want map[string]policy.PSITrigger // guarded by mu: the set to have
	// first is the path opened before any other (guarded by mu): the
	// node's, so a spent budget never leaves the node polled.
	first  string
	failed map[string]error // guarded by mu: paths that refused a trigger
	// over are the wanted paths left without a trigger because max are
	// open (guarded by mu); they get one as others close.
	over   map[string]bool
	poller *psi.Poller // guarded by mu: nil until run starts, and after
	// broken is why the watcher cannot wait at all (guarded by mu): every
	// wanted trigger counts as refused, and its cgroup is polled.
	broken error
	// gen counts changes of want, failed, over and broken (guarded by mu),
	// so the loop looks at refusals only when they changed.
	gen uint64
}

// errTriggerBudget marks a pressure file left without a trigger because the
// descriptor budget of triggers is spent; errTriggersBroken one left without
// because the watcher cannot wait on any trigger.
var (
	errTriggerBudget  = errors.New("the descriptor budget of PSI triggers is spent")
	errTriggersBroken = errors.New("PSI triggers cannot be waited on")
)

// triggerBudget is how many triggers may be open: a quarter of the soft
// RLIMIT_NOFILE (raised to the hard limit at start), as the Handles of the
// cgroupfs.Reader take half, so whatever others make the daemon watch
// leaves a quarter for history saves, sockets and D-Bus. Every watched pod
// and service holds a trigger under the default policy: without a budget,
// 10,000 cgroups under a limit of 20,000 took every descriptor.
func triggerBudget() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur/4 < 64 {
		return 64
	}
	return int(min(lim.Cur/4, 1<<18))
}

// wakeup is one kernel trigger event: the pressure file, and when poll
// returned with it.
type wakeup struct {
	path string
	at   time.Time
}

func newTriggerWatcher(wake chan<- wakeup, max int) *triggerWatcher {
	return &triggerWatcher{wake: wake, max: max, failed: map[string]error{},
		open: func(path string, spec policy.PSITrigger) (*psi.Trigger, error) {
			return psi.OpenTrigger(path, psi.Kind(spec.Kind), spec.Stall.Std(), spec.Window.Std())
		}}
}

// set replaces the wanted set, of which first (if wanted) gets a trigger
// before any other; the watcher catches up at once.
func (t *triggerWatcher) set(want map[string]policy.PSITrigger, first string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.want, t.first = want, first
	t.gen++
	if t.poller != nil {
		t.poller.Wake()
	}
}

// Refused returns the wanted paths without a trigger, each with why (the
// kernel's refusal, or errTriggerBudget), when they changed since
// generation seen; ok is false when nothing changed. Their cgroups are
// polled.
func (t *triggerWatcher) Refused(seen uint64) (out map[string]error, gen uint64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gen == seen {
		return nil, seen, false
	}
	out = make(map[string]error, len(t.failed)+len(t.over))
	for k, v := range t.failed {
		out[k] = v
	}
	for k := range t.over {
		out[k] = errTriggerBudget
	}
	if t.broken != nil {
		broken := fmt.Errorf("%w: %w", errTriggersBroken, t.broken)
		for k := range t.want {
			out[k] = broken
		}
	}
	return out, t.gen, true
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

// sync opens the triggers wanted and not open, as far as the budget goes,
// and closes those open and no longer wanted.
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
			t.gen++
		}
	}
	// A fresh set each sync (allocated only when a file is over), so it
	// can be compared with the last one.
	prev := t.over
	t.over = nil
	try := func(path string, spec policy.PSITrigger) {
		if _, ok := open[path]; ok || t.failed[path] != nil {
			return
		}
		if len(open) >= t.max {
			if t.over == nil {
				t.over = map[string]bool{}
			}
			t.over[path] = true
			return
		}
		tr, err := t.open(path, spec)
		if err == nil {
			if err = p.Add(tr); err != nil {
				tr.Close()
			}
		}
		if err != nil {
			t.failed[path] = err
			t.gen++
			return
		}
		open[path] = tr
	}
	if spec, ok := want[t.first]; ok {
		try(t.first, spec)
	}
	for path, spec := range want {
		if path != t.first {
			try(path, spec)
		}
	}
	if !maps.Equal(prev, t.over) {
		t.gen++
	}
}

// refuseAll marks every wanted trigger failed, now and later, when the
// watcher cannot wait at all: their cgroups are polled instead, and each
// is reported.
func (t *triggerWatcher) refuseAll(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.broken = err
	t.gen++
}

// refusedTriggers, when the watcher's refusals changed, disarms the records
// whose pressure file has no trigger, so they are polled, and arms those
// that got one since (a file over the budget gets a trigger when others
// close, with no rescan to arm it). Kernel refusals are reported once per
// reason (the errno: a kernel that refuses every trigger refuses them all
// alike), with how many files it refused then and the first; the budget
// once for all the files it leaves out, and again when it no longer is.
// Thousands of cgroups must not mean thousands of warnings, nor a
// remembered key per cgroup that ever came and went.
func (e *Engine) refusedTriggers(now time.Time) {
	refused, gen, ok := e.triggers.Refused(e.triggerGen)
	if !ok {
		return
	}
	e.triggerGen = gen
	for path, w := range e.byPressure {
		switch _, no := refused[path]; {
		case no:
			w.armed = false // psi_stall is unknown: its conditions never hold
		case !w.armed:
			w.armed, w.armedAt = true, now
		}
	}
	over, broken, first := 0, 0, ""
	var brokenErr error
	type refusal struct {
		n     int
		first string
	}
	var byKernel map[string]*refusal
	for path, err := range refused {
		if errors.Is(err, errTriggersBroken) {
			broken++
			brokenErr = err
			continue
		}
		if errors.Is(err, errTriggerBudget) {
			over++
			if first == "" || path < first {
				first = path
			}
			continue
		}
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENODEV) {
			continue // the cgroup went between the walk and the trigger: the next rescan drops it
		}
		why := refusalReason(err)
		if byKernel == nil {
			byKernel = map[string]*refusal{}
		}
		r := byKernel[why]
		if r == nil {
			r = &refusal{}
			byKernel[why] = r
		}
		r.n++
		if r.first == "" || path < r.first {
			r.first = path
		}
	}
	for _, why := range slices.Sorted(maps.Keys(byKernel)) {
		r := byKernel[why]
		e.once("trigger-refused:"+why, fmt.Sprintf("the kernel refused PSI triggers on %d pressure files (%s first): %s; they are polled every %s instead",
			r.n, r.first, why, e.pol.Daemon.Interval))
	}
	if broken > 0 {
		// Every file is polled; the budget is moot, and so is a notice
		// that it is met.
		e.once("triggers-broken", fmt.Sprintf("PSI triggers: %v; all %d pressure files are polled every %s instead", brokenErr, broken, e.pol.Daemon.Interval))
		return
	}
	switch {
	case over > 0 && e.triggersOver == 0:
		msg := fmt.Sprintf("PSI triggers: the budget of %d open at once is spent; %d pressure files (%s first) are polled every %s instead",
			e.triggers.max, over, first, e.pol.Daemon.Interval)
		e.emit(report.Event{Kind: report.Problem, Priority: report.Warning, Message: msg, Fields: map[string]string{report.FieldError: msg}})
	case over == 0 && e.triggersOver > 0:
		e.emit(report.Event{Kind: report.Problem, Priority: report.Notice,
			Message: fmt.Sprintf("PSI triggers: within the budget of %d again; every pressure file that wants one has one", e.triggers.max)})
	}
	e.triggersOver = over
}

// refusalReason is what a kernel refusal is reported under: its errno,
// else the whole error.
func refusalReason(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}
