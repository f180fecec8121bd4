package systemd

import (
	"context"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/memrelief/memrelief/internal/bustest"
)

// privateBus starts a dbus-daemon for the test and returns its address.
func privateBus(t *testing.T) string {
	t.Helper()
	return bustest.Start(t, "session", bustest.Permissive, "D-Bus watching is exercised in the VM (packaging/e2e) only")
}

func connect(t *testing.T, addr string) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// fakeSystemd stands in for systemd: it owns org.freedesktop.systemd1,
// counts Subscribe calls and emits unit signals.
type fakeSystemd struct{ subscribed chan struct{} }

func (f *fakeSystemd) Subscribe() *dbus.Error {
	f.subscribed <- struct{}{}
	return nil
}

func TestWatchUnits(t *testing.T) {
	addr := privateBus(t)
	sd := connect(t, addr)
	fm := &fakeSystemd{subscribed: make(chan struct{}, 1)}
	if err := sd.Export(fm, managerPath, managerIface); err != nil {
		t.Fatal(err)
	}
	if reply, err := sd.RequestName(managerName, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own %s: %v %v", managerName, reply, err)
	}

	got := make(chan string, 8)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := WatchUnits(ctx, connect(t, addr), func(u string) { got <- u }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fm.subscribed:
	case <-time.After(5 * time.Second):
		t.Fatal("WatchUnits did not call Subscribe")
	}
	emit := func(member, unit string) {
		if err := sd.Emit(managerPath, managerIface+"."+member, unit, dbus.ObjectPath("/org/freedesktop/systemd1/unit/x")); err != nil {
			t.Fatal(err)
		}
	}
	emit("UnitNew", "dev-sda.device") // owns no cgroup: ignored
	emit("UnitNew", "kubepods-burstable-pod1.slice")
	emit("UnitRemoved", "cri-containerd-abc.scope")
	for _, want := range []string{"kubepods-burstable-pod1.slice", "cri-containerd-abc.scope"} {
		select {
		case u := <-got:
			if u != want {
				t.Fatalf("changed(%q), want %q", u, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no callback for %s", want)
		}
	}
}
