package engine

import (
	"context"
	"strconv"
	"time"

	"github.com/memrelief/memrelief/internal/action"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
)

// reclaimAction writes memory.reclaim in decaying batches (action.Reclaimer)
// and feeds the measured effect back to the level (escalation, backoff).
type reclaimAction struct{}

func (reclaimAction) run(ctx context.Context, e *Engine, j *job, a *policy.Action) func() {
	o := e.reclaimer.Run(ctx, j.cg, j.reclaim, a.Reclaim, j.now)
	woke := j.woke
	j.woke = time.Time{} // the trigger's latency is the first write's
	return func() { e.reclaimDone(j, o, woke) }
}

// reclaimDone reports a reclaim and feeds its effect back to the level, if
// the cgroup is still watched at the level that asked for it.
func (e *Engine) reclaimDone(j *job, o action.ReclaimOutcome, woke time.Time) {
	w, level, entered, now := j.w, j.level, j.entered, j.now
	w.rate.reclaimed(o.SlabFreed(), o.Duration)
	if o.Result == report.ResultUnsupported {
		// The host cannot (cgroup v1): said once per cgroup, not every
		// cooldown; the start-up line says which actions this host gets.
		if w.reported["reclaim-unsupported"] {
			return
		}
		if w.reported == nil {
			w.reported = map[string]bool{}
		}
		w.reported["reclaim-unsupported"] = true
	}
	ev := e.reclaimEvent(w, o)
	if !woke.IsZero() && !o.FirstWrite.IsZero() {
		ev.Fields[report.FieldTriggerLatencyMs] = strconv.FormatFloat(float64(o.FirstWrite.Sub(woke).Microseconds())/1000, 'f', 1, 64)
	}
	e.emit(ev)
	if e.watched[w.cg] != w && w != e.node {
		return
	}
	if w.st.Level != level || !w.st.EnteredAt.Equal(entered) {
		return
	}
	if o.Result == report.ResultOK || o.Result == report.ResultPartial || o.Result == report.ResultIneffective {
		st, fd := Feedback(w.rule, w.st, o.Effective(), now)
		w.st = st
		if fd.Changed() {
			// Escalated: the new level's actions run instead, and its
			// stateful wants replace the old level's now, not next tick.
			e.handle(w, fd, now)
			e.reconcile(now)
		}
	}
}
