package action

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
	"github.com/memrelief/memrelief/internal/state"
)

// VFSCachePressureSysctl is vm.vfs_cache_pressure below /proc.
const VFSCachePressureSysctl = "sys/vm/vfs_cache_pressure"

const vfsRecord = "vfs_cache_pressure"

// vfsState is the crash record: written before the first change, removed
// after the original is back.
type vfsState struct {
	Original int `json:"original"`
	Set      int `json:"set"` // the last value memrelief wrote
}

// VFS manages vm.vfs_cache_pressure, a global knob, on behalf of every
// cgroup whose level asks for it: it raises the value toward the highest
// target wanted, one step per Apply, and puts the original back when nobody
// wants it any more, when memrelief stops, and on the next start after a
// crash. When someone else changes the value while memrelief manages it, the
// administrator wins: memrelief lets go and does not restore over them.
type VFS struct {
	Sys   System
	Store state.Store

	wants    map[string]policy.VFSCachePressure // by owner (cgroup path)
	managing bool
	st       vfsState
	yielded  bool // let go after an outside change; cleared when nobody wants it
	// dryTarget is the value a dry run last said it would set, so it says
	// so once, not on every tick.
	dryTarget int
}

// Recover restores what a previous run left changed. Call once at start,
// before anything else touches the knob.
func (v *VFS) Recover() []report.Event {
	var rec vfsState
	ok, err := v.Store.Load(vfsRecord, &rec)
	if err != nil {
		v.Store.SetAside(vfsRecord)
		return []report.Event{problem(fmt.Sprintf("%v; set aside, vm.vfs_cache_pressure left as it is", err))}
	}
	if !ok {
		return nil
	}
	cur, err := v.Sys.Sysctl(VFSCachePressureSysctl)
	if err != nil {
		return []report.Event{problem(fmt.Sprintf("restore vm.vfs_cache_pressure after a crash: %v", err))}
	}
	if cur != rec.Set {
		v.Store.Remove(vfsRecord)
		return []report.Event{yieldedEvent(rec.Set, cur, "since the previous run stopped")}
	}
	if err := v.Sys.SetSysctl(VFSCachePressureSysctl, rec.Original); err != nil {
		return []report.Event{problem(fmt.Sprintf("restore vm.vfs_cache_pressure to %d after a crash: %v", rec.Original, err))}
	}
	v.Store.Remove(vfsRecord)
	return []report.Event{undone(rec.Set, rec.Original, "restored after the previous run ended without restoring it")}
}

// Want records that owner's level asks for spec. The value moves on Apply.
func (v *VFS) Want(owner string, spec policy.VFSCachePressure) {
	if v.wants == nil {
		v.wants = map[string]policy.VFSCachePressure{}
	}
	v.wants[owner] = spec
}

// Release records that owner no longer asks for anything.
func (v *VFS) Release(owner string) { delete(v.wants, owner) }

// Owners lists who wants a raised value, sorted.
func (v *VFS) Owners() []string {
	out := make([]string, 0, len(v.wants))
	for o := range v.wants {
		out = append(out, o)
	}
	sort.Strings(out)
	return out
}

// Managed returns the original and current value while memrelief manages
// the knob.
func (v *VFS) Managed() (original, set int, ok bool) {
	return v.st.Original, v.st.Set, v.managing
}

// Apply moves the knob one step toward what is wanted now, or restores it
// when nothing is. It returns the events of what it did.
func (v *VFS) Apply() []report.Event {
	if len(v.wants) == 0 {
		v.yielded, v.dryTarget = false, 0
		return v.restore("no cgroup needs it any more")
	}
	if v.yielded {
		return nil
	}
	// The highest target wins; a want without a step (jump straight to the
	// target) makes the whole move a jump.
	var target, step int
	jump := false
	for _, w := range v.wants {
		target = max(target, w.Target)
		step = max(step, w.Step)
		jump = jump || w.Step == 0
	}
	if jump {
		step = 0
	}
	cur, err := v.Sys.Sysctl(VFSCachePressureSysctl)
	if err != nil {
		return []report.Event{problem(fmt.Sprintf("read vm.vfs_cache_pressure: %v", err))}
	}
	if v.managing && cur != v.st.Set {
		v.yielded, v.managing = true, false
		v.Store.Remove(vfsRecord)
		return []report.Event{yieldedEvent(v.st.Set, cur, "while memrelief managed it")}
	}
	if !v.managing {
		if cur >= target {
			return nil // already at least as high: nothing to do, nothing to restore
		}
		v.st = vfsState{Original: cur, Set: cur}
	}
	next := target
	if step > 0 {
		next = min(cur+step, target)
	}
	if next == cur {
		return nil
	}
	if v.Sys.DryRun() {
		if v.dryTarget == target {
			return nil
		}
		v.dryTarget = target
		return []report.Event{vfsEvent(cur, target, report.ResultDryRun, "would raise (dry run)")}
	}
	if !v.managing {
		// The record must exist before the change, or a crash right after
		// it would leave the knob changed with nothing to say so.
		if err := v.Store.Save(vfsRecord, vfsState{Original: cur, Set: next}); err != nil {
			return []report.Event{problem(fmt.Sprintf("not changing vm.vfs_cache_pressure: %v", err))}
		}
	}
	if err := v.Sys.SetSysctl(VFSCachePressureSysctl, next); err != nil {
		if !v.managing {
			v.Store.Remove(vfsRecord)
		}
		return []report.Event{vfsEvent(cur, next, report.ResultFailed, err.Error())}
	}
	v.managing = true
	v.st.Set = next
	if err := v.Store.Save(vfsRecord, v.st); err != nil {
		return []report.Event{vfsEvent(cur, next, report.ResultOK, ""), problem(err.Error())}
	}
	return []report.Event{vfsEvent(cur, next, report.ResultOK, "")}
}

// RestoreAll puts the original back, for shutdown.
func (v *VFS) RestoreAll() []report.Event {
	v.wants = nil
	return v.restore("memrelief is stopping")
}

func (v *VFS) restore(why string) []report.Event {
	if !v.managing {
		return nil
	}
	cur, err := v.Sys.Sysctl(VFSCachePressureSysctl)
	if err != nil {
		return []report.Event{problem(fmt.Sprintf("read vm.vfs_cache_pressure to restore it: %v", err))}
	}
	v.managing = false
	if cur != v.st.Set {
		v.Store.Remove(vfsRecord)
		return []report.Event{yieldedEvent(v.st.Set, cur, "before memrelief restored it")}
	}
	if err := v.Sys.SetSysctl(VFSCachePressureSysctl, v.st.Original); err != nil {
		v.managing = true // keep the record: the next start retries
		return []report.Event{problem(fmt.Sprintf("restore vm.vfs_cache_pressure to %d: %v", v.st.Original, err))}
	}
	v.Store.Remove(vfsRecord)
	return []report.Event{undone(cur, v.st.Original, why)}
}

func vfsFields(before, after int) map[string]string {
	return map[string]string{
		report.FieldAction:      string(policy.ActVFSCachePressure),
		report.FieldValueBefore: strconv.Itoa(before),
		report.FieldValueAfter:  strconv.Itoa(after),
	}
}

func vfsEvent(before, after int, result, detail string) report.Event {
	f := vfsFields(before, after)
	f[report.FieldResult] = result
	msg := fmt.Sprintf("vm.vfs_cache_pressure %d -> %d", before, after)
	prio := report.Notice
	if result == report.ResultFailed {
		msg = fmt.Sprintf("vm.vfs_cache_pressure %d -> %d failed: %s", before, after, detail)
		f[report.FieldError] = detail
		prio = report.Warning
	} else if detail != "" {
		msg += ": " + detail
	}
	return report.Event{Kind: report.ActionTaken, Priority: prio, Message: msg, Fields: f}
}

func undone(before, after int, why string) report.Event {
	f := vfsFields(before, after)
	f[report.FieldResult] = report.ResultOK
	return report.Event{Kind: report.ActionUndone, Priority: report.Notice,
		Message: fmt.Sprintf("vm.vfs_cache_pressure restored %d -> %d: %s", before, after, why), Fields: f}
}

func yieldedEvent(ours, theirs int, when string) report.Event {
	f := vfsFields(ours, theirs)
	f[report.FieldResult] = report.ResultSkipped
	return report.Event{Kind: report.Yielded, Priority: report.Warning,
		Message: fmt.Sprintf("vm.vfs_cache_pressure was changed from %d to %d by someone else %s; memrelief leaves it alone", ours, theirs, when),
		Fields:  f}
}

func problem(msg string) report.Event {
	return report.Event{Kind: report.Problem, Priority: report.Warning, Message: msg, Fields: map[string]string{report.FieldError: msg}}
}
