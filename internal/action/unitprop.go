package action

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/memrelief/memrelief/internal/policy"
)

// ErrNoSystemd is the error of unit_property on hosts without systemd on
// D-Bus, and for cgroups no unit owns (cgroupfs-driver pods, delegated
// subtrees).
var ErrNoSystemd = errors.New("no systemd unit API (not a systemd host, or D-Bus unreachable)")

// ParsePropertyValue turns a policy value into a byte count: a size,
// "infinity" (MaxUint64), or a share of physical memory (memTotal bytes),
// which is what systemd makes of "MemoryHigh=80%".
func ParsePropertyValue(s string, memTotal uint64) (uint64, error) {
	switch {
	case s == "infinity":
		return math.MaxUint64, nil
	case strings.HasSuffix(s, "%"):
		p, err := policy.ParsePercent(s)
		if err != nil {
			return 0, err
		}
		if p > 100 {
			return 0, fmt.Errorf("%s is over 100%%", s)
		}
		if memTotal == 0 {
			return 0, fmt.Errorf("%s of physical memory: MemTotal unknown", s)
		}
		return uint64(float64(memTotal) * float64(p) / 100), nil
	}
	v, err := policy.ParseSize(s)
	if err != nil {
		return 0, err
	}
	return uint64(v), nil
}

// RaiseIsStricter says which way a unit property tightens: protections
// (MemoryLow, MemoryMin) grow, limits shrink.
func RaiseIsStricter(name string) bool { return name == "MemoryLow" || name == "MemoryMin" }

// UnitKnob is one memory property of one systemd unit, set at runtime
// through systemd (which writes a drop-in under /run/systemd/system.control;
// the drop-in as it was is the knob's side state).
type UnitKnob struct {
	Units Units
	// Run is the /run root.
	Run        string
	Unit, Name string
}

// Spec implements Knob.
func (u UnitKnob) Spec() KnobSpec {
	return KnobSpec{Kind: KnobUnitProperty, Unit: u.Unit, Name: u.Name}
}

// Read implements Knob. A unit systemd no longer knows is gone.
func (u UnitKnob) Read(ctx context.Context) (uint64, error) {
	if u.Units == nil {
		return 0, ErrNoSystemd
	}
	st, err := u.Units.Unit(ctx, u.Unit)
	if err != nil {
		return 0, err
	}
	if st.LoadState == "not-found" {
		return 0, fmt.Errorf("unit %s: %w", u.Unit, ErrGone)
	}
	return u.Units.Property(ctx, u.Unit, u.Name)
}

// Write implements Knob.
func (u UnitKnob) Write(ctx context.Context, v uint64) error {
	if u.Units == nil {
		return ErrNoSystemd
	}
	return u.Units.SetProperty(ctx, u.Unit, u.Name, v)
}

// dropIn is where systemd keeps a runtime property of a system unit: under
// system.control, or for a transient unit under transient (systemd redirects
// every drop-in of a transient unit there, and removes them with the unit).
func (u UnitKnob) dropIn(transient bool) (string, error) {
	if u.Unit == "" || strings.ContainsRune(u.Unit, '/') || strings.HasPrefix(u.Unit, ".") ||
		u.Name == "" || strings.ContainsRune(u.Name, '/') {
		return "", fmt.Errorf("%q %q is not a unit and property name", u.Unit, u.Name)
	}
	dir := "system.control"
	if transient {
		dir = "transient"
	}
	return filepath.Join(u.Run, "systemd", dir, u.Unit+".d", "50-"+u.Name+".conf"), nil
}

// SaveSide implements Knob.
func (u UnitKnob) SaveSide(ctx context.Context) (*Side, error) {
	if u.Units == nil {
		return nil, ErrNoSystemd
	}
	st, err := u.Units.Unit(ctx, u.Unit)
	if err != nil {
		return nil, err
	}
	path, err := u.dropIn(st.Transient)
	if err != nil {
		return nil, err
	}
	s := &Side{Path: path, DirExisted: dirOfItsOwn(filepath.Dir(path))}
	data, err := os.ReadFile(s.Path)
	switch {
	case err == nil:
		s.Existed, s.Content = true, string(data)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read runtime drop-in: %w", err)
	}
	return s, nil
}

// RestoreSide implements Knob: the drop-in as it was, or none, and no
// directory left that memrelief caused. systemd keeps the value in memory;
// the file only matters at its next daemon-reload, which then finds what
// was there before memrelief.
func (u UnitKnob) RestoreSide(_ context.Context, s *Side) error {
	if s == nil {
		return nil
	}
	// The record names the file; it must be this knob's drop-in and no
	// other file, whatever the record says.
	control, err1 := u.dropIn(false)
	transient, err2 := u.dropIn(true)
	if err1 != nil || err2 != nil || (s.Path != control && s.Path != transient) {
		return fmt.Errorf("runtime drop-in %q is not the one of %s %s", s.Path, u.Unit, u.Name)
	}
	if s.Existed {
		if err := os.MkdirAll(filepath.Dir(s.Path), 0o755); err != nil {
			return fmt.Errorf("restore runtime drop-in: %w", err)
		}
		if err := os.WriteFile(s.Path, []byte(s.Content), 0o644); err != nil {
			return fmt.Errorf("restore runtime drop-in: %w", err)
		}
		return nil
	}
	if err := os.Remove(s.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove runtime drop-in: %w", err)
	}
	if !s.DirExisted {
		// Fails harmlessly when something else put a drop-in there since.
		_ = os.Remove(filepath.Dir(s.Path))
	}
	return nil
}

// dirOfItsOwn is whether a unit's runtime drop-in directory is there for
// more than runtime properties: it holds another kind of file, or nothing.
// One made by systemd for the properties memrelief set is not: with
// MemoryHigh and MemoryLow set one after the other, the second saw the
// directory the first made, and when their restores ran in the other
// order neither removed it. So every restore tries, and the directory goes
// with the last property drop-in, whoever made the others (an
// administrator's set-property --runtime keeps it, being still there).
func dirOfItsOwn(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	if len(entries) == 0 {
		return true
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), "50-") || !strings.HasSuffix(e.Name(), ".conf") {
			return true
		}
	}
	return false
}

var _ Knob = UnitKnob{}

// FormatValue spells a knob value: "infinity" for MaxUint64.
func FormatValue(v uint64) string {
	if v == math.MaxUint64 {
		return "infinity"
	}
	return strconv.FormatUint(v, 10)
}
