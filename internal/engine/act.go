package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/memrelief/memrelief/internal/action"
	"github.com/memrelief/memrelief/internal/human"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
)

// The act path. Deciding is pure and happens on the loop; everything that
// writes to the host runs on workers, off the loop, so sampling, deciding and
// the watchdog never wait for an action:
//
//   - one-shot actions of a level (reclaim, exec hooks, drop_caches) run as
//     one job per cgroup, at most one job in flight per cgroup;
//   - stateful actions (vm.vfs_cache_pressure, unit properties) are
//     reconciled: each tick computes, for every knob, the value the current
//     levels of all cgroups want (the strictest wins), and a job per knob, at
//     most one in flight, moves the knob there through action.Knobs, which
//     records its intent before every write. Leaving a level, changing level
//     or dropping a cgroup is just a new desired state; nobody wanting a
//     knob puts its original back.
//
// A job's result comes back to the loop as a closure, run there, so the
// engine's state is only ever touched by the loop's goroutine. How each
// action type is carried out (event, one-shot, knob) is its kind, in
// kinds.go and one kind_*.go file each; this file knows none of them.

// maxWorkers bounds the actions running at once.
const maxWorkers = 4

// knobTimeout bounds one move of a knob (D-Bus calls to systemd).
const knobTimeout = 30 * time.Second

// retryAfter is how long a knob whose move failed waits before the next try.
const retryAfter = 30 * time.Second

// pool runs jobs on at most maxWorkers goroutines at once.
type pool struct {
	ctx    context.Context
	cancel context.CancelFunc
	slots  chan struct{}
	done   chan func()
	wg     sync.WaitGroup
	// pending counts jobs whose result the loop has not run yet; only the
	// loop touches it.
	pending int
}

func newPool() *pool {
	ctx, cancel := context.WithCancel(context.Background())
	return &pool{ctx: ctx, cancel: cancel, slots: make(chan struct{}, maxWorkers), done: make(chan func())}
}

// run starts job on a worker; its result closure is run by the loop.
func (p *pool) run(job func(ctx context.Context) func()) {
	p.pending++
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		var result func()
		select {
		case p.slots <- struct{}{}:
			result = job(p.ctx)
			<-p.slots
		case <-p.ctx.Done():
			result = func() {}
		}
		p.done <- result
	}()
}

// finish runs one result on the loop.
func (p *pool) finish(f func()) {
	p.pending--
	f()
}

// Settle waits for every action started so far, and the actions their
// results start, and reports them. Run never needs it (it takes results as
// they come); shutdown uses it, and so does whoever drives Tick by hand and
// wants a tick's actions done before looking. Only the goroutine that calls
// Tick may call it.
func (e *Engine) Settle() {
	for e.pool.pending > 0 {
		e.pool.finish(<-e.pool.done)
	}
}

// target is the engine's view of one knob: what was last asked of it.
type target struct {
	knob action.Knob
	// owner is the cgroup (or node) whose level wants the knob (for a
	// global knob, the one with the strictest want), for the events'
	// fields; nil for a knob a previous run left changed.
	owner *watched
	// asked is the want of the last move; settled is true when that move
	// reached it (or found nothing to do), so the next tick need not move
	// the knob again until the want or dry run changes.
	asked   action.Want
	dry     bool
	settled bool
	busy    bool
	// stale is set when the desired state changed while a move was in
	// flight: its result reconciles again at once.
	stale   bool
	retryAt time.Time
}

// desire is what the levels want of one knob this tick.
type desire struct {
	knob  action.Knob
	want  action.Want
	owner *watched
	// why names the levels that want it, for the events.
	why string
}

// desired computes the value every knob should have now, from the current
// levels of all watched cgroups and the node.
func (e *Engine) desired() map[string]*desire {
	out := map[string]*desire{}
	visit := func(w *watched) {
		if w.st.Level == Normal || w.st.Level >= len(w.rule.Levels) {
			return
		}
		lvl := &w.rule.Levels[w.st.Level]
		why := e.name(w) + " at level " + lvl.Name
		for i := range lvl.Actions {
			a := &lvl.Actions[i]
			if k, ok := e.kinds[a.Type].(knobKind); ok {
				k.want(e, out, w, a, why)
			}
		}
	}
	if e.node != nil {
		visit(e.node)
	}
	for _, cg := range e.order() {
		visit(e.watched[cg])
	}
	return out
}

// reconcile moves every knob toward what is desired now, and puts back
// the ones nobody wants any more.
func (e *Engine) reconcile(now time.Time) {
	if e.stopping {
		return // undoAll owns the knobs now
	}
	if e.cfg.Observer != "" {
		return // the knobs are another memrelief's
	}
	want := e.desired()
	dry := e.dryRun()
	for id, d := range want {
		t := e.targets[id]
		if t == nil {
			t = &target{knob: d.knob}
			e.targets[id] = t
		}
		t.owner = d.owner
		if t.busy {
			t.stale = t.stale || t.asked != d.want || t.dry != dry
			continue
		}
		if now.Before(t.retryAt) || (t.settled && t.asked == d.want && t.dry == dry) {
			continue
		}
		t.asked, t.dry = d.want, dry
		e.moveKnob(t, d.want, d.why)
	}
	for id, t := range e.targets {
		if want[id] != nil {
			continue
		}
		if t.busy {
			t.stale = true
			continue
		}
		if now.Before(t.retryAt) {
			continue
		}
		e.restoreKnob(t, "no level asks for it any more")
	}
}

// replan reconciles again when what the levels want changed while t moved.
func (e *Engine) replan(t *target) {
	if t.stale {
		t.stale = false
		e.reconcile(e.cfg.Now())
	}
}

// buildKnob makes a knob from its spec, for knobs a previous run left
// changed.
func (e *Engine) buildKnob(s action.KnobSpec) (action.Knob, error) {
	switch s.Kind {
	case action.KnobSysctl:
		return action.SysctlKnob{Sys: e.sys, Rel: s.Name}, nil
	case action.KnobUnitProperty:
		if e.cfg.Units == nil {
			return nil, action.ErrNoSystemd
		}
		return action.UnitKnob{Units: e.cfg.Units, Run: e.cfg.Roots.Run, Unit: s.Unit, Name: s.Name}, nil
	}
	return nil, fmt.Errorf("unknown knob kind %q", s.Kind)
}

// recover restores what a previous run left changed, before anything else
// moves a knob. Knobs it could not restore stay tracked, so the loop tries
// again.
func (e *Engine) recover(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, knobTimeout)
	defer cancel()
	for _, m := range e.knobs.Recover(ctx) {
		if ev, ok := moveEvent(m, "restored after the previous run ended without restoring it"); ok && m.Knob.Kind != "" {
			e.emit(ev)
		} else if m.Err != nil {
			e.emit(problemEvent(m.Err.Error()))
		}
	}
	e.trackManaged()
}

// trackManaged makes a target of every knob memrelief manages without one.
func (e *Engine) trackManaged() {
	for _, s := range e.knobs.Specs() {
		if e.targets[s.ID()] != nil {
			continue
		}
		if k, err := e.buildKnob(s); err == nil {
			e.targets[s.ID()] = &target{knob: k}
		}
	}
}

// moveKnob starts one move of a knob toward want.
func (e *Engine) moveKnob(t *target, want action.Want, why string) {
	t.busy = true
	knob := t.knob
	e.pool.run(func(ctx context.Context) func() {
		ctx, cancel := context.WithTimeout(ctx, knobTimeout)
		defer cancel()
		m := e.knobs.Set(ctx, knob, want, e.sys.DryRun())
		return func() {
			t.busy = false
			t.settled = m.Result != action.MoveDone && m.Result != action.MoveFailed
			if m.Result == action.MoveFailed {
				t.retryAt = e.cfg.Now().Add(retryAfter)
			}
			e.emitMove(t, m, "while "+why)
			e.replan(t)
		}
	})
}

// restoreKnob starts putting a knob's original back; the target goes once
// it is back (or was never changed).
func (e *Engine) restoreKnob(t *target, why string) {
	t.busy = true
	knob := t.knob
	id := knob.Spec().ID()
	e.pool.run(func(ctx context.Context) func() {
		ctx, cancel := context.WithTimeout(ctx, knobTimeout)
		defer cancel()
		m := e.knobs.Restore(ctx, knob)
		return func() {
			t.busy = false
			if m.Result == action.MoveFailed {
				t.retryAt = e.cfg.Now().Add(retryAfter)
			} else if e.targets[id] == t {
				delete(e.targets, id)
			}
			e.emitMove(t, m, why)
			e.replan(t)
		}
	})
}

// undoAll puts back every knob memrelief changed, now, for shutdown.
func (e *Engine) undoAll(why string) {
	if e.cfg.Observer != "" {
		return // it changed nothing; the records are another memrelief's
	}
	e.Settle()
	e.trackManaged()
	for _, id := range e.knobs.IDs() {
		e.restoreKnob(e.targets[id], why)
	}
	e.Settle()
}

// emitMove reports one move of a knob.
func (e *Engine) emitMove(t *target, m action.Move, why string) {
	if ev, ok := moveEvent(m, why); ok {
		if t.owner != nil {
			ev = e.withCgroup(t.owner, ev)
		}
		e.emit(ev)
	}
	if m.Warn != nil {
		e.emit(problemEvent(m.Warn.Error()))
	}
}

func problemEvent(msg string) report.Event {
	return report.Event{Kind: report.Problem, Priority: report.Warning, Message: msg, Fields: map[string]string{report.FieldError: msg}}
}

// knobNames are how events name a knob and its action.
func knobNames(s action.KnobSpec) (name, act string) {
	if s.Kind == action.KnobSysctl {
		return "vm." + strings.TrimPrefix(strings.ReplaceAll(s.Name, "/", "."), "sys.vm."), string(policy.ActVFSCachePressure)
	}
	return s.Name + " of " + s.Unit, string(policy.ActUnitProperty)
}

func fmtKnob(s action.KnobSpec, v uint64) string {
	if s.Kind == action.KnobUnitProperty && v != ^uint64(0) {
		return human.Bytes(v)
	}
	return action.FormatValue(v)
}

// moveEvent is the journal event of a move; false when there is nothing to
// say.
func moveEvent(m action.Move, why string) (report.Event, bool) {
	name, act := knobNames(m.Knob)
	f := map[string]string{report.FieldAction: act,
		report.FieldValueBefore: action.FormatValue(m.From), report.FieldValueAfter: action.FormatValue(m.To)}
	if m.Knob.Unit != "" {
		f[report.FieldUnit] = m.Knob.Unit
	}
	from, to, orig := fmtKnob(m.Knob, m.From), fmtKnob(m.Knob, m.To), fmtKnob(m.Knob, m.Original)
	ev := report.Event{Kind: report.ActionTaken, Priority: report.Notice, Fields: f}
	switch m.Result {
	case action.MoveNone:
		return ev, false
	case action.MoveDone:
		f[report.FieldResult] = report.ResultOK
		ev.Message = fmt.Sprintf("%s %s -> %s (original %s, restored when no level asks for it) %s", name, from, to, orig, why)
	case action.MoveDryRun:
		f[report.FieldResult] = report.ResultDryRun
		f[report.FieldDryRun] = "1"
		ev.Message = fmt.Sprintf("would set %s %s -> %s (dry run) %s", name, from, to, why)
	case action.MoveFailed:
		f[report.FieldResult] = report.ResultFailed
		f[report.FieldError] = m.Err.Error()
		ev.Priority = report.Warning
		ev.Message = fmt.Sprintf("%s: %v; trying again in %s", name, m.Err, retryAfter)
	case action.MoveYielded:
		f[report.FieldResult] = report.ResultSkipped
		ev.Kind, ev.Priority = report.Yielded, report.Warning
		ev.Message = fmt.Sprintf("%s was changed from %s to %s by someone else; memrelief leaves it alone", name, from, to)
	case action.MoveKept:
		f[report.FieldResult] = report.ResultSkipped
		f[report.FieldValueAfter] = action.FormatValue(m.From)
		ev.Kind, ev.Priority = report.Yielded, report.Warning
		ev.Message = fmt.Sprintf("%s is %s, neither memrelief's %s nor the original %s: an administrator's value, kept", name, from, fmtKnob(m.Knob, m.To), orig)
	case action.MoveRestored:
		f[report.FieldResult] = report.ResultOK
		ev.Kind = report.ActionUndone
		ev.Message = fmt.Sprintf("%s restored %s -> %s: %s", name, from, to, why)
	case action.MoveGone:
		f[report.FieldResult] = report.ResultSkipped
		ev.Kind, ev.Priority = report.ActionUndone, report.Info
		ev.Message = fmt.Sprintf("%s not restored: the unit is gone; its runtime drop-in is back as it was", name)
	}
	return ev, true
}

// oneShots are the actions of a decision that run on a worker.
func (e *Engine) oneShots(run []policy.Action) []*policy.Action {
	var out []*policy.Action
	for i := range run {
		if _, ok := e.kinds[run[i].Type].(oneShotKind); ok {
			out = append(out, &run[i])
		}
	}
	return out
}

// dispatch runs a decision's one-shot actions for w on a worker, one job per
// cgroup at a time.
func (e *Engine) dispatch(w *watched, d Decision, acts []*policy.Action, now time.Time) {
	if w.busy {
		if w.skipped {
			return
		}
		w.skipped = true
		f := e.fields(w)
		f[report.FieldAction], f[report.FieldResult] = string(acts[0].Type), report.ResultSkipped
		e.emit(report.Event{Kind: report.ActionTaken, Priority: report.Info, Fields: f,
			Message: fmt.Sprintf("%s: actions of level %s not started: the previous ones still run", e.name(w), e.levelName(w, d.To))})
		return
	}
	w.busy = true
	for _, a := range acts {
		if a.Type == policy.ActReclaim {
			w.rate.reclaiming = true
		}
	}
	hook := e.levelEvent(w, d)
	hook.Time = now // emit stamps its own copy; the hook's payload needs one too
	j := &job{w: w, cg: w.cg, reclaim: w.reclaim, hook: hook,
		level: w.st.Level, entered: w.st.EnteredAt, woke: w.wokeAt, now: now}
	e.pool.run(func(ctx context.Context) func() {
		var results []func()
		for _, a := range acts {
			results = append(results, e.kinds[a.Type].(oneShotKind).run(ctx, e, j, a))
		}
		return func() {
			w.busy, w.skipped = false, false // reclaimDone ends w.rate.reclaiming
			for _, r := range results {
				r()
			}
		}
	})
}

// managedKnobs lists the knobs memrelief has changed, for the status line.
func (e *Engine) managedKnobs() []string {
	var out []string
	for _, id := range e.knobs.IDs() {
		orig, set, _ := e.knobs.Managed(id)
		if t := e.targets[id]; t != nil && set != orig { // not yet changed: a first move in flight
			name, _ := knobNames(t.knob.Spec())
			out = append(out, fmt.Sprintf("%s %s (was %s)", strings.TrimPrefix(name, "vm."), fmtKnob(t.knob.Spec(), set), fmtKnob(t.knob.Spec(), orig)))
		}
	}
	sort.Strings(out)
	return out
}
