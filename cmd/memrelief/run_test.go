package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/fixtures"
)

// run in dry run against a copy of a fixture host starts, watches and
// stops cleanly; its bad options are usage errors, a policy it cannot
// load a failure.
func TestRunDryOnFixture(t *testing.T) {
	dir := fixtures.CopyDir(t, "v2-systemd")
	base := []string{"run", "--root", dir, "--log", "stderr", "--no-dbus", "--dry-run"}
	_, errOut, code := runCLI(t, append(base, "--duration", "300ms", "--log-level", "debug")...)
	if code != 0 || !strings.Contains(errOut, "notice memrelief started with (embedded)/default.toml: watching ") ||
		!strings.Contains(errOut, "notice memrelief stopped") || !strings.Contains(errOut, "debug open files limit ") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--log", "syslog"}, 2, `--log "syslog"`},
		{[]string{"--log-level", "loud"}, 2, "loud"},
		{[]string{"--metrics-listen", "10.1.2.3:9780"}, 2, "--metrics-listen"},
		{[]string{"--policy", filepath.Join(dir, "missing.toml")}, 1, "missing.toml"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
	} {
		_, errOut, code := runCLI(t, append(base, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("run %q: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}
