package engine

import (
	"fmt"

	"github.com/memrelief/memrelief/internal/action"
	"github.com/memrelief/memrelief/internal/policy"
)

// vfsAction is vm.vfs_cache_pressure: one global knob, the highest target
// any level asks for.
type vfsAction struct{}

func (vfsAction) want(e *Engine, out map[string]*desire, w *watched, a *policy.Action, why string) {
	k := action.SysctlKnob{Sys: e.sys, Rel: action.VFSCachePressureSysctl}
	id := k.Spec().ID()
	if out[id] == nil {
		out[id] = &desire{knob: k}
	}
	wantVFS(out[id], *a.VFSCachePressure, w, why)
}

// wantVFS merges one level's vm.vfs_cache_pressure into d: the highest
// target wins; a want without a step makes the whole move a jump.
func wantVFS(d *desire, spec policy.VFSCachePressure, owner *watched, why string) {
	t, s := uint64(spec.Target), uint64(spec.Step)
	switch {
	case d.owner == nil:
		d.want, d.owner, d.why = action.Want{Target: t, Step: s, Raise: true}, owner, why
		return
	case t > d.want.Target:
		d.want.Target, d.owner, d.why = t, owner, why
	}
	if s == 0 || d.want.Step == 0 {
		d.want.Step = 0
	} else {
		d.want.Step = max(d.want.Step, s)
	}
}

// unitPropertyAction is one property of the unit systemd confirms owns the
// cgroup; the strictest want of the unit's cgroups wins.
type unitPropertyAction struct{}

func (unitPropertyAction) want(e *Engine, out map[string]*desire, w *watched, a *policy.Action, why string) {
	p := a.UnitProperty
	switch {
	case e.cfg.Units == nil:
		w.once(e, "unit_property", fmt.Sprintf("%s=%s on %s not possible: %v", p.Name, p.Value, e.name(w), action.ErrNoSystemd))
		return
	case w.owner == "":
		reason := "no systemd unit owns exactly this cgroup"
		if w.delegatedBy != "" {
			reason = "it lies in the subtree " + w.delegatedBy + " delegates, whose names are not the system's units"
		}
		w.once(e, "unit_property", fmt.Sprintf("%s=%s on %s not possible: %s", p.Name, p.Value, e.name(w), reason))
		return
	}
	v, err := action.ParsePropertyValue(p.Value, e.nodeNow.mem.MemTotal)
	if err != nil {
		w.once(e, "unit_property:"+p.Name, fmt.Sprintf("%s=%s on %s: %v", p.Name, p.Value, w.owner, err))
		return
	}
	k := action.UnitKnob{Units: e.cfg.Units, Run: e.cfg.Roots.Run, Unit: w.owner, Name: p.Name}
	id := k.Spec().ID()
	want := action.Want{Target: v, Raise: action.RaiseIsStricter(p.Name)}
	d := out[id]
	stricter := d == nil || (want.Raise && v > d.want.Target) || (!want.Raise && v < d.want.Target)
	if stricter {
		out[id] = &desire{knob: k, want: want, owner: w, why: why}
	}
}
