package dropin

import (
	"context"
	"fmt"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
)

// Systemd asks the running systemd over the system bus.
type Systemd struct{ conn *sdbus.Conn }

var _ Bus = (*Systemd)(nil)

// DialSystemd connects to systemd on the system bus. It fails where there
// is no bus (containers, hosts without systemd); callers then scan.
func DialSystemd(ctx context.Context) (*Systemd, error) {
	conn, err := sdbus.NewSystemConnectionContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to systemd over D-Bus: %w", err)
	}
	return &Systemd{conn: conn}, nil
}

// DropInPaths implements Bus with the unit's DropInPaths property, which
// systemd computes with its own search (prefix drop-ins, /run, control
// directories included).
func (s *Systemd) DropInPaths(ctx context.Context, unit string) ([]string, error) {
	p, err := s.conn.GetUnitPropertyContext(ctx, unit, "DropInPaths")
	if err != nil {
		return nil, fmt.Errorf("get DropInPaths of %s: %w", unit, err)
	}
	v, ok := p.Value.Value().([]string)
	if !ok {
		return nil, fmt.Errorf("get DropInPaths of %s: unexpected type %s", unit, p.Value.Signature())
	}
	return v, nil
}

// Close closes the bus connection.
func (s *Systemd) Close() { s.conn.Close() }
