package engine

import (
	"fmt"
	"strings"

	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
)

// eventAction reports the level again when its actions repeat; on a level
// change the change itself is the event.
type eventAction struct{}

func (eventAction) now(e *Engine, w *watched, d Decision) {
	if d.Changed() {
		return
	}
	ev := e.levelEvent(w, d)
	ev.Kind, ev.Priority = report.ActionTaken, report.Notice
	ev.Message = fmt.Sprintf("%s still at level %s: %s", e.name(w), e.levelName(w, d.To), strings.Join(d.Reasons, ", "))
	ev.Fields[report.FieldAction], ev.Fields[report.FieldResult] = string(policy.ActEvent), report.ResultOK
	e.emit(ev)
}
