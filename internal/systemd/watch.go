package systemd

import (
	"context"
	"fmt"
	"strings"

	"github.com/godbus/dbus/v5"
)

const (
	managerIface = "org.freedesktop.systemd1.Manager"
	managerPath  = "/org/freedesktop/systemd1"
	managerName  = "org.freedesktop.systemd1"
)

// WatchUnits subscribes to systemd's UnitNew and UnitRemoved signals on conn
// and calls changed (from its own goroutine) for every unit that owns a
// cgroup (slices, scopes, services), so the caller can rescan at once
// instead of waiting for its periodic rescan. It returns once subscribed;
// the watching stops when ctx is done or the connection closes.
func WatchUnits(ctx context.Context, conn *dbus.Conn, changed func(unit string)) error {
	for _, member := range []string{"UnitNew", "UnitRemoved"} {
		if err := conn.AddMatchSignalContext(ctx, dbus.WithMatchInterface(managerIface), dbus.WithMatchMember(member), dbus.WithMatchObjectPath(managerPath)); err != nil {
			return fmt.Errorf("match systemd %s signals: %w", member, err)
		}
	}
	// Without Subscribe, systemd does not send unit signals at all.
	if call := conn.Object(managerName, managerPath).CallWithContext(ctx, managerIface+".Subscribe", 0); call.Err != nil {
		return fmt.Errorf("subscribe to systemd signals: %w", call.Err)
	}
	ch := make(chan *dbus.Signal, 64)
	conn.Signal(ch)
	go func() {
		defer conn.RemoveSignal(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case sig, ok := <-ch:
				if !ok {
					return
				}
				if unit := unitOfSignal(sig); unit != "" {
					changed(unit)
				}
			}
		}
	}()
	return nil
}

// unitOfSignal returns the unit named by a UnitNew/UnitRemoved signal when
// it is a kind of unit that owns a cgroup, "" otherwise.
func unitOfSignal(sig *dbus.Signal) string {
	if sig.Name != managerIface+".UnitNew" && sig.Name != managerIface+".UnitRemoved" {
		return ""
	}
	if len(sig.Body) < 1 {
		return ""
	}
	unit, _ := sig.Body[0].(string)
	for _, suffix := range []string{".slice", ".scope", ".service"} {
		if strings.HasSuffix(unit, suffix) {
			return unit
		}
	}
	return ""
}
