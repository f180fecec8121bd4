package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/dropin"
	"github.com/memrelief/memrelief/internal/policy"
)

func check(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runCheck(context.Background(), &cli{stdout: &out, stderr: &errb}, args)
	return out.String(), errb.String(), code
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const checkPolicy = `[[rule]]
name = "pods"
units = ["kubepods-burstable-pod*.slice"]

[[rule.level]]
name = "elevated"
enter.all = ["slab_reclaimable >= 256M"]
exit.all = ["slab_reclaimable < 192M"]

[[rule.level.action]]
type = "reclaim"
amount = "25%"
of = "slab_reclaimable"
batch = "8M"
`

func TestCheckValidFile(t *testing.T) {
	f := writeFile(t, filepath.Join(t.TempDir(), "p.toml"), checkPolicy)
	out, errOut, code := check(t, f)
	if code != 0 || out != f+": valid policy: 1 rule and no node rule\n" || errOut != "" {
		t.Errorf("exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
}

func TestCheckInvalidFilePrintsEveryError(t *testing.T) {
	bad := strings.Replace(checkPolicy, "< 192M", "< 300M", 1) + "bogus = 1\n[daemon]\ninterval = \"1\"\n"
	f := writeFile(t, filepath.Join(t.TempDir(), "p.toml"), bad)
	out, errOut, code := check(t, f)
	want := f + ":8:13: rule[0].level[0].exit.all[0]: exit threshold 300M is not below enter threshold 256M; the level would flap\n" +
		f + ":15:1: rule[0].level[0].action[0].bogus: unknown key\n" +
		f + ":17:1: daemon.interval: duration \"1\": want a number with a unit, for example \"30s\", \"2m\", \"500ms\" or \"7d\"\n" +
		"memrelief check: 3 errors; the policy is rejected\n"
	if code != 1 || out != "" || errOut != want {
		t.Errorf("exit %d\nstdout %q\nstderr:\n%s\nwant:\n%s", code, out, errOut, want)
	}
	_, errOut, code = check(t, filepath.Join(t.TempDir(), "missing.toml"))
	if code != 1 || !strings.Contains(errOut, "read policy ") || !strings.Contains(errOut, "no such file or directory") {
		t.Errorf("missing file: exit %d, %q", code, errOut)
	}
	f = writeFile(t, filepath.Join(t.TempDir(), "p.toml"), "[daemon\n")
	_, errOut, code = check(t, f)
	if code != 1 || !strings.HasPrefix(errOut, f+":") || !strings.Contains(errOut, "expected '.' or ']' to end table name") {
		t.Errorf("syntax error: exit %d, %q", code, errOut)
	}
}

func TestCheckDefaultLocation(t *testing.T) {
	root := t.TempDir()
	out, errOut, code := check(t, "--root", root)
	if code != 0 || out != "(embedded)/default.toml: valid policy: 3 rules and a node rule\n" ||
		errOut != "memrelief check: "+filepath.Join(root, "etc/memrelief/policy.toml")+" does not exist; checking the embedded default policy\n" {
		t.Errorf("embedded: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	f := writeFile(t, filepath.Join(root, "etc/memrelief/policy.toml"), checkPolicy)
	out, errOut, code = check(t, "--root", root)
	if code != 0 || out != f+": valid policy: 1 rule and no node rule\n" || errOut != "memrelief check: checking "+f+"\n" {
		t.Errorf("etc: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
}

func TestCheckPrintRoundTrips(t *testing.T) {
	f := writeFile(t, filepath.Join(t.TempDir(), "p.toml"), checkPolicy)
	out, _, code := check(t, "--print", f)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	// Defaults are spelled out.
	for _, s := range []string{`interval = "2s"`, `budget_per_minute = "256M"`, `batch = "8M"`, `dwell = "10s"`} {
		if !strings.Contains(out, s+"\n") {
			t.Errorf("--print lacks %s:\n%s", s, out)
		}
	}
	printed := writeFile(t, filepath.Join(t.TempDir(), "printed.toml"), out)
	again, errOut, code := check(t, "--print", printed)
	if code != 0 {
		t.Fatalf("printed policy rejected: %s", errOut)
	}
	strip := func(s string) string { return s[strings.Index(s, "\n"):] } // first line names the source
	if strip(again) != strip(out) {
		t.Errorf("print, parse, print differs:\n%s\n---\n%s", out, again)
	}
}

func TestCheckUnit(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "etc/memrelief/policy.toml"), checkPolicy)
	slice := writeFile(t, filepath.Join(root, "etc/systemd/system/kubepods-burstable-.slice.d/50-memrelief.conf"),
		"[Slice]\nCPUWeight=100\n\n[X-MemRelief]\nEnterThreshold=elevated slab_reclaimable 512M\nReclaimBudget=64M\n")
	vendor := writeFile(t, filepath.Join(root, "usr/lib/systemd/system/kubepods-burstable-.slice.d/50-memrelief.conf"),
		"[X-MemRelief]\nExclude=yes\n")
	unit := "kubepods-burstable-pod1.slice"

	out, errOut, code := check(t, "--root", root, "--no-dbus", "--unit", unit)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, vendor) {
		t.Errorf("the /usr/lib drop-in of the same name must be overridden by /etc:\n%s", out)
	}
	for _, want := range []string{
		"drop-ins:  of kubepods.slice, kubepods-burstable.slice, kubepods-burstable-pod1.slice, found by a scan of systemd's unit directories\n           " + slice + "\n",
		"excluded ", "built-in default",
		"rule ", "pods", filepath.Join(root, "etc/memrelief/policy.toml") + ":1\n",
		"slab_reclaimable >= 512M", slice + ":5\n",
		"slab_reclaimable < 192M", filepath.Join(root, "etc/memrelief/policy.toml") + ":8\n",
		"64M", slice + ":6\n",
		"8M", filepath.Join(root, "etc/memrelief/policy.toml") + ":14\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--unit output lacks %q:\n%s", want, out)
		}
	}

	out, _, code = check(t, "--root", root, "--no-dbus", "--unit", unit, "--print")
	if code != 0 {
		t.Fatalf("--unit --print exit %d", code)
	}
	p, err := policy.Parse("printed", []byte(out))
	if err != nil || len(p.Rules) != 1 || p.Rules[0].Levels[0].Enter.All[0].Threshold != 512<<20 {
		t.Errorf("--unit --print: %v\n%s", err, out)
	}

	// A bad line costs only itself, and check says so with exit 1.
	writeFile(t, slice, "[X-MemRelief]\nEnterThreshold=elevated slab_reclaimable 100M\nReclaimBudget=64M\n")
	out, errOut, code = check(t, "--root", root, "--no-dbus", "--unit", unit)
	want := slice + ":2: EnterThreshold: exit threshold 192M is not below enter threshold 100M; the level would flap (override ignored)\n"
	if code != 1 || !strings.HasSuffix(errOut, "\n"+want) || !strings.Contains(out, slice+":3\n") || !strings.Contains(out, "slab_reclaimable >= 256M") {
		t.Errorf("exit %d\nstderr %q\nwant   %q\nstdout:\n%s", code, errOut, want, out)
	}
}

func TestCheckUsage(t *testing.T) {
	if _, _, code := check(t, "a.toml", "b.toml"); code != 2 {
		t.Errorf("two files: exit %d", code)
	}
	if _, _, code := check(t, "--colour"); code != 2 {
		t.Errorf("unknown flag: exit %d", code)
	}
}

// A unit with no drop-in, or one systemd does not have, is not passed over
// in silence.
func TestCheckUnitNotFound(t *testing.T) {
	root := t.TempDir()
	out, errOut, code := check(t, "--root", root, "--no-dbus", "--unit", "nosuch.service")
	want := "memrelief check: no drop-in found for nosuch.service by " + dropin.ViaScan + "; the policy alone applies\n"
	if code != 0 || !strings.HasSuffix(errOut, want) || !strings.Contains(out, "unit:      nosuch.service\n") {
		t.Errorf("exit %d\nstderr %q\nwant   %q\nstdout:\n%s", code, errOut, want, out)
	}
	_, errOut, _ = check(t, "--root", root, "--no-dbus", "--unit", "kubepods-burstable-pod1.slice")
	if !strings.Contains(errOut, "no drop-in found for kubepods-burstable-pod1.slice or its slices (kubepods.slice, kubepods-burstable.slice) by ") {
		t.Errorf("slice without drop-ins: %q", errOut)
	}

	units := []string{"nosuch.service"}
	for _, tc := range []struct {
		loadState string
		files     []string
		warnings  []string
		noUnit    bool
	}{
		{"not-found", nil, []string{"systemd has no unit nosuch.service (LoadState=not-found)", "no drop-in found for nosuch.service by systemd"}, true},
		{"loaded", nil, []string{"no drop-in found for nosuch.service by systemd"}, false},
		{"loaded", []string{"/etc/systemd/system/nosuch.service.d/x.conf"}, nil, false},
		{"", []string{"/etc/systemd/system/nosuch.service.d/x.conf"}, nil, false},
	} {
		ws, noUnit := unitFindings("nosuch.service", units, tc.files, "systemd", tc.loadState)
		if noUnit != tc.noUnit || len(ws) != len(tc.warnings) {
			t.Errorf("%s, %d files: %q, no unit %v", tc.loadState, len(tc.files), ws, noUnit)
			continue
		}
		for i, w := range tc.warnings {
			if !strings.HasPrefix(ws[i], w) {
				t.Errorf("%s: warning %q, want %q...", tc.loadState, ws[i], w)
			}
		}
	}
}

// Ctrl-C ends check at once, even while the policy is still being parsed.
func TestCheckInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{})
	go func() { <-started; cancel(errors.New("interrupt signal received")) }()
	_, _, err := loadUntilDone(ctx, func() (*policy.Policy, string, error) {
		close(started)
		<-release // a parse that does not end before the interrupt
		return nil, "", nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted load: %v", err)
	}

	f := writeFile(t, filepath.Join(t.TempDir(), "p.toml"), checkPolicy)
	var out, errOut bytes.Buffer
	code := runCheck(ctx, &cli{stdout: &out, stderr: &errOut}, []string{f})
	if code != 130 || out.Len() != 0 || errOut.String() != "memrelief check: interrupted: interrupt signal received\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
}
