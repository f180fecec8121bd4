// Package action carries out what a level asks for: reclaim through
// memory.reclaim, vm.vfs_cache_pressure, systemd unit properties and exec
// hooks. Every change goes through System, the one boundary to the host, so
// dry run is one wrapper and tests use a fake. Every action measures what it
// achieved and knows how to undo what it changed.
package action

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/memrelief/memrelief/internal/cgroupfs"
)

// System is the host as actions see it.
type System interface {
	// Memory reads a cgroup's figures (for before/after measurements).
	Memory(cg string, m *cgroupfs.Memory) error
	// Reclaim writes memory.reclaim (see cgroupfs.Reader.Reclaim).
	Reclaim(cg string, bytes uint64, swappiness *int) error
	// Sysctl reads an integer sysctl by its path below /proc ("sys/vm/...").
	Sysctl(rel string) (int, error)
	// SetSysctl writes one.
	SetSysctl(rel string, v int) error
	// Units is systemd's unit API; nil where there is no systemd on D-Bus.
	Units() Units
	// DryRun reports whether writes are suppressed, so actions can report
	// what they would have done instead of judging an effect that cannot
	// come.
	DryRun() bool
}

// Units is the part of systemd's D-Bus API unit_property uses.
type Units interface {
	// Property returns a memory property of a unit in bytes (MaxUint64 for
	// "infinity").
	Property(ctx context.Context, unit, name string) (uint64, error)
	// SetProperty sets it at runtime (a drop-in under
	// /run/systemd/system.control that vanishes at reboot). value is a
	// byte count, or a share of physical memory when scaled is true
	// (value/2^32, systemd's MemoryHighScale and friends).
	SetProperty(ctx context.Context, unit, name string, value uint64, scaled bool) error
	// ForgetProperty removes the runtime drop-in SetProperty wrote, once
	// the previous value is back, so nothing is left behind.
	ForgetProperty(ctx context.Context, unit, name string) error
}

// Live is the real host.
type Live struct {
	Cgroups *cgroupfs.Reader
	// Proc is the procfs root sysctls are written under.
	Proc string
	// UnitAPI is nil without systemd.
	UnitAPI Units
}

// Memory implements System.
func (l *Live) Memory(cg string, m *cgroupfs.Memory) error { return l.Cgroups.Memory(cg, m) }

// Reclaim implements System.
func (l *Live) Reclaim(cg string, bytes uint64, swappiness *int) error {
	return l.Cgroups.Reclaim(cg, bytes, swappiness)
}

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

// DryRun implements System.
func (l *Live) DryRun() bool { return false }

// DryRun wraps a System so that nothing is written: the one check that
// makes --dry-run safe. Reads go through.
type DryRun struct{ System }

// ErrDryRun is what suppressed writes return.
var ErrDryRun = errors.New("dry run: not written")

// Reclaim implements System.
func (DryRun) Reclaim(string, uint64, *int) error { return ErrDryRun }

// SetSysctl implements System.
func (DryRun) SetSysctl(string, int) error { return ErrDryRun }

// Units implements System.
func (d DryRun) Units() Units {
	if d.System.Units() == nil {
		return nil
	}
	return dryUnits{d.System.Units()}
}

// DryRun implements System.
func (DryRun) DryRun() bool { return true }

type dryUnits struct{ Units }

func (dryUnits) SetProperty(context.Context, string, string, uint64, bool) error { return ErrDryRun }
func (dryUnits) ForgetProperty(context.Context, string, string) error            { return ErrDryRun }

var (
	_ System = (*Live)(nil)
	_ System = DryRun{}
)
