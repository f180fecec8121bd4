package engine

import (
	"context"

	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
)

// dropCachesAction writes vm.drop_caches=2 (node rule only).
type dropCachesAction struct{}

func (dropCachesAction) run(_ context.Context, e *Engine, j *job, _ *policy.Action) func() {
	ev := e.dropCaches()
	return func() { e.emit(e.withCgroup(j.w, ev)) }
}

// dropCaches writes vm.drop_caches=2 (reclaimable slab, node-wide); it runs
// on a worker, since dropping a large node's caches takes seconds.
func (e *Engine) dropCaches() report.Event {
	f := map[string]string{report.FieldAction: string(policy.ActDropCaches)}
	switch {
	case e.sys.DryRun():
		f[report.FieldResult], f[report.FieldDryRun] = report.ResultDryRun, "1"
	default:
		if err := e.sys.SetSysctl("sys/vm/drop_caches", 2); err != nil {
			f[report.FieldResult], f[report.FieldError] = report.ResultFailed, err.Error()
		} else {
			f[report.FieldResult] = report.ResultOK
		}
	}
	return report.Event{Kind: report.ActionTaken, Priority: report.Notice, Message: "drop_caches=2 (reclaimable slab, node-wide): " + f[report.FieldResult], Fields: f}
}
