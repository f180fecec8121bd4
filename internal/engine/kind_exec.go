package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/memrelief/memrelief/internal/action"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
)

// execAction runs a hook (action.Exec) with the decision's event.
type execAction struct{}

func (execAction) run(ctx context.Context, e *Engine, j *job, a *policy.Action) func() {
	o := action.Exec(ctx, e.sys, a.Exec, j.hook)
	return func() { e.emit(e.execEvent(j.w, a.Exec, o)) }
}

func (e *Engine) execEvent(w *watched, spec *policy.Exec, o action.ExecOutcome) report.Event {
	f := e.fields(w)
	f[report.FieldAction], f[report.FieldResult] = string(policy.ActExec), o.Result
	f[report.FieldDurationMs] = strconv.FormatInt(o.Duration.Milliseconds(), 10)
	if o.Result == report.ResultDryRun {
		f[report.FieldDryRun] = "1"
	}
	msg := fmt.Sprintf("hook %s for %s: %s", spec.Command[0], e.name(w), o.Result)
	if o.Err != nil {
		f[report.FieldError] = o.Err.Error()
		msg += ": " + o.Err.Error()
	}
	if o.Output != "" {
		msg += "; output: " + strings.TrimSpace(o.Output)
	}
	return report.Event{Kind: report.ActionTaken, Priority: report.Notice, Message: msg, Fields: f}
}
