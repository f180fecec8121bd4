package action

import (
	"context"
	"fmt"
	"sync"

	"github.com/memrelief/memrelief/internal/cgroupfs"
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
	gate  chan struct{}
	units *fakeUnits
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

func (f *fakeSystem) Reclaim(cg string, n uint64, swappiness *int) error {
	if f.gate != nil {
		<-f.gate
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

func (f *fakeSystem) DryRun() bool { return false }

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

type fakeUnits struct {
	mu     sync.Mutex
	props  map[string]uint64 // "unit/Name" -> value
	dropIn map[string]bool
	log    []string
	err    error
}

func (u *fakeUnits) Property(_ context.Context, unit, name string) (uint64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		return 0, u.err
	}
	v, ok := u.props[unit+"/"+name]
	if !ok {
		return 0, fmt.Errorf("unit %s not loaded", unit)
	}
	return v, nil
}

func (u *fakeUnits) SetProperty(_ context.Context, unit, name string, v uint64, scaled bool) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		return u.err
	}
	u.log = append(u.log, fmt.Sprintf("set %s %s=%d scaled=%v", unit, name, v, scaled))
	u.props[unit+"/"+name] = v
	u.dropIn[unit+"/"+name] = true
	return nil
}

func (u *fakeUnits) ForgetProperty(_ context.Context, unit, name string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.log = append(u.log, fmt.Sprintf("forget %s %s", unit, name))
	delete(u.dropIn, unit+"/"+name)
	return nil
}

var (
	_ System = (*fakeSystem)(nil)
	_ Units  = (*fakeUnits)(nil)
)
