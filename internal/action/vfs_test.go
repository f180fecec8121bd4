package action

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
	"github.com/memrelief/memrelief/internal/state"
)

func newVFS(t *testing.T, start int) (*VFS, *fakeSystem) {
	t.Helper()
	f := newFake()
	f.sysctl[VFSCachePressureSysctl] = start
	return &VFS{Sys: f, Store: state.Store{Dir: t.TempDir()}}, f
}

func kinds(evs []report.Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, string(e.Kind))
	}
	return strings.Join(s, ",")
}

func TestVFSRaisesInStepsAndRestores(t *testing.T) {
	v, f := newVFS(t, 100)
	v.Want("a", policy.VFSCachePressure{Target: 200, Step: 50})
	for _, want := range []int{150, 200, 200} {
		v.Apply()
		if got := f.sysctl[VFSCachePressureSysctl]; got != want {
			t.Fatalf("value %d, want %d", got, want)
		}
	}
	var rec vfsState
	if ok, _ := v.Store.Load(vfsRecord, &rec); !ok || rec != (vfsState{Original: 100, Set: 200}) {
		t.Fatalf("crash record %+v (present %v)", rec, ok)
	}
	v.Want("b", policy.VFSCachePressure{Target: 300})
	v.Apply()
	if got := f.sysctl[VFSCachePressureSysctl]; got != 300 {
		t.Fatalf("highest target not applied: %d", got)
	}
	v.Release("b")
	v.Release("a")
	evs := v.Apply()
	if got := f.sysctl[VFSCachePressureSysctl]; got != 100 {
		t.Fatalf("not restored: %d", got)
	}
	if kinds(evs) != string(report.ActionUndone) {
		t.Fatalf("events %s", kinds(evs))
	}
	if ok, _ := v.Store.Load(vfsRecord, &rec); ok {
		t.Fatal("crash record left after restore")
	}
}

func TestVFSAdministratorWins(t *testing.T) {
	v, f := newVFS(t, 100)
	v.Want("a", policy.VFSCachePressure{Target: 200, Step: 50})
	v.Apply()
	f.sysctl[VFSCachePressureSysctl] = 120 // sysctl -w by an administrator
	evs := v.Apply()
	if kinds(evs) != string(report.Yielded) || !strings.Contains(evs[0].Message, "150 to 120") {
		t.Fatalf("events %s %+v", kinds(evs), evs)
	}
	v.Apply()
	if got := f.sysctl[VFSCachePressureSysctl]; got != 120 {
		t.Fatalf("overwrote the administrator's value: %d", got)
	}
	v.Release("a")
	v.Apply()
	if got := f.sysctl[VFSCachePressureSysctl]; got != 120 {
		t.Fatalf("restored over the administrator's value: %d", got)
	}
	// Once nobody wants it, a new need may manage it again from the
	// administrator's value.
	v.Want("a", policy.VFSCachePressure{Target: 200})
	v.Apply()
	if got := f.sysctl[VFSCachePressureSysctl]; got != 200 {
		t.Fatalf("did not manage again: %d", got)
	}
	v.RestoreAll()
	if got := f.sysctl[VFSCachePressureSysctl]; got != 120 {
		t.Fatalf("RestoreAll: %d, want the administrator's 120", got)
	}
}

func TestVFSAlreadyHigherIsLeftAlone(t *testing.T) {
	v, f := newVFS(t, 500)
	v.Want("a", policy.VFSCachePressure{Target: 200, Step: 50})
	if evs := v.Apply(); len(evs) != 0 || len(f.log()) != 0 {
		t.Fatalf("touched a value already above target: %v %v", evs, f.log())
	}
}

func TestVFSRecoverAfterCrash(t *testing.T) {
	v, f := newVFS(t, 100)
	v.Want("a", policy.VFSCachePressure{Target: 200})
	v.Apply()
	// The process dies here: a new VFS on the same store recovers.
	v2 := &VFS{Sys: f, Store: v.Store}
	evs := v2.Recover()
	if got := f.sysctl[VFSCachePressureSysctl]; got != 100 || kinds(evs) != string(report.ActionUndone) {
		t.Fatalf("after recovery value %d, events %s", got, kinds(evs))
	}
	if evs := v2.Recover(); len(evs) != 0 {
		t.Fatalf("second recovery did something: %s", kinds(evs))
	}

	// An administrator changed it after the crash: leave it.
	v.Want("a", policy.VFSCachePressure{Target: 200})
	v3 := &VFS{Sys: f, Store: state.Store{Dir: t.TempDir()}}
	v3.Want("a", policy.VFSCachePressure{Target: 200})
	v3.Apply()
	f.sysctl[VFSCachePressureSysctl] = 150
	v4 := &VFS{Sys: f, Store: v3.Store}
	if evs := v4.Recover(); kinds(evs) != string(report.Yielded) || f.sysctl[VFSCachePressureSysctl] != 150 {
		t.Fatalf("recovery over an administrator's change: %s, value %d", kinds(evs), f.sysctl[VFSCachePressureSysctl])
	}
}

func TestVFSCorruptRecord(t *testing.T) {
	v, f := newVFS(t, 100)
	if err := os.WriteFile(filepath.Join(v.Store.Dir, vfsRecord+".json"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	evs := v.Recover()
	if kinds(evs) != string(report.Problem) || len(f.log()) != 0 {
		t.Fatalf("corrupt record: events %s, writes %v", kinds(evs), f.log())
	}
	if _, err := os.Stat(filepath.Join(v.Store.Dir, vfsRecord+".json.corrupt")); err != nil {
		t.Fatal("corrupt record not set aside")
	}
}

func TestVFSUnwritableSysctl(t *testing.T) {
	dir := t.TempDir()
	proc := filepath.Join(dir, "proc")
	if err := os.MkdirAll(filepath.Join(proc, "sys/vm"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(proc, VFSCachePressureSysctl)
	if err := os.WriteFile(path, []byte("100\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(proc, "sys/vm"), 0o555); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// root writes read-only files; make the path a directory instead.
		os.Chmod(filepath.Join(proc, "sys/vm"), 0o755)
		os.Remove(path)
		os.Mkdir(path, 0o755)
	}
	v := &VFS{Sys: &Live{Proc: proc}, Store: state.Store{Dir: filepath.Join(dir, "state")}}
	v.Want("a", policy.VFSCachePressure{Target: 200})
	evs := v.Apply()
	if len(evs) != 1 || (evs[0].Kind != report.Problem && evs[0].Fields[report.FieldResult] != report.ResultFailed) {
		t.Fatalf("unwritable sysctl: %+v", evs)
	}
	var rec vfsState
	if ok, _ := v.Store.Load(vfsRecord, &rec); ok {
		t.Fatal("crash record left though nothing was changed")
	}
}

func TestVFSDryRun(t *testing.T) {
	v, f := newVFS(t, 100)
	v.Sys = DryRun{f}
	v.Want("a", policy.VFSCachePressure{Target: 200})
	evs := v.Apply()
	if len(f.log()) != 0 || len(evs) != 1 || evs[0].Fields[report.FieldResult] != report.ResultDryRun ||
		evs[0].Fields[report.FieldValueAfter] != "200" {
		t.Fatalf("dry run: writes %v events %+v", f.log(), evs)
	}
	// Said once, not on every tick; again when the target changes.
	if evs := v.Apply(); len(evs) != 0 {
		t.Fatalf("dry run repeated itself: %+v", evs)
	}
	v.Want("b", policy.VFSCachePressure{Target: 300})
	if evs := v.Apply(); len(evs) != 1 || evs[0].Fields[report.FieldValueAfter] != "300" {
		t.Fatalf("new dry-run target not reported: %+v", evs)
	}
}
