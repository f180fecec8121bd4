package engine

import (
	"context"
	"time"

	"github.com/memrelief/memrelief/internal/action"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
)

// How the engine carries out each action type. A kind implements one of
// three interfaces, and lives in its own file (kind_*.go); adding an action
// type is its file, one line in kinds, its policy schema and its docs.

// eventKind is carried out on the loop, with the decision.
type eventKind interface {
	now(e *Engine, w *watched, d Decision)
}

// oneShotKind runs on a worker when a decision asks for it: run does the
// work and returns what the loop does with its outcome.
type oneShotKind interface {
	run(ctx context.Context, e *Engine, j *job, a *policy.Action) func()
}

// knobKind is a desired state of a knob while the level holds: want merges
// the level's want into out (reconcile moves the knobs).
type knobKind interface {
	want(e *Engine, out map[string]*desire, w *watched, a *policy.Action, why string)
}

// job is one cgroup's one-shot actions of one decision, run in order on a
// worker.
type job struct {
	w       *watched
	cg      string
	reclaim *action.CgroupReclaim
	hook    report.Event // the decision's event, for hooks
	// level and entered identify the level that asked, so a result that
	// comes back after the level changed does not feed the new one.
	level   int
	entered time.Time
	// woke is the trigger wake-up the decision was made on (zero in a
	// regular tick); the first write reports its latency.
	woke time.Time
	now  time.Time
}

// kinds maps every action type to how it is carried out; a type the
// policy knows and this does not fails TestEveryActionTypeHasAKind.
func kinds() map[policy.ActionType]any {
	return map[policy.ActionType]any{
		policy.ActEvent:            eventAction{},
		policy.ActReclaim:          reclaimAction{},
		policy.ActExec:             execAction{},
		policy.ActDropCaches:       dropCachesAction{},
		policy.ActVFSCachePressure: vfsAction{},
		policy.ActUnitProperty:     unitPropertyAction{},
	}
}
