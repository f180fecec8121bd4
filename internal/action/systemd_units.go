package action

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// SystemdUnits is Units over systemd's D-Bus API.
type SystemdUnits struct {
	Conn *sddbus.Conn
	// Run is the /run root; runtime drop-ins live under
	// Run/systemd/system.control.
	Run string
}

// unitType is the D-Bus interface suffix of a unit's type ("Service" for
// fluent-bit.service).
func unitType(unit string) (string, error) {
	dot := strings.LastIndexByte(unit, '.')
	if dot < 0 || dot == len(unit)-1 {
		return "", fmt.Errorf("%q is not a unit name", unit)
	}
	t := unit[dot+1:]
	return strings.ToUpper(t[:1]) + t[1:], nil
}

// Property implements Units.
func (s *SystemdUnits) Property(ctx context.Context, unit, name string) (uint64, error) {
	typ, err := unitType(unit)
	if err != nil {
		return 0, err
	}
	p, err := s.Conn.GetUnitTypePropertyContext(ctx, unit, typ, name)
	if err != nil {
		return 0, fmt.Errorf("read %s of %s: %w", name, unit, err)
	}
	v, ok := p.Value.Value().(uint64)
	if !ok {
		return 0, fmt.Errorf("read %s of %s: value %v is not a byte count", name, unit, p.Value)
	}
	return v, nil
}

// SetProperty implements Units. Percentages go to the *Scale twin of the
// property (MemoryHighScale), which is how systemctl set-property sends
// "MemoryHigh=80%".
func (s *SystemdUnits) SetProperty(ctx context.Context, unit, name string, value uint64, scaled bool) error {
	prop := sddbus.Property{Name: name, Value: dbus.MakeVariant(value)}
	if scaled {
		prop = sddbus.Property{Name: name + "Scale", Value: dbus.MakeVariant(uint32(value))}
	}
	if err := s.Conn.SetUnitPropertiesContext(ctx, unit, true, prop); err != nil {
		return fmt.Errorf("set %s of %s: %w", prop.Name, unit, err)
	}
	return nil
}

// ForgetProperty implements Units: systemd names the runtime drop-in of a
// property 50-<Name>.conf under system.control/<unit>.d. Removing it after
// the previous value is back leaves the unit as it was, without a reload.
func (s *SystemdUnits) ForgetProperty(_ context.Context, unit, name string) error {
	path := filepath.Join(s.Run, "systemd", "system.control", unit+".d", "50-"+name+".conf")
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove runtime drop-in: %w", err)
	}
	return nil
}

var _ Units = (*SystemdUnits)(nil)
