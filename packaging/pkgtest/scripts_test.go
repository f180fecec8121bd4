package pkgtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var scripts = []string{
	"packaging/scripts/deb/postinst", "packaging/scripts/deb/prerm", "packaging/scripts/deb/postrm",
	"packaging/scripts/rpm/post.sh", "packaging/scripts/rpm/preun.sh", "packaging/scripts/rpm/postun.sh",
}

// The scripts run under /bin/sh (dash on Debian): no bashisms that fail to
// parse there.
func TestScriptsParse(t *testing.T) {
	need(t, "sh")
	repo := repoRoot(t)
	for _, s := range scripts {
		if out, err := exec.Command("sh", "-n", filepath.Join(repo, s)).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", s, err, out)
		}
	}
}

// The RPM scriptlets run what systemd's macros would, for each value of
// $1. systemctl and journalctl are stubs that log their arguments; the
// erase case of %postun is left out because it removes host directories.
func TestRPMScriptletsCallSystemctlLikeTheMacros(t *testing.T) {
	need(t, "sh")
	repo := repoRoot(t)
	tests := []struct {
		script, arg string
		want        []string // logged calls, in order
		notWant     []string
	}{
		{"post.sh", "1", []string{"systemctl --no-reload preset memrelief.service", "journalctl --update-catalog"}, nil},
		{"post.sh", "2", []string{"journalctl --update-catalog"}, []string{"preset"}},
		{"preun.sh", "0", []string{"systemctl --no-reload disable --now memrelief.service"}, nil},
		{"preun.sh", "1", nil, []string{"disable", "stop"}},
		{"postun.sh", "1", []string{"systemctl try-restart memrelief.service", "journalctl --update-catalog"}, []string{"stop"}},
	}
	for _, tc := range tests {
		t.Run(tc.script+"_"+tc.arg, func(t *testing.T) {
			logged := runWithStubs(t, filepath.Join(repo, "packaging/scripts/rpm", tc.script), tc.arg)
			pos := 0
			for _, w := range tc.want {
				i := indexFrom(logged, w, pos)
				if i < 0 {
					t.Fatalf("%s %s: %q not called (in order); calls:\n%s", tc.script, tc.arg, w, strings.Join(logged, "\n"))
				}
				pos = i + 1
			}
			for _, call := range logged {
				for _, nw := range tc.notWant {
					if strings.Contains(call, nw) {
						t.Errorf("%s %s: unexpected call %q", tc.script, tc.arg, call)
					}
				}
			}
		})
	}
}

// The Debian scripts under dpkg --root (DPKG_ROOT set) must not talk to
// the running system: no systemctl calls, no journalctl, no
// deb-systemd-invoke; deb-systemd-helper (which honours DPKG_ROOT) only.
func TestDebScriptsLeaveTheHostAloneUnderDPKGRoot(t *testing.T) {
	need(t, "sh")
	repo := repoRoot(t)
	for _, tc := range []struct{ script, arg string }{
		{"postinst", "configure"}, {"postinst", "configure 0.0.0~dev.1.gabc"},
		{"prerm", "remove"}, {"postrm", "remove"}, {"postrm", "purge"},
	} {
		t.Run(tc.script+"_"+strings.Fields(tc.arg)[0], func(t *testing.T) {
			root := t.TempDir()
			logged := runWithStubs(t, filepath.Join(repo, "packaging/scripts/deb", tc.script), append([]string{"DPKG_ROOT=" + root}, strings.Fields(tc.arg)...)...)
			for _, call := range logged {
				if !strings.HasPrefix(call, "deb-systemd-helper ") {
					t.Errorf("%s %s with DPKG_ROOT set called %q", tc.script, tc.arg, call)
				}
			}
			if tc.script == "postinst" && indexFrom(logged, "deb-systemd-helper enable memrelief.service", 0) < 0 {
				t.Errorf("postinst did not enable the unit; calls: %v", logged)
			}
			if tc.arg == "purge" && indexFrom(logged, "deb-systemd-helper purge memrelief.service", 0) < 0 {
				t.Errorf("postrm purge did not purge the enablement; calls: %v", logged)
			}
		})
	}
}

// runWithStubs runs script with args (a leading KEY=VALUE sets the
// environment) and PATH pointing at stubs of the service tools, and
// returns the stub calls.
func runWithStubs(t *testing.T, script string, args ...string) []string {
	t.Helper()
	stubs := t.TempDir()
	log := filepath.Join(stubs, "calls.log")
	for _, tool := range []string{"systemctl", "journalctl", "deb-systemd-helper", "deb-systemd-invoke"} {
		body := "#!/bin/sh\necho \"" + tool + " $*\" >>'" + log + "'\nexit 0\n"
		if err := os.WriteFile(filepath.Join(stubs, tool), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"PATH=" + stubs + ":/usr/bin:/bin"}
	for len(args) > 0 && strings.Contains(args[0], "=") {
		env, args = append(env, args[0]), args[1:]
	}
	cmd := exec.Command("sh", append([]string{script}, args...)...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sh %s %v: %v\n%s", script, args, err, out)
	}
	data, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func indexFrom(calls []string, want string, from int) int {
	for i := from; i < len(calls); i++ {
		if calls[i] == want {
			return i
		}
	}
	return -1
}
