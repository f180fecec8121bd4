package action

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
	"github.com/memrelief/memrelief/internal/state"
)

func newUnits(t *testing.T) (*UnitProps, *fakeUnits) {
	t.Helper()
	fu := &fakeUnits{props: map[string]uint64{"fluent-bit.service/MemoryHigh": math.MaxUint64}, dropIn: map[string]bool{}}
	f := newFake()
	f.units = fu
	return &UnitProps{Sys: f, Store: state.Store{Dir: t.TempDir()}}, fu
}

func TestParsePropertyValue(t *testing.T) {
	for in, want := range map[string]struct {
		v      uint64
		scaled bool
	}{
		"512M": {512 << 20, false}, "infinity": {math.MaxUint64, false}, "100%": {math.MaxUint32, true}, "50%": {math.MaxUint32 / 2, true},
	} {
		v, scaled, err := ParsePropertyValue(in)
		if err != nil || v != want.v || scaled != want.scaled {
			t.Errorf("ParsePropertyValue(%q) = %d, %v, %v", in, v, scaled, err)
		}
	}
	for _, bad := range []string{"", "lots", "120%"} {
		if _, _, err := ParsePropertyValue(bad); err == nil {
			t.Errorf("ParsePropertyValue(%q) accepted", bad)
		}
	}
}

func TestUnitPropsApplyRevert(t *testing.T) {
	u, fu := newUnits(t)
	ctx := context.Background()
	spec := &policy.UnitProperty{Name: "MemoryHigh", Value: "512M"}
	ev := u.Apply(ctx, "fluent-bit.service", spec)
	if ev.Fields[report.FieldResult] != report.ResultOK || fu.props["fluent-bit.service/MemoryHigh"] != 512<<20 {
		t.Fatalf("apply: %+v, props %v", ev, fu.props)
	}
	if ev := u.Apply(ctx, "fluent-bit.service", spec); ev.Fields[report.FieldResult] != report.ResultSkipped {
		t.Fatalf("second apply re-set the property: %+v", ev)
	}
	var rec map[string]map[string]propChange
	if ok, _ := u.Store.Load(unitRecord, &rec); !ok || rec["fluent-bit.service"]["MemoryHigh"].Previous != math.MaxUint64 {
		t.Fatalf("crash record %+v", rec)
	}
	evs := u.Revert(ctx, "fluent-bit.service", "level cleared")
	if len(evs) != 1 || evs[0].Kind != report.ActionUndone || fu.props["fluent-bit.service/MemoryHigh"] != math.MaxUint64 {
		t.Fatalf("revert: %+v, props %v", evs, fu.props)
	}
	if fu.dropIn["fluent-bit.service/MemoryHigh"] {
		t.Fatal("runtime drop-in left behind after revert")
	}
	if ok, _ := u.Store.Load(unitRecord, &rec); ok {
		t.Fatal("crash record left after revert")
	}
}

func TestUnitPropsRecoverAfterCrash(t *testing.T) {
	u, fu := newUnits(t)
	ctx := context.Background()
	u.Apply(ctx, "fluent-bit.service", &policy.UnitProperty{Name: "MemoryHigh", Value: "256M"})
	u2 := &UnitProps{Sys: u.Sys, Store: u.Store}
	evs := u2.Recover(ctx)
	if len(evs) != 1 || fu.props["fluent-bit.service/MemoryHigh"] != math.MaxUint64 {
		t.Fatalf("recover: %+v props %v", evs, fu.props)
	}
}

func TestUnitPropsAdministratorWins(t *testing.T) {
	u, fu := newUnits(t)
	ctx := context.Background()
	u.Apply(ctx, "fluent-bit.service", &policy.UnitProperty{Name: "MemoryHigh", Value: "256M"})
	fu.props["fluent-bit.service/MemoryHigh"] = 1 << 30 // systemctl set-property by a person
	evs := u.Revert(ctx, "fluent-bit.service", "level cleared")
	if len(evs) != 1 || evs[0].Kind != report.Yielded || fu.props["fluent-bit.service/MemoryHigh"] != 1<<30 {
		t.Fatalf("revert over an administrator: %+v props %v", evs, fu.props)
	}
}

func TestUnitPropsWithoutSystemd(t *testing.T) {
	u := &UnitProps{Sys: newFake(), Store: state.Store{Dir: t.TempDir()}}
	ev := u.Apply(context.Background(), "x.service", &policy.UnitProperty{Name: "MemoryHigh", Value: "1G"})
	if ev.Fields[report.FieldResult] != report.ResultUnsupported {
		t.Fatalf("%+v", ev)
	}
	u2, _ := newUnits(t)
	if ev := u2.Apply(context.Background(), "", &policy.UnitProperty{Name: "MemoryHigh", Value: "1G"}); ev.Fields[report.FieldResult] != report.ResultUnsupported {
		t.Fatalf("cgroup without a unit: %+v", ev)
	}
}

func TestUnitPropsSetFails(t *testing.T) {
	u, fu := newUnits(t)
	fu.err = errors.New("access denied")
	ev := u.Apply(context.Background(), "fluent-bit.service", &policy.UnitProperty{Name: "MemoryHigh", Value: "1G"})
	if ev.Fields[report.FieldResult] != report.ResultFailed || len(u.Units()) != 0 {
		t.Fatalf("%+v, applied %v", ev, u.Units())
	}
}

func TestUnitPropsDryRun(t *testing.T) {
	u, fu := newUnits(t)
	u.Sys = DryRun{u.Sys}
	ev := u.Apply(context.Background(), "fluent-bit.service", &policy.UnitProperty{Name: "MemoryHigh", Value: "1G"})
	if ev.Fields[report.FieldResult] != report.ResultDryRun || len(fu.log) != 0 {
		t.Fatalf("dry run: %+v, calls %v", ev, fu.log)
	}
}
