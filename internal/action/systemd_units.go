package action

import (
	"context"
	"fmt"
	"strings"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"github.com/memrelief/memrelief/internal/systemd"
)

// SystemdUnits is Units over systemd's D-Bus API.
type SystemdUnits struct {
	Conn *sddbus.Conn
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

// SetProperty implements Units, as `systemctl set-property --runtime`.
func (s *SystemdUnits) SetProperty(ctx context.Context, unit, name string, value uint64) error {
	prop := sddbus.Property{Name: name, Value: dbus.MakeVariant(value)}
	if err := s.Conn.SetUnitPropertiesContext(ctx, unit, true, prop); err != nil {
		return fmt.Errorf("set %s of %s: %w", name, unit, err)
	}
	return nil
}

// Unit implements Units.
func (s *SystemdUnits) Unit(ctx context.Context, unit string) (systemd.UnitState, error) {
	typ, err := unitType(unit)
	if err != nil {
		return systemd.UnitState{}, err
	}
	var st systemd.UnitState
	p, err := s.Conn.GetUnitPropertyContext(ctx, unit, "LoadState")
	if err != nil {
		return st, fmt.Errorf("read LoadState of %s: %w", unit, err)
	}
	st.LoadState, _ = p.Value.Value().(string)
	if st.LoadState != "loaded" {
		return st, nil
	}
	if p, err := s.Conn.GetUnitPropertyContext(ctx, unit, "Transient"); err == nil {
		st.Transient, _ = p.Value.Value().(bool)
	}
	p, err = s.Conn.GetUnitTypePropertyContext(ctx, unit, typ, "ControlGroup")
	if err != nil {
		// Unit types without cgroups (targets, timers) have no such property.
		return st, nil
	}
	st.ControlGroup, _ = p.Value.Value().(string)
	// Only services and scopes can delegate (systemd refuses it for the
	// other types): one round trip less for every slice. Both have the
	// property: failing to read it is failing to know the owner, not a no
	// (the answer is cached as long as the cgroup lives).
	if typ == "Service" || typ == "Scope" {
		p, err := s.Conn.GetUnitTypePropertyContext(ctx, unit, typ, "Delegate")
		if err != nil {
			return st, fmt.Errorf("read Delegate of %s: %w", unit, err)
		}
		st.Delegate, _ = p.Value.Value().(bool)
	}
	return st, nil
}

var _ Units = (*SystemdUnits)(nil)
