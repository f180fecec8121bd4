package dbusapi

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/memrelief/memrelief/internal/bustest"
)

// policyFile is the bus policy that ships in the package; the private bus
// includes it, so the tests check the policy itself.
const policyFile = "../../packaging/dbus/org.memrelief.MemRelief1.conf"

// systemDefaults is the default context of Debian's system.conf: no one
// owns names or calls methods unless a service's policy file says so.
const systemDefaults = `
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>`

type testBus struct {
	addr string
}

// startBus runs a private dbus-daemon with the system bus's defaults and
// the given policy file included ("" for none), listening on a socket
// every user can reach.
func startBus(t *testing.T, policy string) *testBus {
	t.Helper()
	include := ""
	if policy != "" {
		abs, err := filepath.Abs(policy)
		if err != nil {
			t.Fatal(err)
		}
		include = "<include>" + abs + "</include>"
	}
	return &testBus{addr: bustest.Start(t, "system", systemDefaults+"\n  "+include,
		"the D-Bus API and its bus policy are NOT tested")}
}

// conn connects as this process (root in the suite).
func (b *testBus) conn(t *testing.T) *dbus.Conn {
	t.Helper()
	c, err := dbus.Connect(b.addr)
	if err != nil {
		t.Fatalf("connect to the private bus: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dial is the Dialer the server under test uses.
func (b *testBus) dial(ctx context.Context) (Conn, error) {
	c, err := dbus.Connect(b.addr, dbus.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	return c, nil
}

// run runs a client tool against the bus, as uid (0 for root), and returns
// its combined output and error.
func (b *testBus) run(t *testing.T, uid uint32, tool string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("SKIP: %s is not installed; this check needs it", tool)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "DBUS_SYSTEM_BUS_ADDRESS=" + b.addr, "HOME=/"}
	if uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// waitOwner waits until name has an owner on the bus.
func waitOwner(t *testing.T, c *dbus.Conn, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var has bool
		if err := c.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, name).Store(&has); err == nil && has {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s has no owner after 10s", name)
}

// must returns a function that fails t when a tool run failed.
func must(t *testing.T) func(out string, err error) string {
	return func(out string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return out
	}
}

func contains(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}
