package action

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
	"github.com/memrelief/memrelief/internal/state"
)

const unitRecord = "unit_properties"

// propChange is one property memrelief set: the value before and the value
// systemd reported after.
type propChange struct {
	Previous uint64 `json:"previous"`
	Set      uint64 `json:"set"`
}

// UnitProps sets systemd unit properties while a level holds and puts the
// previous values back afterwards, on reload, on exit and after a crash. It
// changes units only through systemd (runtime drop-ins over D-Bus), never
// by writing cgroup files behind systemd's back, and removes the drop-ins it
// caused once the previous value is back.
type UnitProps struct {
	Sys   System
	Store state.Store

	applied map[string]map[string]propChange // unit -> property -> change
}

// ErrNoSystemd is the error of unit_property on hosts without systemd on
// D-Bus, and for cgroups no unit owns (cgroupfs-driver pods).
var ErrNoSystemd = errors.New("no systemd unit API (not a systemd host, or D-Bus unreachable)")

// ParsePropertyValue turns a policy value into what SetProperty takes: a
// byte count, a share of physical memory scaled to 2^32-1 as systemd's
// *Scale properties expect, or MaxUint64 for "infinity".
func ParsePropertyValue(s string) (value uint64, scaled bool, err error) {
	switch {
	case s == "infinity":
		return math.MaxUint64, false, nil
	case strings.HasSuffix(s, "%"):
		p, err := policy.ParsePercent(s)
		if err != nil {
			return 0, false, err
		}
		if p > 100 {
			return 0, false, fmt.Errorf("%s is over 100%%", s)
		}
		return uint64(float64(p) / 100 * math.MaxUint32), true, nil
	}
	v, err := policy.ParseSize(s)
	if err != nil {
		return 0, false, err
	}
	return uint64(v), false, nil
}

// Apply sets spec on unit unless memrelief already did. It records the
// previous value (in the crash record first) so Revert can restore it.
func (u *UnitProps) Apply(ctx context.Context, unit string, spec *policy.UnitProperty) report.Event {
	f := map[string]string{report.FieldAction: string(policy.ActUnitProperty), report.FieldUnit: unit}
	ev := func(prio report.Priority, result, msg string) report.Event {
		f[report.FieldResult] = result
		return report.Event{Kind: report.ActionTaken, Priority: prio, Message: msg, Fields: f}
	}
	units := u.Sys.Units()
	if units == nil || unit == "" {
		f[report.FieldError] = ErrNoSystemd.Error()
		return ev(report.Info, report.ResultUnsupported, fmt.Sprintf("%s=%s on %s not possible: %v", spec.Name, spec.Value, orPath(unit), ErrNoSystemd))
	}
	if _, done := u.applied[unit][spec.Name]; done {
		return ev(report.Debug, report.ResultSkipped, fmt.Sprintf("%s=%s already set on %s", spec.Name, spec.Value, unit))
	}
	value, scaled, err := ParsePropertyValue(spec.Value)
	if err != nil {
		f[report.FieldError] = err.Error()
		return ev(report.Warning, report.ResultFailed, fmt.Sprintf("%s=%s on %s: %v", spec.Name, spec.Value, unit, err))
	}
	prev, err := units.Property(ctx, unit, spec.Name)
	if err != nil {
		f[report.FieldError] = err.Error()
		return ev(report.Warning, report.ResultFailed, fmt.Sprintf("read %s of %s: %v", spec.Name, unit, err))
	}
	f[report.FieldValueBefore] = fmtProp(prev)
	if u.Sys.DryRun() {
		return ev(report.Notice, report.ResultDryRun, fmt.Sprintf("would set %s=%s on %s (now %s)", spec.Name, spec.Value, unit, fmtProp(prev)))
	}
	u.remember(unit, spec.Name, propChange{Previous: prev, Set: prev})
	if err := u.save(); err != nil {
		u.forget(unit, spec.Name)
		f[report.FieldError] = err.Error()
		return ev(report.Warning, report.ResultFailed, fmt.Sprintf("not setting %s on %s: %v", spec.Name, unit, err))
	}
	if err := units.SetProperty(ctx, unit, spec.Name, value, scaled); err != nil {
		u.forget(unit, spec.Name)
		u.save()
		f[report.FieldError] = err.Error()
		return ev(report.Warning, report.ResultFailed, fmt.Sprintf("set %s=%s on %s: %v", spec.Name, spec.Value, unit, err))
	}
	after, err := units.Property(ctx, unit, spec.Name)
	if err != nil {
		after = value
	}
	u.remember(unit, spec.Name, propChange{Previous: prev, Set: after})
	u.save()
	f[report.FieldValueAfter] = fmtProp(after)
	return ev(report.Notice, report.ResultOK, fmt.Sprintf("%s of %s set %s -> %s (runtime, until the level clears)", spec.Name, unit, fmtProp(prev), fmtProp(after)))
}

// Revert restores every property memrelief set on unit.
func (u *UnitProps) Revert(ctx context.Context, unit, why string) []report.Event {
	var evs []report.Event
	names := make([]string, 0, len(u.applied[unit]))
	for n := range u.applied[unit] {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		evs = append(evs, u.revertOne(ctx, unit, name, why))
	}
	return evs
}

// RevertAll restores everything, for shutdown.
func (u *UnitProps) RevertAll(ctx context.Context, why string) []report.Event {
	var evs []report.Event
	for _, unit := range u.Units() {
		evs = append(evs, u.Revert(ctx, unit, why)...)
	}
	return evs
}

// Units lists units with properties memrelief set, sorted.
func (u *UnitProps) Units() []string {
	out := make([]string, 0, len(u.applied))
	for unit := range u.applied {
		out = append(out, unit)
	}
	sort.Strings(out)
	return out
}

// Recover restores what a previous run left set. Call once at start.
func (u *UnitProps) Recover(ctx context.Context) []report.Event {
	var rec map[string]map[string]propChange
	ok, err := u.Store.Load(unitRecord, &rec)
	if err != nil {
		u.Store.SetAside(unitRecord)
		return []report.Event{problem(fmt.Sprintf("%v; set aside, unit properties left as they are", err))}
	}
	if !ok {
		return nil
	}
	u.applied = rec
	return u.RevertAll(ctx, "restored after the previous run ended without restoring it")
}

func (u *UnitProps) revertOne(ctx context.Context, unit, name, why string) report.Event {
	ch := u.applied[unit][name]
	f := map[string]string{report.FieldAction: string(policy.ActUnitProperty), report.FieldUnit: unit,
		report.FieldValueBefore: fmtProp(ch.Set), report.FieldValueAfter: fmtProp(ch.Previous)}
	units := u.Sys.Units()
	if units == nil {
		f[report.FieldResult] = report.ResultFailed
		return report.Event{Kind: report.Problem, Priority: report.Warning, Fields: f,
			Message: fmt.Sprintf("cannot restore %s of %s to %s: %v; kept for the next start", name, unit, fmtProp(ch.Previous), ErrNoSystemd)}
	}
	cur, err := units.Property(ctx, unit, name)
	if err == nil && cur != ch.Set {
		u.forget(unit, name)
		u.save()
		f[report.FieldValueAfter] = fmtProp(cur)
		f[report.FieldResult] = report.ResultSkipped
		return report.Event{Kind: report.Yielded, Priority: report.Warning, Fields: f,
			Message: fmt.Sprintf("%s of %s was changed from %s to %s by someone else; memrelief leaves it alone", name, unit, fmtProp(ch.Set), fmtProp(cur))}
	}
	if err != nil {
		// The unit is gone (stopped pod): there is nothing left to restore.
		u.forget(unit, name)
		u.save()
		f[report.FieldResult] = report.ResultSkipped
		return report.Event{Kind: report.ActionUndone, Priority: report.Info, Fields: f,
			Message: fmt.Sprintf("%s of %s not restored: %v", name, unit, err)}
	}
	if err := units.SetProperty(ctx, unit, name, ch.Previous, false); err != nil {
		f[report.FieldResult] = report.ResultFailed
		f[report.FieldError] = err.Error()
		return report.Event{Kind: report.Problem, Priority: report.Warning, Fields: f,
			Message: fmt.Sprintf("restore %s of %s to %s: %v", name, unit, fmtProp(ch.Previous), err)}
	}
	if err := units.ForgetProperty(ctx, unit, name); err != nil {
		f[report.FieldError] = err.Error()
	}
	u.forget(unit, name)
	u.save()
	f[report.FieldResult] = report.ResultOK
	return report.Event{Kind: report.ActionUndone, Priority: report.Notice, Fields: f,
		Message: fmt.Sprintf("%s of %s restored %s -> %s: %s", name, unit, fmtProp(ch.Set), fmtProp(ch.Previous), why)}
}

func (u *UnitProps) remember(unit, name string, ch propChange) {
	if u.applied == nil {
		u.applied = map[string]map[string]propChange{}
	}
	if u.applied[unit] == nil {
		u.applied[unit] = map[string]propChange{}
	}
	u.applied[unit][name] = ch
}

func (u *UnitProps) forget(unit, name string) {
	delete(u.applied[unit], name)
	if len(u.applied[unit]) == 0 {
		delete(u.applied, unit)
	}
}

func (u *UnitProps) save() error {
	if len(u.applied) == 0 {
		return u.Store.Remove(unitRecord)
	}
	return u.Store.Save(unitRecord, u.applied)
}

func fmtProp(v uint64) string {
	if v == math.MaxUint64 {
		return "infinity"
	}
	return strconv.FormatUint(v, 10)
}

func orPath(unit string) string {
	if unit == "" {
		return "a cgroup no unit owns"
	}
	return unit
}
