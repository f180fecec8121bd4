package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/action"
	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/dropin"
	"github.com/memrelief/memrelief/internal/fixtures"
	"github.com/memrelief/memrelief/internal/human"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
	"github.com/memrelief/memrelief/internal/systemd"
)

// fakeSystemd is systemd's unit API in memory: units and their cgroups,
// properties, and the runtime drop-ins it writes under run, as files.
type fakeSystemd struct {
	mu      sync.Mutex
	run     string
	cgroups map[string]string // unit -> ControlGroup
	props   map[string]uint64 // "unit/Name"
	sets    []string
	// transient units' drop-ins go under run/systemd/transient, as systemd
	// puts them; slices the kubelet makes are transient.
	transient map[string]bool
	// gone makes every call fail, as a closed D-Bus connection does.
	gone bool
}

var errBusClosed = errors.New("read unix @->/run/dbus/system_bus_socket: use of closed network connection")

func newFakeSystemd(run string, units ...string) *fakeSystemd {
	f := &fakeSystemd{run: run, cgroups: map[string]string{}, props: map[string]uint64{}, transient: map[string]bool{}}
	for _, cg := range units {
		f.cgroups[filepath.Base(cg)] = cg
	}
	return f
}

func (f *fakeSystemd) Unit(_ context.Context, unit string) (systemd.UnitState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone {
		return systemd.UnitState{}, errBusClosed
	}
	cg, ok := f.cgroups[unit]
	if !ok {
		return systemd.UnitState{LoadState: "not-found"}, nil
	}
	return systemd.UnitState{LoadState: "loaded", ControlGroup: cg, Transient: f.transient[unit]}, nil
}

func (f *fakeSystemd) Property(_ context.Context, unit, name string) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone {
		return 0, errBusClosed
	}
	if v, ok := f.props[unit+"/"+name]; ok {
		return v, nil
	}
	if name == "MemoryLow" || name == "MemoryMin" {
		return 0, nil // systemd's defaults: no protection
	}
	return math.MaxUint64, nil
}

func (f *fakeSystemd) SetProperty(_ context.Context, unit, name string, v uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone {
		return errBusClosed
	}
	if _, ok := f.cgroups[unit]; !ok {
		return fmt.Errorf("unit %s not loaded", unit)
	}
	f.sets = append(f.sets, unit+" "+name+"="+action.FormatValue(v))
	f.props[unit+"/"+name] = v
	where := "system.control"
	if f.transient[unit] {
		where = "transient"
	}
	dir := filepath.Join(f.run, "systemd", where, unit+".d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "50-"+name+".conf"), []byte("[Slice]\n"+name+"="+action.FormatValue(v)+"\n"), 0o644)
}

func (f *fakeSystemd) get(unit, name string) string {
	v, _ := f.Property(context.Background(), unit, name)
	switch v {
	case math.MaxUint64:
		return "infinity"
	case 0:
		return "0"
	}
	return human.Bytes(v)
}

func (f *fakeSystemd) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sets...)
}

// dropIns lists the runtime drop-ins under system.control and transient.
func (f *fakeSystemd) dropIns() []string {
	var out []string
	for _, where := range []string{"system.control", "transient"} {
		top := filepath.Join(f.run, "systemd", where)
		filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && p != top {
				rel, _ := filepath.Rel(f.run, p)
				out = append(out, rel)
			}
			return nil
		})
	}
	sort.Strings(out)
	return out
}

const podUnit = "kubepods-burstable-pod1234_5678.slice"

func withSystemd(h *harness) *fakeSystemd {
	f := newFakeSystemd(h.roots.Run, "/kubepods.slice", "/kubepods.slice/kubepods-burstable.slice", "/"+podSlice)
	f.transient[podUnit] = true // the kubelet makes pod slices as transient units
	h.eng.cfg.Units = f
	h.eng.owners.Lookup = f
	return f
}

// Two levels with different values for one property, and a level with a
// property the other has not: entering, changing and leaving levels is a
// new desired state each time.
const graduatedPolicy = `
[daemon]
interval = "2s"
state_dir = "/run/memrelief"

[[rule]]
name = "pods"
units = ["kubepods-burstable-pod*.slice"]

[[rule.level]]
name = "elevated"
enter.all = ["slab_reclaimable >= 64M"]
exit.any = ["slab_reclaimable < 32M"]
dwell = "2s"
cooldown = "30s"

[[rule.level.action]]
type = "unit_property"
property = "MemoryHigh"
value = "900M"

[[rule.level]]
name = "high"
enter.all = ["slab_reclaimable >= 100M"]
exit.any = ["slab_reclaimable < 90M"]
dwell = "2s"
cooldown = "30s"

[[rule.level.action]]
type = "unit_property"
property = "MemoryHigh"
value = "500M"

[[rule.level.action]]
type = "unit_property"
property = "MemoryLow"
value = "64M"
`

func TestEngineGraduatedUnitProperties(t *testing.T) {
	h := newHarness(t, graduatedPolicy, false)
	sd := withSystemd(h)
	step := func(sec int, slab string, high, low string) {
		t.Helper()
		h.setSlab(slab)
		h.tickAt(sec)
		h.tickAt(sec + 2)
		if got := sd.get(podUnit, "MemoryHigh"); got != high {
			t.Fatalf("at %d s (slab %s): MemoryHigh %s, want %s; sets %v", sec, slab, got, high, sd.log())
		}
		if got := sd.get(podUnit, "MemoryLow"); got != low {
			t.Fatalf("at %d s (slab %s): MemoryLow %s, want %s", sec, slab, got, low)
		}
	}
	step(0, "83886080", "900M", "0")     // 80M: elevated
	step(10, "125829120", "500M", "64M") // 120M: high, another MemoryHigh and one more property
	step(20, "83886080", "900M", "0")    // back to elevated: high's values go, elevated's come back
	step(30, "1000", "infinity", "0")    // normal: the originals
	if left := sd.dropIns(); len(left) != 0 {
		t.Fatalf("runtime drop-ins left: %v", left)
	}
	if n := len(h.events(report.ActionUndone, "unit_property")); n < 2 {
		t.Fatalf("%d undo events", n)
	}
	if left, _ := filepath.Glob(filepath.Join(h.roots.Run, "memrelief", "knob-*")); len(left) != 0 {
		t.Fatalf("intent records left: %v", left)
	}
}

func TestEngineUnitPropertiesUndoneAtShutdown(t *testing.T) {
	h := newHarness(t, graduatedPolicy, false)
	sd := withSystemd(h)
	h.setSlab("125829120")
	h.tickAt(0)
	h.tickAt(2)
	if sd.get(podUnit, "MemoryHigh") != "500M" {
		t.Fatalf("not set: %v", sd.log())
	}
	h.eng.shutdown()
	if sd.get(podUnit, "MemoryHigh") != "infinity" || sd.get(podUnit, "MemoryLow") != "0" || len(sd.dropIns()) != 0 {
		t.Fatalf("after shutdown: MemoryHigh %s, MemoryLow %s, drop-ins %v", sd.get(podUnit, "MemoryHigh"), sd.get(podUnit, "MemoryLow"), sd.dropIns())
	}
}

// A stop that cannot put a property back (systemd unreachable) must not say
// its changes are undone: it says which are left, and the record of each
// stays for the next start.
func TestEngineShutdownSaysWhatItCouldNotUndo(t *testing.T) {
	h := newHarness(t, graduatedPolicy, false)
	sd := withSystemd(h)
	h.setSlab("125829120")
	h.tickAt(0)
	h.tickAt(2)
	if sd.get(podUnit, "MemoryHigh") != "500M" {
		t.Fatalf("not set: %v", sd.log())
	}
	sd.mu.Lock()
	sd.gone = true
	sd.mu.Unlock()
	h.eng.shutdown()
	stopped := h.events(report.Stopped, "")
	if len(stopped) != 1 || stopped[0].Priority != report.Warning ||
		!strings.Contains(stopped[0].Message, "2 of its changes could not be undone: MemoryHigh of "+podUnit+" 500M (was infinity), MemoryLow of ") ||
		!strings.Contains(stopped[0].Message, filepath.Join(h.roots.Run, "memrelief")) {
		t.Fatalf("stop events: %+v; want a warning naming the two properties left, their originals and where their records are", stopped)
	}
	records, _ := filepath.Glob(filepath.Join(h.roots.Run, "memrelief", "knob-unit*"))
	if len(records) != 2 {
		t.Fatalf("intent records after the failed restores: %v; want both kept", records)
	}

	// A record a previous run left, which this one cannot rebuild (no
	// systemd to ask): not managed, and not undone either.
	h = newHarness(t, graduatedPolicy, false)
	dir := filepath.Join(h.roots.Run, "memrelief")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rec := `{"knob":{"kind":"unit_property","unit":"app.service","name":"MemoryHigh"},"original":18446744073709551615,"set":524288000}`
	if err := os.WriteFile(filepath.Join(dir, "knob-unit_property-app.service-MemoryHigh.json"), []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	h.eng.recover(context.Background())
	h.tickAt(0)
	h.eng.shutdown()
	stopped = h.events(report.Stopped, "")
	if len(stopped) != 1 || !strings.Contains(stopped[0].Message, "1 of its changes could not be undone: MemoryHigh of app.service 500M (was infinity)") {
		t.Fatalf("stop events with a record kept from a previous run: %+v", stopped)
	}
}

// A user creates a cgroup named like a system service in the subtree their
// user manager delegates to them, and drives its figures.
func TestEngineDelegatedSubtreeIsNotTheSystemsUnit(t *testing.T) {
	const fake = "user.slice/user-1000.slice/user@1000.service/app.slice/postgresql.service"
	policyFor := func(match string) string {
		return strings.Replace(graduatedPolicy, `units = ["kubepods-burstable-pod*.slice"]`, match, 1)
	}
	for _, tt := range []struct {
		name, match string
		watched     bool
	}{
		{"rule by unit name", `units = ["postgresql.service"]`, false},
		{"rule naming the subtree's path", `paths = ["user.slice/user-1000.slice/user@1000.service/app.slice/*"]`, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, policyFor(tt.match), false)
			sd := withSystemd(h)
			for _, cg := range []string{"/system.slice", "/system.slice/postgresql.service", "/user.slice", "/user.slice/user-1000.slice", "/user.slice/user-1000.slice/user@1000.service"} {
				sd.cgroups[filepath.Base(cg)] = cg
			}
			dir := filepath.Join(h.roots.Cgroup, fake)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"memory.current", "memory.stat", "memory.max", "memory.high", "memory.pressure"} {
				data, err := os.ReadFile(filepath.Join(h.roots.Cgroup, podSlice, f))
				if err == nil {
					os.WriteFile(filepath.Join(dir, f), data, 0o644)
				}
			}
			// A system drop-in that would change the rule of the real
			// postgresql.service must not reach the user's cgroup either.
			h.eng.cfg.DropIns = &dropin.Finder{Roots: h.roots}
			di := filepath.Join(h.roots.Etc, "systemd", "system", "postgresql.service.d")
			os.MkdirAll(di, 0o755)
			os.WriteFile(filepath.Join(di, "50-memrelief.conf"), []byte("[X-MemRelief]\nEnterThreshold=elevated slab_reclaimable 1M\n"), 0o644)

			h.setSlab("125829120")
			h.tickAt(0)
			h.tickAt(2)
			h.tickAt(4)
			w := h.eng.watched[fake]
			if (w != nil) != tt.watched {
				t.Fatalf("watched %v, want %v", w != nil, tt.watched)
			}
			for _, s := range sd.log() {
				if strings.HasPrefix(s, "postgresql.service ") {
					t.Fatalf("set a property of the system's postgresql.service: %v", sd.log())
				}
			}
			if !tt.watched {
				return
			}
			if w.owner != "" || w.delegatedBy != "user@1000.service" {
				t.Fatalf("owner %q, delegated by %q", w.owner, w.delegatedBy)
			}
			said := 0
			for _, ev := range h.rec.Events() {
				if ev.Kind == report.Problem && strings.Contains(ev.Message, "delegates") {
					said++
				}
			}
			if said != 1 { // said once, not every tick
				found := []string{}
				for _, ev := range h.rec.Events() {
					found = append(found, ev.Message)
				}
				t.Fatalf("%d problem events about the delegated subtree, want 1: %v", said, found)
			}
		})
	}
}

// The loop never waits for an action: a hook that sleeps and a reclaim
// write the kernel holds do not stop ticks, and READY comes before either
// ends.
func TestEngineActionsDoNotBlockTheLoop(t *testing.T) {
	const hookPolicy = `
[daemon]
interval = "100ms"
state_dir = "/run/memrelief"
reclaim_budget = "1G"

[[rule]]
name = "pods"
units = ["kubepods-burstable-pod*.slice"]

[[rule.level]]
name = "elevated"
enter.all = ["slab_reclaimable >= 64M"]
exit.any = ["slab_reclaimable < 32M"]
dwell = "0s"
cooldown = "100ms"

[[rule.level.action]]
type = "exec"
command = ["/bin/sleep", "30"]
timeout = "60s"
`
	h := newHarness(t, hookPolicy, false)
	h.eng.cfg.Now = time.Now
	var mu sync.Mutex
	var notes []string
	h.eng.cfg.Notify = func(s string) {
		mu.Lock()
		defer mu.Unlock()
		notes = append(notes, s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.eng.Run(ctx, nil) }()
	time.Sleep(2 * time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	ready, watchdogs := -1, 0
	for i, n := range notes {
		if strings.HasPrefix(n, "READY=1") && ready < 0 {
			ready = i
		}
		if strings.Contains(n, "WATCHDOG=1") {
			watchdogs++
		}
	}
	if ready < 0 {
		t.Fatalf("no READY=1 while a hook ran: %v", notes)
	}
	// 2 s at 100 ms is 20 ticks; a loop that waited for the 30 s hook
	// would manage 1.
	if watchdogs < 10 {
		t.Fatalf("%d ticks in 2 s with a 30 s hook running", watchdogs)
	}
	var ran, skipped []report.Event
	for _, ev := range h.events(report.ActionTaken, "exec") {
		if ev.Fields[report.FieldResult] == report.ResultSkipped {
			skipped = append(skipped, ev)
		} else {
			ran = append(ran, ev)
		}
	}
	if len(ran) != 1 || !strings.Contains(ran[0].Message, "memrelief is stopping") {
		t.Fatalf("hook events: %+v", ran)
	}
	// The cooldown came round 20 times while the hook ran: said once.
	if len(skipped) != 1 {
		t.Fatalf("%d events saying the previous actions still run", len(skipped))
	}
}

// Reloading with dry_run = true stops writes at once (and gives back what
// memrelief changed); reloading with dry_run = false starts them again.
func TestEngineReloadFlipsDryRunBothWays(t *testing.T) {
	h := newHarness(t, testPolicy, false)
	reclaimFile := filepath.Join(h.roots.Cgroup, podSlice, "memory.reclaim")
	writes := func() string {
		data, _ := os.ReadFile(reclaimFile)
		os.WriteFile(reclaimFile, nil, 0o644)
		return string(data)
	}
	load := func(dry bool) {
		t.Helper()
		h.reload(strings.Replace(testPolicy, "[daemon]\n", fmt.Sprintf("[daemon]\ndry_run = %v\n", dry), 1))
	}
	h.tickAt(0)
	h.tickAt(10)
	if w := writes(); w == "" || h.vfs() != "150" {
		t.Fatalf("live: memory.reclaim %q, vfs %s", w, h.vfs())
	}
	load(true)
	h.tickAt(41) // past the cooldown: the reclaim runs again, dry
	if w := writes(); w != "" {
		t.Fatalf("memory.reclaim written after reload with dry_run = true: %q", w)
	}
	if h.vfs() != "100" {
		t.Fatalf("vfs_cache_pressure %s: dry run keeps what memrelief changed", h.vfs())
	}
	rc := h.events(report.ActionTaken, "reclaim")
	if last := rc[len(rc)-1]; last.Fields[report.FieldResult] != report.ResultDryRun || last.Fields[report.FieldDryRun] != "1" {
		t.Fatalf("dry reclaim reported as %+v", last.Fields)
	}
	load(false)
	h.tickAt(72)
	if w := writes(); w == "" {
		t.Fatal("no memory.reclaim write after reload with dry_run = false")
	}
	rc = h.events(report.ActionTaken, "reclaim")
	if last := rc[len(rc)-1]; last.Fields[report.FieldDryRun] != "" {
		t.Fatalf("live reclaim reported as dry: %+v", last.Fields)
	}
}

// A kernel trigger event is a condition a level enters on, decided for that
// cgroup the moment the event arrives, and its first write carries the
// latency from the wake-up.
func TestEnginePSIStallDecidedAtTheWakeUp(t *testing.T) {
	const stallPolicy = `
[daemon]
interval = "2s"
state_dir = "/run/memrelief"
reclaim_budget = "1G"

[[rule]]
name = "pods"
units = ["kubepods-burstable-pod*.slice"]

[rule.psi_trigger]
kind = "some"
stall = "150ms"
window = "1s"

[[rule.level]]
name = "stall"
enter.all = ["psi_stall >= 1"]
exit.all = ["psi_stall <= 0"]
dwell = "0s"
cooldown = "30s"

[[rule.level.action]]
type = "reclaim"
amount = "25%"
of = "slab_reclaimable"
batch = "16M"
budget_per_minute = "256M"
timeout = "2s"
`
	h := newHarness(t, stallPolicy, false)
	// The watcher's goroutine is not started: the test plays the kernel.
	h.eng.triggers = newTriggerWatcher(h.eng.wake, 1024)
	h.tickAt(0)
	h.tickAt(2)
	if n := len(h.events(report.LevelChanged, "")); n != 0 {
		t.Fatalf("level entered without a stall: %d events", n)
	}
	path, err := h.eng.rd.PressurePath(podSlice)
	if err != nil {
		t.Fatal(err)
	}
	h.now = h.now.Add(300 * time.Millisecond) // between ticks
	h.eng.stalled(wakeup{path: path, at: time.Now()})
	h.eng.Settle()
	lc := h.events(report.LevelChanged, "")
	if len(lc) != 1 || lc[0].Fields[report.FieldLevel] != "stall" || !strings.Contains(lc[0].Fields[report.FieldReasons], "psi_stall") {
		t.Fatalf("no level entered at the wake-up: %+v", lc)
	}
	rc := h.events(report.ActionTaken, "reclaim")
	if len(rc) != 1 || rc[0].Fields[report.FieldTriggerLatencyMs] == "" {
		t.Fatalf("reclaim at the wake-up: %+v", rc)
	}
	// A regular tick carries no latency; a minute without stalls leaves
	// the level.
	h.tickAt(4)
	h.tickAt(63)
	h.tickAt(64)
	lc = h.events(report.LevelChanged, "")
	if last := lc[len(lc)-1]; last.Fields[report.FieldLevel] != "normal" {
		t.Fatalf("still at %s a minute after the last stall", last.Fields[report.FieldLevel])
	}
	// Where the kernel refused the trigger, no event counts.
	for _, w := range h.eng.watched {
		w.armed = false
	}
	h.eng.stalled(wakeup{path: path, at: time.Now()})
	if n := len(h.events(report.LevelChanged, "")); n != len(lc) {
		t.Fatal("a stall counted on a cgroup whose trigger the kernel refused")
	}
}

// The loop takes a trigger event between ticks: with ticks ten minutes apart,
// the level is entered as soon as the event arrives.
func TestEngineRunDecidesOnTriggerEvents(t *testing.T) {
	policyText := strings.Replace(strings.Replace(testPolicy, `interval = "2s"`, `interval = "10m"`, 1),
		"[[rule.level]]\nname = \"elevated\"\nenter.all = [\"slab_reclaimable >= 64M\", \"slab_reclaimable_share >= 50%\"]\nexit.any = [\"slab_reclaimable < 32M\"]\ndwell = \"10s\"",
		"[rule.psi_trigger]\nkind = \"some\"\nstall = \"150ms\"\nwindow = \"1s\"\n\n[[rule.level]]\nname = \"elevated\"\nenter.all = [\"psi_stall >= 1\"]\nexit.all = [\"psi_stall <= 0\"]\ndwell = \"0s\"", 1)
	h := newHarness(t, policyText, true)
	h.eng.cfg.Now = time.Now
	h.eng.triggers = newTriggerWatcher(h.eng.wake, 1024) // armed by scan; the test plays the kernel
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.eng.Run(ctx, nil) }()
	defer func() { cancel(); <-done }()
	path, err := h.eng.rd.PressurePath(podSlice)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 { // Run's first tick arms the trigger
		if s, err := h.eng.Query(ctx); err == nil && len(s.Cgroups) == 1 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.eng.wake <- wakeup{path: path, at: time.Now()}
	for range 100 {
		s, err := h.eng.Query(ctx)
		if err == nil && len(s.Cgroups) == 1 && s.Cgroups[0].Level == "elevated" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("a trigger event between ticks entered no level")
}

// On a cgroup v1 host the per-cgroup figure is kernel memory, and events say
// so; reclaim, which v1 cannot do, is reported once per cgroup, not every
// cooldown; the start-up line says which actions the host gets.
func TestEngineOnV1SaysWhatItIs(t *testing.T) {
	roots := fixtures.Copy(t, "legacy")
	pol, err := policy.Parse("test.toml", []byte(strings.Replace(testPolicy, `enter.all = ["slab_reclaimable >= 64M", "slab_reclaimable_share >= 50%"]`, `enter.all = ["kernel_memory >= 1M"]`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	layout, err := cgroupfs.DetectLayout(roots.Cgroup, func(string) (int64, error) { return 0, nil })
	if err != nil || layout.Mode == cgroupfs.Unified {
		t.Fatalf("layout %+v, %v", layout, err)
	}
	rec := &report.Recorder{}
	now := time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)
	e := New(Config{Roots: roots, Layout: layout, Policy: pol, Sink: rec, Now: func() time.Time { return now }})
	t.Cleanup(e.Close)
	e.emit(e.startedEvent())
	for sec := 0; sec <= 200; sec += 2 {
		now = time.Date(2026, 11, 24, 6, 0, sec, 0, time.UTC)
		e.Tick(context.Background())
		e.Settle()
	}
	var started string
	unsupported := map[string]int{}
	kmem := 0
	for _, ev := range rec.Events() {
		if ev.Kind == report.Started {
			started = ev.Message
		}
		if ev.Fields[report.FieldSlabReclaimable] != "" {
			t.Errorf("a v1 event calls kernel memory slab_reclaimable: %s %v", ev.Message, ev.Fields)
		}
		if ev.Fields[report.FieldKernelMemory] != "" {
			kmem++
		}
		if ev.Fields[report.FieldAction] == "reclaim" && ev.Fields[report.FieldResult] == report.ResultUnsupported {
			unsupported[ev.Fields[report.FieldCgroup]]++
		}
	}
	if !strings.Contains(started, "kernel memory") || !strings.Contains(started, "there is no memory.reclaim") {
		t.Errorf("start-up line: %s", started)
	}
	if kmem == 0 || len(unsupported) == 0 {
		t.Fatalf("no level with kernel memory reached on the v1 fixture (%d events with it, unsupported %v)", kmem, unsupported)
	}
	for cg, n := range unsupported {
		if n != 1 {
			t.Errorf("%s: unsupported reclaim reported %d times in 200 s", cg, n)
		}
	}
	// Status, D-Bus and metrics read the snapshot: kernel memory, no slab.
	for _, c := range e.snapshot().Cgroups {
		if c.HasSlab || !c.HasKernel || c.KernelMemoryBytes == 0 {
			t.Errorf("%s on v1: slab %v (%d), kernel memory %v (%d)", c.Cgroup, c.HasSlab, c.SlabReclaimableBytes, c.HasKernel, c.KernelMemoryBytes)
		}
	}
}

// Every action type the policy knows is carried out: a type added to the
// policy without a kind here fails, and so does a kind that implements none
// of the three ways.
func TestEveryActionTypeHasAKind(t *testing.T) {
	types := policy.ActionTypes()
	if len(types) < 6 {
		t.Fatalf("policy lists %d action types", len(types))
	}
	k := kinds()
	for _, at := range types {
		switch k[at].(type) {
		case eventKind, oneShotKind, knobKind:
		default:
			t.Errorf("action type %s has no kind in the engine", at)
		}
	}
	if len(k) != len(types) {
		t.Errorf("%d kinds for %d action types", len(k), len(types))
	}
}

// addPodSlices makes n more burstable pod slices, copies of the fixture's
// pod, and returns their parent directory.
func (h *harness) addPodSlices(n int) string {
	for i := range n {
		h.addPodCopy(fmt.Sprintf("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%04d.slice", i))
	}
	return filepath.Join(h.roots.Cgroup, "kubepods.slice/kubepods-burstable.slice")
}

// addPodCopy makes cgroup cg with the memory files of the fixture's pod.
func (h *harness) addPodCopy(cg string) {
	h.t.Helper()
	dir := filepath.Join(h.roots.Cgroup, cg)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		h.t.Fatal(err)
	}
	for _, f := range []string{"memory.current", "memory.stat", "memory.max", "memory.high"} {
		if data, err := os.ReadFile(filepath.Join(h.roots.Cgroup, podSlice, f)); err == nil {
			os.WriteFile(filepath.Join(dir, f), data, 0o644)
		}
	}
}

// A start with more pods than daemon.max_cgroups still watches the host's
// services: kubepods.slice/ sorts before system.slice/ and a walk lists it
// first, and guaranteed pods (kubepods.slice/kubepods-pod*.slice) are as
// shallow as services, so the host's own cgroups must come before
// Kubernetes' tree, then shallower pods before deeper.
func TestEngineWatchesServicesBeforePodsPastTheLimit(t *testing.T) {
	pol := strings.Replace(testPolicy, "[daemon]\n", "[daemon]\nmax_cgroups = 3\n", 1)
	pol = strings.Replace(pol, `units = ["kubepods-burstable-pod*.slice"]`, `units = ["kubepods-burstable-pod*.slice", "kubepods-pod*.slice"]`, 1) + `
[[rule]]
name = "services"
paths = ["system.slice/*"]

[[rule.level]]
name = "elevated"
enter.all = ["slab_reclaimable >= 64M"]
exit.any = ["slab_reclaimable < 32M"]

[[rule.level.action]]
type = "event"
`
	h := newHarness(t, pol, true)
	h.addPodSlices(5)
	var guaranteed []string
	for i := range 3 {
		cg := fmt.Sprintf("kubepods.slice/kubepods-pod%04d.slice", i)
		h.addPodCopy(cg)
		guaranteed = append(guaranteed, cg)
	}
	h.tickAt(0)
	var got []string
	for cg := range h.eng.watched {
		got = append(got, cg)
	}
	slices.Sort(got)
	want := []string{guaranteed[0], guaranteed[1], "system.slice/e2e-runner.service"}
	if !slices.Equal(got, want) {
		t.Fatalf("watched %q past max_cgroups = 3, want %q (the service, then the shallowest pods)", got, want)
	}
}

// Cgroups past daemon.max_cgroups are left out and named; the ones watched
// keep their place, and the daemon says when the limit no longer bites.
func TestEngineBoundsWatchedCgroups(t *testing.T) {
	h := newHarness(t, strings.Replace(testPolicy, "[daemon]\n", "[daemon]\nmax_cgroups = 3\n", 1), true)
	parent := h.addPodSlices(5)
	h.tickAt(0)
	if n := len(h.eng.watched); n != 3 {
		t.Fatalf("%d cgroups watched with max_cgroups = 3", n)
	}
	said := h.warnings("max_cgroups")
	if len(said) != 1 || !strings.Contains(said[0], "3 more") || !strings.Contains(said[0], "kubepods-burstable-pod") {
		t.Fatalf("left-out report: %q", said)
	}
	h.tickAt(11) // a rescan with nothing changed says nothing new
	for i := range 5 {
		os.RemoveAll(filepath.Join(parent, fmt.Sprintf("kubepods-burstable-pod%04d.slice", i)))
	}
	h.tickAt(22)
	h.tickAt(33)
	said = h.warnings("max_cgroups")
	if len(said) != 2 || !strings.Contains(said[1], "watched again") {
		t.Fatalf("after the churn: %q", said)
	}
}

// A hook gets the level's event on its stdin, stamped with the time of the
// decision, as the journal's copy is.
func TestEngineHookPayloadHasTheDecisionsTime(t *testing.T) {
	out := filepath.Join(t.TempDir(), "payload.json")
	hookPolicy := `
[daemon]
interval = "2s"
state_dir = "/run/memrelief"

[[rule]]
name = "pods"
units = ["kubepods-burstable-pod*.slice"]

[[rule.level]]
name = "elevated"
enter.all = ["slab_reclaimable >= 64M"]
exit.any = ["slab_reclaimable < 32M"]
dwell = "0s"

[[rule.level.action]]
type = "exec"
command = ["/bin/sh", "-c", "cat > ` + out + `"]
timeout = "10s"
`
	h := newHarness(t, hookPolicy, false)
	h.tickAt(0)
	h.tickAt(2)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the hook wrote no payload: %v (events %+v)", err, h.events(report.ActionTaken, "exec"))
	}
	var p struct {
		Event string `json:"event"`
		Time  string `json:"time"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatalf("payload %q: %v", data, err)
	}
	lc := h.events(report.LevelChanged, "")
	if len(lc) == 0 {
		t.Fatal("no level change")
	}
	if want := lc[0].Time.UTC().Format(time.RFC3339Nano); p.Event != string(report.LevelChanged) || p.Time != want {
		t.Fatalf("hook payload event %q at %q; want %q at %q, the level change's", p.Event, p.Time, report.LevelChanged, want)
	}
}

// spendingPolicy is testPolicy entering at once, with a reclaim budget of
// 16M a minute that its first reclaim spends.
func spendingPolicy() string {
	p := strings.Replace(testPolicy, `dwell = "10s"`, `dwell = "0s"`, 1)
	return strings.Replace(p, `budget_per_minute = "256M"`, `budget_per_minute = "16M"`, 1)
}

// A reload that gives a cgroup another rule makes its record anew; the
// reclaim budget and the in-flight write are the cgroup's, and stay: the
// new record does not begin the minute's budget again.
func TestEngineRuleChangeKeepsTheCgroupsReclaimBudget(t *testing.T) {
	spend := spendingPolicy()
	h := newHarness(t, spend, false)
	h.tickAt(0)
	rc := h.events(report.ActionTaken, "reclaim")
	if len(rc) != 1 || rc[0].Fields[report.FieldResult] == report.ResultSkipped {
		t.Fatalf("first reclaim: %+v", rc)
	}
	renamed := strings.Replace(spend, `name = "pods"`, `name = "pods-renamed"`, 1)
	h.reload(renamed)
	h.tickAt(2)
	if w := h.eng.watched[podSlice]; w == nil || w.rule.Name != "pods-renamed" {
		t.Fatal("the pod slice is not watched under the renamed rule")
	}
	rc = h.events(report.ActionTaken, "reclaim")
	if len(rc) != 2 || rc[1].Fields[report.FieldResult] != report.ResultSkipped || !strings.Contains(rc[1].Message, "budget spent") {
		t.Fatalf("reclaims after the rule was renamed: %+v; want the second skipped, the minute's 16M spent", rc)
	}
	// A rule put first now matches the cgroup, the old one staying: the
	// walk makes the record anew.
	rules := strings.Index(renamed, "[[rule]]")
	h.reload(renamed[:rules] + strings.Replace(renamed[rules:], `name = "pods-renamed"`, `name = "first"`, 1) + "\n" + renamed[rules:])
	h.tickAt(4)
	if w := h.eng.watched[podSlice]; w == nil || w.rule.Name != "first" {
		t.Fatal("the pod slice is not watched under the rule put first")
	}
	rc = h.events(report.ActionTaken, "reclaim")
	if len(rc) != 3 || rc[2].Fields[report.FieldResult] != report.ResultSkipped {
		t.Fatalf("reclaims after another rule took the cgroup: %+v; want the third skipped", rc)
	}
}

// The hand-over waits for a walk that works: a reload whose walk failed
// still gives the cgroup its budget when the next walk finds it.
func TestEngineReclaimHandOverOutlivesAFailedWalk(t *testing.T) {
	spend := spendingPolicy()
	h := newHarness(t, spend, false)
	h.tickAt(0)
	restore := h.unlistRoot()
	h.reload(strings.Replace(spend, `name = "pods"`, `name = "pods-renamed"`, 1))
	if len(h.warnings("list cgroups")) != 1 {
		t.Fatal("the reload's walk did not fail")
	}
	restore()
	h.tickAt(12) // RescanEvery after the failed walk
	if w := h.eng.watched[podSlice]; w == nil || w.rule.Name != "pods-renamed" {
		t.Fatal("the pod slice is not watched again under the renamed rule")
	}
	rc := h.events(report.ActionTaken, "reclaim")
	if len(rc) != 2 || rc[1].Fields[report.FieldResult] != report.ResultSkipped {
		t.Fatalf("reclaims: %+v; want the second skipped, the minute's 16M spent before the reload", rc)
	}
}
