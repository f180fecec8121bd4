// Package action carries out what a level asks for: reclaim through
// memory.reclaim, vm.vfs_cache_pressure, systemd unit properties and exec
// hooks. Every change goes through System, the one boundary to the host, so
// tests use a fake. Stateful changes are Knobs, moved with a write-ahead
// intent record (Knobs) so that a crash at any point can be undone. Every
// action measures what it achieved.
package action

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/systemd"
)

// System is the host as actions see it.
type System interface {
	// Memory reads a cgroup's figures (for before/after measurements).
	Memory(cg string, m *cgroupfs.Memory) error
	// Reclaim writes memory.reclaim (see cgroupfs.Reader.Reclaim); the
	// write is interrupted when ctx ends.
	Reclaim(ctx context.Context, cg string, bytes uint64, swappiness *int) error
	// CanReclaim is false where the hierarchy has no memory.reclaim at all
	// (cgroup v1), so a reclaim says "unsupported" before it measures.
	CanReclaim() bool
	// Sysctl reads an integer sysctl by its path below /proc ("sys/vm/...").
	Sysctl(rel string) (int, error)
	// SetSysctl writes one.
	SetSysctl(rel string, v int) error
	// Units is systemd's unit API; nil where there is no systemd on D-Bus.
	Units() Units
	// DryRun reports whether changes are suppressed at this moment. Every
	// action asks it right before its write (the one point of action), so
	// actions report what they would have done instead of judging an effect
	// that cannot come.
	DryRun() bool
}

// Units is the part of systemd's D-Bus API memrelief uses.
type Units interface {
	// Unit says how systemd knows a unit now.
	Unit(ctx context.Context, unit string) (systemd.UnitState, error)
	// Property returns a memory property of a unit in bytes (MaxUint64 for
	// "infinity").
	Property(ctx context.Context, unit, name string) (uint64, error)
	// SetProperty sets it at runtime (systemd writes a drop-in under
	// /run/systemd/system.control that vanishes at reboot).
	SetProperty(ctx context.Context, unit, name string, value uint64) error
}

// Live is the real host. Its methods are called from the engine's worker
// goroutines at once (one job per cgroup).
type Live struct {
	// Cgroups reads through one buffer, so reads take mu: two reclaims
	// measuring their cgroups at once would otherwise parse each other's
	// memory.current and memory.stat. Writes (memory.reclaim, which may
	// block for seconds) do not use the buffer and run unlocked.
	Cgroups *cgroupfs.Reader
	mu      sync.Mutex
	// Proc is the procfs root sysctls are written under.
	Proc string
	// UnitAPI is nil without systemd.
	UnitAPI Units
	// Dry says whether writes are suppressed now; nil means never.
	Dry func() bool
}

// Memory implements System.
func (l *Live) Memory(cg string, m *cgroupfs.Memory) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Cgroups.Memory(cg, m)
}

// Reclaim implements System.
func (l *Live) Reclaim(ctx context.Context, cg string, bytes uint64, swappiness *int) error {
	return l.Cgroups.Reclaim(ctx, cg, bytes, swappiness)
}

// CanReclaim implements System.
func (l *Live) CanReclaim() bool { return l.Cgroups.L.Mode == cgroupfs.Unified }

// Sysctl implements System.
func (l *Live) Sysctl(rel string) (int, error) {
	path := filepath.Join(l.Proc, rel)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read sysctl: %w", err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return v, nil
}

// SetSysctl implements System.
func (l *Live) SetSysctl(rel string, v int) error {
	path := filepath.Join(l.Proc, rel)
	if err := os.WriteFile(path, []byte(strconv.Itoa(v)), 0); err != nil {
		return fmt.Errorf("write sysctl: %w", err)
	}
	return nil
}

// Units implements System.
func (l *Live) Units() Units { return l.UnitAPI }

// DryRun implements System: asked at every write, so a reload that turns
// dry run on or off takes effect at the next action.
func (l *Live) DryRun() bool { return l.Dry != nil && l.Dry() }

var _ System = (*Live)(nil)
