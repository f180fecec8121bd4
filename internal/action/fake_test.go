package action

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/systemd"
)

// fakeSystem is a host in memory. reclaim decides what one memory.reclaim
// write does to the cgroup's figures.
type fakeSystem struct {
	mu      sync.Mutex
	mem     map[string]*cgroupfs.Memory
	sysctl  map[string]int
	writes  []string // every write, in order
	reclaim func(m *cgroupfs.Memory, n uint64, swappiness *int) error
	// gate, when set, holds every memory.reclaim write until it is closed,
	// as a kernel busy reclaiming does.
	gate chan struct{}
	// interruptible lets a held write end when its context does, as the
	// kernel's reclaim loop does on a signal.
	interruptible bool
	units         *fakeUnits
	dry           bool // guarded by mu
}

func newFake() *fakeSystem {
	return &fakeSystem{mem: map[string]*cgroupfs.Memory{}, sysctl: map[string]int{}}
}

func (f *fakeSystem) setCgroup(cg string, current, slab uint64) {
	m := &cgroupfs.Memory{Current: current, Max: cgroupfs.Unlimited, High: cgroupfs.Unlimited, HasHigh: true}
	m.Stat.Set(cgroupfs.SlabReclaimable, slab)
	m.Stat.Set(cgroupfs.Anon, current-slab)
	f.mem[cg] = m
}

func (f *fakeSystem) Memory(cg string, m *cgroupfs.Memory) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	src, ok := f.mem[cg]
	if !ok {
		return fmt.Errorf("%w: %s", cgroupfs.ErrGone, cg)
	}
	*m = *src
	return nil
}

func (f *fakeSystem) Reclaim(ctx context.Context, cg string, n uint64, swappiness *int) error {
	if f.gate != nil {
		if f.interruptible {
			select {
			case <-f.gate:
			case <-ctx.Done():
				return fmt.Errorf("interrupted: %w", ctx.Err())
			}
		} else {
			<-f.gate // a write the kernel does not let go of
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, fmt.Sprintf("reclaim %s %s", cg, cgroupfs.ReclaimRequest(n, swappiness)))
	m, ok := f.mem[cg]
	if !ok {
		return fmt.Errorf("%w: %s", cgroupfs.ErrGone, cg)
	}
	if f.reclaim == nil {
		return nil
	}
	return f.reclaim(m, n, swappiness)
}

func (f *fakeSystem) Sysctl(rel string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.sysctl[rel]
	if !ok {
		return 0, fmt.Errorf("no sysctl %s", rel)
	}
	return v, nil
}

func (f *fakeSystem) SetSysctl(rel string, v int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, fmt.Sprintf("sysctl %s=%d", rel, v))
	f.sysctl[rel] = v
	return nil
}

func (f *fakeSystem) Units() Units {
	if f.units == nil {
		return nil
	}
	return f.units
}

func (f *fakeSystem) CanReclaim() bool { return true }

func (f *fakeSystem) DryRun() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dry
}

func (f *fakeSystem) setDry(d bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dry = d
}

func (f *fakeSystem) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.writes...)
}

// freeSlab frees frac of the requested bytes from slab, and more than asked
// when overshoot > 1, the way slab reclaim behaves.
func freeSlab(overshoot float64, err error) func(m *cgroupfs.Memory, n uint64, _ *int) error {
	return func(m *cgroupfs.Memory, n uint64, _ *int) error {
		slab, _ := m.Stat.Get(cgroupfs.SlabReclaimable)
		free := min(uint64(float64(n)*overshoot), slab)
		m.Stat.Set(cgroupfs.SlabReclaimable, slab-free)
		m.Current -= free
		return err
	}
}

// fakeUnits is systemd in memory: properties by "unit/Name", the units it
// knows with their cgroups, and the runtime drop-ins it writes, as files
// under run (so that UnitKnob's side state is exercised for real).
type fakeUnits struct {
	mu      sync.Mutex
	props   map[string]uint64 // "unit/Name" -> value
	cgroups map[string]string // unit -> ControlGroup; a unit not here is not-found
	// transient units get their drop-ins under run/systemd/transient, as
	// systemd redirects them.
	transient map[string]bool
	run       string
	log       []string
	err       error
}

func newFakeUnits(run string) *fakeUnits {
	return &fakeUnits{props: map[string]uint64{}, cgroups: map[string]string{}, transient: map[string]bool{}, run: run}
}

func (u *fakeUnits) add(unit, cgroup string, high uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.cgroups[unit] = cgroup
	u.props[unit+"/MemoryHigh"] = high
}

func (u *fakeUnits) Unit(_ context.Context, unit string) (systemd.UnitState, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		return systemd.UnitState{}, u.err
	}
	cg, ok := u.cgroups[unit]
	if !ok {
		// systemd answers for any name: a unit it cannot find is not-found,
		// with every property at its default.
		return systemd.UnitState{LoadState: "not-found"}, nil
	}
	return systemd.UnitState{LoadState: "loaded", ControlGroup: cg, Transient: u.transient[unit]}, nil
}

func (u *fakeUnits) Property(_ context.Context, unit, name string) (uint64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		return 0, u.err
	}
	v, ok := u.props[unit+"/"+name]
	if !ok {
		return math.MaxUint64, nil
	}
	return v, nil
}

func (u *fakeUnits) SetProperty(_ context.Context, unit, name string, v uint64) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		return u.err
	}
	if _, ok := u.cgroups[unit]; !ok {
		return fmt.Errorf("unit %s not loaded", unit)
	}
	u.log = append(u.log, fmt.Sprintf("set %s %s=%s", unit, name, FormatValue(v)))
	u.props[unit+"/"+name] = v
	where := "system.control"
	if u.transient[unit] {
		where = "transient"
	}
	dir := filepath.Join(u.run, "systemd", where, unit+".d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "50-"+name+".conf"), []byte("[Slice]\n"+name+"="+FormatValue(v)+"\n"), 0o644)
}

var (
	_ System = (*fakeSystem)(nil)
	_ Units  = (*fakeUnits)(nil)
)
