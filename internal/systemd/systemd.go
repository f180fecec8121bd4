// Package systemd answers what memrelief needs to know about the service
// manager: whether systemd runs the host, which version, and whether its
// D-Bus API is reachable.
package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	sddbus "github.com/coreos/go-systemd/v22/dbus"

	"github.com/memrelief/memrelief/internal/paths"
)

// Facts is what Probe found.
type Facts struct {
	// PID1 is true when systemd is the init process: /proc/1/comm is
	// "systemd" and /run/systemd/system exists (sd_booted's test).
	PID1 bool
	// PID1Comm is the name of PID 1, for the report when it is not systemd.
	PID1Comm string
	// Version is the manager's version ("252", "256.7-1"), empty when unknown.
	Version string
	// Bus is true when the manager answered on the system bus.
	Bus bool
	// BusErr says why the bus was not used (not tried, refused, ...).
	BusErr error
}

// MajorVersion returns the leading number of Version, 0 when unknown.
func (f Facts) MajorVersion() int {
	end := strings.IndexFunc(f.Version, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(f.Version)
	}
	n, _ := strconv.Atoi(f.Version[:end])
	return n
}

// Manager is the slice of systemd's D-Bus API the probe uses; tests fake it.
type Manager interface {
	Version(ctx context.Context) (string, error)
}

// ErrNoBus is the BusErr when Probe was told not to use D-Bus (fixture roots,
// or --no-dbus).
var ErrNoBus = errors.New("D-Bus not used")

// Probe reports the service manager of the host at roots. mgr may be nil,
// meaning D-Bus is not to be used.
func Probe(ctx context.Context, roots paths.Roots, mgr Manager) Facts {
	var f Facts
	comm, err := os.ReadFile(filepath.Join(roots.Proc, "1", "comm"))
	if err == nil {
		f.PID1Comm = strings.TrimSpace(string(comm))
	}
	_, runErr := os.Stat(filepath.Join(roots.Run, "systemd", "system"))
	f.PID1 = f.PID1Comm == "systemd" && runErr == nil
	if mgr == nil {
		f.BusErr = ErrNoBus
		return f
	}
	v, err := mgr.Version(ctx)
	if err != nil {
		f.BusErr = err
		return f
	}
	f.Bus, f.Version = true, v
	return f
}

// SystemBus is a Manager on the system bus.
type SystemBus struct{}

// Version asks the manager over the system bus. It fails when there is no
// bus socket or no systemd on it.
func (SystemBus) Version(ctx context.Context) (string, error) {
	conn, err := sddbus.NewSystemConnectionContext(ctx)
	if err != nil {
		return "", fmt.Errorf("connect to the system bus: %w", err)
	}
	defer conn.Close()
	v, err := conn.GetManagerProperty("Version")
	if err != nil {
		return "", fmt.Errorf("read systemd's Version property: %w", err)
	}
	// The property comes back in D-Bus text form: a quoted string.
	return strings.Trim(v, `"`), nil
}
