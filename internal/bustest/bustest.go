// Package bustest runs a private dbus-daemon for tests, so code that talks
// to systemd or to memrelief over D-Bus is tested against a real bus
// without touching the host's.
package bustest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Permissive is a policy that lets every connection own any name, call
// anything and receive everything: for tests of the talk, not of a policy.
const Permissive = `<policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>`

// Start runs a dbus-daemon of busType ("system" or "session") whose
// configuration holds body (policies, includes) after its listen and auth
// elements, and returns the bus address. The daemon's socket is reachable
// by every user, so tests may connect as another. The daemon stops when
// the test ends. Without dbus-daemon the test is skipped, saying loudly
// what is then not tested (untested).
func Start(t testing.TB, busType, body, untested string) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skipf("SKIP: dbus-daemon is not installed (apt-get install dbus-daemon); %s", untested)
	}
	dir := t.TempDir()
	// os.MkdirTemp makes both 0700; callers that are not root must reach
	// the socket.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "bus.conf")
	text := `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>` + busType + `</type>
  <listen>unix:path=` + filepath.Join(dir, "bus") + `</listen>
  <auth>EXTERNAL</auth>
  ` + body + `
</busconfig>
`
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+conf, "--nofork", "--nopidfile", "--nosyslog", "--print-address=1")
	cmd.Stderr = logWriter{t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dbus-daemon: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
	}()
	select {
	case a := <-addr:
		if a == "" {
			t.Fatal("dbus-daemon printed no address (see its messages above)")
		}
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("dbus-daemon did not start within 10s")
	}
	return ""
}

// logWriter passes the daemon's messages to the test log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		// Raising the fd limit is a nicety the daemon asks for and a test
		// runner need not grant.
		if !strings.Contains(l, "Failed to set fd limit") {
			w.t.Log("dbus-daemon: " + l)
		}
	}
	return len(p), nil
}
