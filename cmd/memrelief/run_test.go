package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/memrelief/memrelief/internal/fixtures"
	"github.com/memrelief/memrelief/internal/state"
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
	// Web configurations: one that protects nothing, one with a user.
	plainWeb, authWeb := filepath.Join(dir, "plain.yml"), filepath.Join(dir, "auth.yml")
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if os.WriteFile(plainWeb, nil, 0o600) != nil ||
		os.WriteFile(authWeb, []byte("basic_auth_users:\n  prometheus: "+string(hash)+"\n"), 0o600) != nil {
		t.Fatal("cannot write the web configurations")
	}
	// Beyond loopback with a user: it starts and serves.
	_, errOut, code = runCLI(t, append(base, "--duration", "300ms", "--metrics-listen", "0.0.0.0:0", "--metrics-web-config", authWeb)...)
	if code != 0 || strings.Contains(errOut, "metrics unavailable") {
		t.Errorf("--metrics-listen 0.0.0.0:0 with basic authentication: exit %d, stderr:\n%s", code, errOut)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--log", "syslog"}, 2, `--log "syslog"`},
		{[]string{"--log-level", "loud"}, 2, "loud"},
		{[]string{"--metrics-listen", "10.1.2.3:9780"}, 2, "--metrics-listen"},
		{[]string{"--metrics-listen", "10.1.2.3:9780", "--metrics-web-config", plainWeb}, 2, plainWeb + " sets neither tls_server_config nor basic_auth_users"},
		{[]string{"--metrics-listen", "127.0.0.1:0", "--metrics-web-config", filepath.Join(dir, "missing.yml")}, 2, "--metrics-web-config: open " + filepath.Join(dir, "missing.yml")},
		{[]string{"--metrics-web-config", authWeb}, 2, "without --metrics-listen"},
		{[]string{"--policy", filepath.Join(dir, "missing.toml")}, 1, "missing.toml"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
	} {
		_, errOut, code := runCLI(t, append(base, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("run %q: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// TestRunSecondInstanceObserves: while one memrelief holds the instance
// lock, a second run says so and changes nothing; a --dry-run trial never
// takes the lock, so the service can start while one runs.
func TestRunSecondInstanceObserves(t *testing.T) {
	dir := fixtures.CopyDir(t, "v2-systemd")
	lock, err := state.TakeLock(filepath.Join(dir, "run", "memrelief"))
	if err != nil {
		t.Fatal(err)
	}
	vfs := filepath.Join(dir, "proc/sys/vm/vfs_cache_pressure")
	before, _ := os.ReadFile(vfs)
	_, errOut, code := runCLI(t, "run", "--root", dir, "--log", "stderr", "--no-dbus", "--duration", "300ms")
	if code != 0 || !strings.Contains(errOut, "another memrelief acts on this host: instance lock ") ||
		!strings.Contains(errOut, "pid "+strconv.Itoa(os.Getpid())) || !strings.Contains(errOut, "observing only") {
		t.Errorf("second instance: exit %d, stderr %q; want a warning naming the holder and a start-up line that says it observes", code, errOut)
	}
	if hist, _ := filepath.Glob(filepath.Join(dir, "var/lib/memrelief/history/*")); len(hist) > 0 {
		t.Errorf("the observing instance wrote history: %v", hist)
	}
	if after, _ := os.ReadFile(vfs); string(after) != string(before) {
		t.Errorf("vfs_cache_pressure %q -> %q under an observing instance", before, after)
	}
	lock.Release()

	// A trial holds no lock: the service that starts meanwhile acts.
	done := make(chan string)
	go func() {
		_, errOut, _ := runCLI(t, "run", "--root", dir, "--log", "stderr", "--no-dbus", "--dry-run", "--duration", "2s")
		done <- errOut
	}()
	time.Sleep(300 * time.Millisecond)
	l, err := state.TakeLock(filepath.Join(dir, "run", "memrelief"))
	if err != nil {
		t.Errorf("a --dry-run trial holds the instance lock: %v", err)
	} else {
		l.Release()
	}
	if out := <-done; !strings.Contains(out, "observing only, changing nothing (not even what an earlier run left): --dry-run") {
		t.Errorf("trial's start-up line: %q", out)
	}
}

// As an ordinary user run refuses to start, unless in dry run.
func TestRunRefusesNonRoot(t *testing.T) {
	dir := fixtures.CopyDir(t, "v2-systemd")
	user := func() int { return 1000 }
	run := func(args ...string) (string, int) {
		var out, errOut strings.Builder
		code := dispatch(t.Context(), &cli{stdout: &out, stderr: &errOut, euid: user},
			append([]string{"run", "--root", dir, "--log", "stderr", "--no-dbus", "--duration", "200ms"}, args...))
		return errOut.String(), code
	}
	errOut, code := run()
	if code != 1 || !strings.HasPrefix(errOut, "memrelief run: refusing to run as user 1000: ") || !strings.Contains(errOut, "--dry-run") || strings.Contains(errOut, "started") {
		t.Errorf("as user 1000: exit %d, stderr %q", code, errOut)
	}
	errOut, code = run("--dry-run")
	if code != 0 || !strings.Contains(errOut, "memrelief started with ") {
		t.Errorf("as user 1000 with --dry-run: exit %d, stderr %q", code, errOut)
	}
}

// --no-history leaves nothing in the history directory, and --dry-run
// writes none either: a trial run of the main job on a newcomer's host
// writes nothing at all.
func TestRunNoHistoryWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		files bool
	}{{nil, true}, {[]string{"--no-history"}, false}, {[]string{"--dry-run"}, false}} {
		dir := fixtures.CopyDir(t, "v2-systemd")
		args := append([]string{"run", "--root", dir, "--log", "stderr", "--no-dbus", "--duration", "300ms"}, tc.args...)
		if _, errOut, code := runCLI(t, args...); code != 0 {
			t.Fatalf("run %q: exit %d: %s", tc.args, code, errOut)
		}
		hist, _ := filepath.Glob(filepath.Join(dir, "var/lib/memrelief/history/*"))
		if (len(hist) > 0) != tc.files {
			t.Errorf("run %q: history files %v, want some: %v", tc.args, hist, tc.files)
		}
	}
}
