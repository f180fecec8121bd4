package action

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/memrelief/memrelief/internal/state"
)

// crash is what a simulated SIGKILL panics with.
type crash struct{ at int }

// crasher counts step boundaries (before and after every change memrelief
// makes: a record saved or removed, a knob written, a drop-in restored) and
// "kills the process" at boundary at: the panic unwinds everything in
// memory, and what is on disk and in the world stays as it is.
type crasher struct{ n, at int }

func (c *crasher) step() {
	c.n++
	if c.n == c.at {
		panic(crash{c.at})
	}
}

type crashRecords struct {
	Records
	c *crasher
}

func (r crashRecords) Save(name string, v any) error {
	r.c.step()
	defer r.c.step()
	return r.Records.Save(name, v)
}

func (r crashRecords) Remove(name string) error {
	r.c.step()
	defer r.c.step()
	return r.Records.Remove(name)
}

type crashKnob struct {
	Knob
	c *crasher
}

func (k crashKnob) Write(ctx context.Context, v uint64) error {
	k.c.step()
	defer k.c.step()
	return k.Knob.Write(ctx, v)
}

func (k crashKnob) RestoreSide(ctx context.Context, s *Side) error {
	k.c.step()
	defer k.c.step()
	return k.Knob.RestoreSide(ctx, s)
}

// world is a host with one stateful knob, and how to look at it.
type world struct {
	knob   Knob
	value  func() uint64
	set    func(uint64)          // an administrator's change
	dropIn func() (string, bool) // the runtime drop-in's content, if any
	dirs   func() []string       // what is under system.control
}

func sysctlWorld(t *testing.T) world {
	f := newFake()
	f.sysctl[VFSCachePressureSysctl] = 100
	return world{
		knob:   SysctlKnob{Sys: f, Rel: VFSCachePressureSysctl},
		value:  func() uint64 { return uint64(f.sysctl[VFSCachePressureSysctl]) },
		set:    func(v uint64) { f.sysctl[VFSCachePressureSysctl] = int(v) },
		dropIn: func() (string, bool) { return "", false },
		dirs:   func() []string { return nil },
	}
}

func unitWorld(t *testing.T, adminDropIn string) world { return unitWorldIn(t, adminDropIn, false) }

// unitWorldIn is unitWorld for a transient unit (systemd-run, a pod slice)
// when transient is set: its drop-ins live under /run/systemd/transient.
func unitWorldIn(t *testing.T, adminDropIn string, transient bool) world {
	run := t.TempDir()
	u := newFakeUnits(run)
	u.add("app.service", "/system.slice/app.service", math.MaxUint64)
	u.transient["app.service"] = transient
	where := "system.control"
	if transient {
		where = "transient"
	}
	path := filepath.Join(run, "systemd", where, "app.service.d", "50-MemoryHigh.conf")
	if adminDropIn != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(adminDropIn), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return world{
		knob:  UnitKnob{Units: u, Run: run, Unit: "app.service", Name: "MemoryHigh"},
		value: func() uint64 { v, _ := u.Property(context.Background(), "app.service", "MemoryHigh"); return v },
		set:   func(v uint64) { u.props["app.service/MemoryHigh"] = v },
		dropIn: func() (string, bool) {
			data, err := os.ReadFile(path)
			return string(data), err == nil
		},
		dirs: func() []string {
			var out []string
			for _, where := range []string{"system.control", "transient"} {
				entries, _ := os.ReadDir(filepath.Join(run, "systemd", where))
				for _, e := range entries {
					out = append(out, where+"/"+e.Name())
				}
			}
			return out
		},
	}
}

// life is what the daemon does with a knob in one run: graduated values
// (a level, then a higher one with another value), then the original back.
func life(ctx context.Context, k *Knobs, knob Knob, wants []Want) {
	for _, w := range wants {
		k.Set(ctx, knob, w, false)
	}
	k.Restore(ctx, knob)
}

func TestKnobCrashAtEveryStep(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name  string
		world func(t *testing.T) world
		wants []Want
	}{
		{"vfs_cache_pressure", sysctlWorld, []Want{{Target: 200, Step: 50, Raise: true}, {Target: 200, Step: 50, Raise: true}, {Target: 300, Raise: true}}},
		{"MemoryHigh", func(t *testing.T) world { return unitWorld(t, "") }, []Want{{Target: 900 * mib}, {Target: 500 * mib}, {Target: 700 * mib}}},
		{"MemoryHigh over an administrator's runtime drop-in", func(t *testing.T) world { return unitWorld(t, "[Service]\nMemoryHigh=infinity\n") }, []Want{{Target: 900 * mib}, {Target: 500 * mib}}},
		{"MemoryHigh of a transient unit", func(t *testing.T) world { return unitWorldIn(t, "", true) }, []Want{{Target: 900 * mib}, {Target: 500 * mib}}},
	}
	for _, tc := range cases {
		for _, admin := range []bool{false, true} {
			name := tc.name
			if admin {
				name += ", administrator changes it before the restart"
			}
			t.Run(name, func(t *testing.T) {
				points := 0
				for at := 1; ; at++ {
					w := tc.world(t)
					origValue := w.value()
					origDropIn, origHas := w.dropIn()
					origDirs := fmt.Sprint(w.dirs())
					store := state.Store{Dir: t.TempDir()}
					c := &crasher{at: at}
					k := &Knobs{Records: crashRecords{store, c}}
					crashed := func() (crashed bool) {
						defer func() {
							if r := recover(); r != nil {
								if _, ok := r.(crash); !ok {
									panic(r)
								}
								crashed = true
							}
						}()
						life(context.Background(), k, crashKnob{w.knob, c}, tc.wants)
						return false
					}()
					if !crashed {
						if w.value() != origValue {
							t.Fatalf("a run without a crash left %d, want %d", w.value(), origValue)
						}
						break
					}
					points++
					adminValue := uint64(12345 * mib)
					if admin {
						w.set(adminValue)
					}
					// The next start: a new process, the same records and world.
					k2 := &Knobs{Records: store, Build: func(KnobSpec) (Knob, error) { return w.knob, nil }}
					moves := k2.Recover(context.Background())
					for _, m := range moves {
						if m.Result == MoveFailed {
							t.Fatalf("crash at step %d: recover failed: %v", at, m.Err)
						}
					}
					if admin {
						if w.value() != adminValue {
							t.Fatalf("crash at step %d: the administrator's %d was overwritten with %d", at, adminValue, w.value())
						}
						if len(moves) > 0 && moves[0].Result != MoveKept && moves[0].Result != MoveRestored {
							t.Fatalf("crash at step %d: recover said %v", at, moves[0].Result)
						}
					} else {
						if got := w.value(); got != origValue {
							t.Fatalf("crash at step %d: value %d after recovery, want the original %d", at, got, origValue)
						}
						if got, has := w.dropIn(); has != origHas || got != origDropIn {
							t.Fatalf("crash at step %d: runtime drop-in %q (present %v), want %q (present %v)", at, got, has, origDropIn, origHas)
						}
						if got := fmt.Sprint(w.dirs()); got != origDirs {
							t.Fatalf("crash at step %d: system.control holds %s, want %s", at, got, origDirs)
						}
					}
					if left, _ := store.List(""); len(left) != 0 {
						t.Fatalf("crash at step %d: records left after recovery: %v", at, left)
					}
				}
				if points < 10 {
					t.Fatalf("only %d crash points: the life of the knob is not exercised", points)
				}
				t.Logf("%d crash points, each recovered", points)
			})
		}
	}
}

func TestKnobGraduatedValuesAndStrictest(t *testing.T) {
	const mib = 1 << 20
	ctx := context.Background()
	w := unitWorld(t, "")
	k := &Knobs{Records: state.Store{Dir: t.TempDir()}}
	for _, step := range []struct {
		want Want
		set  uint64
	}{
		{Want{Target: 900 * mib}, 900 * mib}, // level elevated
		{Want{Target: 500 * mib}, 500 * mib}, // level high: another value for the same property
		{Want{Target: 900 * mib}, 900 * mib}, // back to elevated
	} {
		if m := k.Set(ctx, w.knob, step.want, false); m.Result != MoveDone || w.value() != step.set {
			t.Fatalf("want %d: %+v, value %d", step.want.Target, m, w.value())
		}
	}
	if m := k.Restore(ctx, w.knob); m.Result != MoveRestored || w.value() != math.MaxUint64 {
		t.Fatalf("restore: %+v, value %d", m, w.value())
	}
	if _, has := w.dropIn(); has || len(w.dirs()) != 0 {
		t.Fatalf("drop-in left behind: %v", w.dirs())
	}

	// An administrator's limit tighter than the policy's is never loosened.
	w.set(300 * mib)
	if m := k.Set(ctx, w.knob, Want{Target: 500 * mib}, false); m.Result != MoveNone || w.value() != 300*mib {
		t.Fatalf("loosened an administrator's MemoryHigh: %+v, value %d", m, w.value())
	}
	// Same for a raise-type knob.
	s := sysctlWorld(t)
	s.set(500)
	if m := k.Set(ctx, s.knob, Want{Target: 200, Raise: true}, false); m.Result != MoveNone || s.value() != 500 {
		t.Fatalf("lowered an administrator's vfs_cache_pressure: %+v", m)
	}
}

// The engine moves a knob on a worker while its loop reads what is managed
// for the status line: reads and moves must not race (they did: write
// confirmed an intent it had already published).
func TestKnobsReadWhileAKnobMoves(t *testing.T) {
	if !raceDetector {
		t.Skip("needs the race detector to fail: run with go test -race (make test does)")
	}
	ctx := context.Background()
	w := sysctlWorld(t)
	k := &Knobs{Records: state.Store{Dir: t.TempDir()}}
	id := w.knob.Spec().ID()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, got := range k.IDs() {
				if got != id {
					t.Errorf("managed %q, want only %q", got, id)
				}
			}
			k.Managed(id)
		}
	}()
	for range 50 {
		life(ctx, k, w.knob, []Want{{Target: 150, Raise: true}, {Target: 200, Raise: true}})
	}
	close(stop)
	<-done
	if _, _, ok := k.Managed(id); ok || w.value() != 100 {
		t.Fatalf("after the last restore: managed %v, value %d", ok, w.value())
	}
}

// Two properties of one unit, restored in the other order than they were
// set: the drop-in directory systemd made for the first goes with the last
// drop-in, and an administrator's drop-in keeps it.
func TestKnobDropInDirectoryGoesWithTheLastProperty(t *testing.T) {
	const mib = 1 << 20
	ctx := context.Background()
	for _, admin := range []bool{false, true} {
		w := unitWorld(t, "")
		high := w.knob.(UnitKnob)
		low := high
		low.Name = "MemoryLow"
		high.Units.(*fakeUnits).props["app.service/MemoryLow"] = 0 // systemd's default: no protection
		dir := filepath.Join(high.Run, "systemd", "system.control", "app.service.d")
		if admin {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "90-admin.conf"), []byte("[Service]\nCPUWeight=50\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		k := &Knobs{Records: state.Store{Dir: t.TempDir()}}
		k.Set(ctx, high, Want{Target: 900 * mib}, false)
		k.Set(ctx, low, Want{Target: 64 * mib, Raise: true}, false)
		for _, knob := range []Knob{high, low} {
			if m := k.Restore(ctx, knob); m.Result != MoveRestored {
				t.Fatalf("restore %s: %+v", knob.Spec().Name, m)
			}
		}
		entries, err := os.ReadDir(dir)
		switch {
		case admin && (err != nil || len(entries) != 1 || entries[0].Name() != "90-admin.conf"):
			t.Fatalf("with an administrator's drop-in: %v, %v; want it alone", entries, err)
		case !admin && !errors.Is(err, fs.ErrNotExist):
			t.Fatalf("drop-in directory left after both restores: %v, %v", entries, err)
		}
	}
}

func TestKnobAdministratorWins(t *testing.T) {
	ctx := context.Background()
	w := sysctlWorld(t)
	store := state.Store{Dir: t.TempDir()}
	k := &Knobs{Records: store}
	want := Want{Target: 200, Raise: true}
	if m := k.Set(ctx, w.knob, want, false); m.Result != MoveDone {
		t.Fatal(m)
	}
	w.set(150)
	if m := k.Set(ctx, w.knob, want, false); m.Result != MoveYielded || m.From != 200 || m.To != 150 {
		t.Fatalf("outside change: %+v", m)
	}
	if m := k.Set(ctx, w.knob, want, false); m.Result != MoveNone || w.value() != 150 {
		t.Fatalf("took the knob back while yielded: %+v", m)
	}
	if left, _ := store.List(""); len(left) != 0 {
		t.Fatalf("record kept after yielding: %v", left)
	}
	// Once nobody wants it, memrelief may manage it again.
	k.Restore(ctx, w.knob)
	if m := k.Set(ctx, w.knob, want, false); m.Result != MoveDone || w.value() != 200 {
		t.Fatalf("after release: %+v", m)
	}
}

func TestKnobDryRunTakesEffectAtTheMove(t *testing.T) {
	ctx := context.Background()
	w := sysctlWorld(t)
	k := &Knobs{Records: state.Store{Dir: t.TempDir()}}
	want := Want{Target: 200, Raise: true}
	if m := k.Set(ctx, w.knob, want, true); m.Result != MoveDryRun || w.value() != 100 {
		t.Fatalf("dry: %+v, value %d", m, w.value())
	}
	if m := k.Set(ctx, w.knob, want, false); m.Result != MoveDone || w.value() != 200 {
		t.Fatalf("live: %+v", m)
	}
	// Turning dry run on gives back what memrelief changed.
	if m := k.Set(ctx, w.knob, want, true); m.Result != MoveRestored || w.value() != 100 {
		t.Fatalf("dry again: %+v, value %d", m, w.value())
	}
}

func TestKnobGoneUnit(t *testing.T) {
	ctx := context.Background()
	w := unitWorld(t, "")
	u := w.knob.(UnitKnob).Units.(*fakeUnits)
	k := &Knobs{Records: state.Store{Dir: t.TempDir()}}
	if m := k.Set(ctx, w.knob, Want{Target: 1 << 30}, false); m.Result != MoveDone {
		t.Fatal(m)
	}
	delete(u.cgroups, "app.service") // the pod stopped; systemd forgot its slice
	if m := k.Restore(ctx, w.knob); m.Result != MoveGone {
		t.Fatalf("restore of a gone unit: %+v", m)
	}
	if _, has := w.dropIn(); has || len(w.dirs()) != 0 {
		t.Fatalf("drop-in of a gone unit left behind: %v", w.dirs())
	}
}

func TestKnobRecordNotSaved(t *testing.T) {
	ctx := context.Background()
	w := sysctlWorld(t)
	dir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	k := &Knobs{Records: state.Store{Dir: dir}} // not a directory: every save fails
	m := k.Set(ctx, w.knob, Want{Target: 200, Raise: true}, false)
	if m.Result != MoveFailed || w.value() != 100 {
		t.Fatalf("changed the knob without a record: %+v, value %d", m, w.value())
	}
}

func TestKnobCorruptRecordSetAside(t *testing.T) {
	store := state.Store{Dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(store.Dir, "knob-x.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	k := &Knobs{Records: store, Build: func(KnobSpec) (Knob, error) { return nil, errors.New("unused") }}
	moves := k.Recover(context.Background())
	if len(moves) != 1 || moves[0].Result != MoveFailed {
		t.Fatalf("%+v", moves)
	}
	if _, err := os.Stat(filepath.Join(store.Dir, "knob-x.json.corrupt")); err != nil {
		t.Fatal("corrupt record not set aside")
	}
}

// TestKnobRecoverSweepsTemporaries: a SIGKILL between a record's create
// and its rename leaves a temporary file (seen in the guest's 50-kill
// scenario); the next start removes it and keeps the records, so crashes
// do not pile files up in /run/memrelief.
func TestKnobRecoverSweepsTemporaries(t *testing.T) {
	store := state.Store{Dir: t.TempDir()}
	tmp := filepath.Join(store.Dir, "knob-sysctl-sys.vm.vfs_cache_pressure.3658089484.tmp")
	if err := os.WriteFile(tmp, []byte(`{"knob":`), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(store.Dir, "lock")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	k := &Knobs{Records: store, Build: func(KnobSpec) (Knob, error) { return nil, errors.New("unused") }}
	if moves := k.Recover(context.Background()); len(moves) != 0 {
		t.Fatalf("moves %+v, want none: a temporary is no record", moves)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary left after Recover: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("Recover removed a file that is not a temporary: %v", err)
	}
}

func TestUnitKnobRefusesForeignDropInPath(t *testing.T) {
	w := unitWorld(t, "")
	err := w.knob.RestoreSide(context.Background(), &Side{Path: "/etc/passwd"})
	if err == nil {
		t.Fatal("a record naming another file was obeyed")
	}
}

func TestParsePropertyValue(t *testing.T) {
	for in, want := range map[string]uint64{"512M": 512 << 20, "infinity": math.MaxUint64, "100%": 8 << 30, "50%": 4 << 30} {
		v, err := ParsePropertyValue(in, 8<<30)
		if err != nil || v != want {
			t.Errorf("ParsePropertyValue(%q) = %d, %v, want %d", in, v, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "120%"} {
		if _, err := ParsePropertyValue(bad, 8<<30); err == nil {
			t.Errorf("ParsePropertyValue(%q) accepted", bad)
		}
	}
}
