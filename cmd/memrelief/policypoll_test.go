package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/fixtures"
)

// configMap lays out dir as the kubelet does for a ConfigMap volume:
// dir/policy.toml -> ..data/policy.toml, ..data -> a timestamped directory
// that an update replaces by swapping the ..data symlink.
type configMap struct {
	t   *testing.T
	dir string
	n   int
}

func (c *configMap) update(content string) {
	c.t.Helper()
	c.n++
	ts := filepath.Join(c.dir, "..2026_12_02_"+string(rune('a'+c.n)))
	if err := os.Mkdir(ts, 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts, "policy.toml"), []byte(content), 0o644); err != nil {
		c.t.Fatal(err)
	}
	tmp := filepath.Join(c.dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, "..data")); err != nil {
		c.t.Fatal(err)
	}
	link := filepath.Join(c.dir, "policy.toml")
	if _, err := os.Lstat(link); os.IsNotExist(err) {
		if err := os.Symlink(filepath.Join("..data", "policy.toml"), link); err != nil {
			c.t.Fatal(err)
		}
	}
}

// TestPollPolicy: a ConfigMap update (the ..data swap), an in-place edit,
// the file going and coming back each ask for one reload; a swap to the
// same content asks for none.
func TestPollPolicy(t *testing.T) {
	cm := &configMap{t: t, dir: t.TempDir()}
	cm.update("# v1\n")
	file := filepath.Join(cm.dir, "policy.toml")
	reload := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); pollPolicy(ctx, file, 5*time.Millisecond, reload) }()
	defer func() { cancel(); wg.Wait() }()

	expect := func(what string, want bool) {
		t.Helper()
		wait := 100 * time.Millisecond // twenty polls
		if want {
			wait = 5 * time.Second
		}
		select {
		case <-reload:
			if !want {
				t.Errorf("%s: a reload was asked for", what)
			}
		case <-time.After(wait):
			if want {
				t.Errorf("%s: no reload within %s", what, wait)
			}
		}
	}
	expect("nothing changed", false)
	cm.update("# v1\n")
	expect("a ConfigMap update with the same content", false)
	cm.update("# v2\n")
	expect("a ConfigMap update", true)
	expect("after the update", false)
	if err := os.WriteFile(filepath.Join(cm.dir, "..data", "policy.toml"), []byte("# v3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	expect("an edit in place", true)
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	expect("the file removed (the embedded default applies)", true)
	expect("while it is missing", false)
	if err := os.Symlink(filepath.Join("..data", "policy.toml"), file); err != nil {
		t.Fatal(err)
	}
	expect("the file back", true)
}

// TestRunPolicyPoll: with --policy-poll the daemon reloads a policy file
// that changed while it ran, with no signal sent.
func TestRunPolicyPoll(t *testing.T) {
	dir := fixtures.CopyDir(t, "v2-systemd")
	file := filepath.Join(dir, "p.toml")
	if err := os.WriteFile(file, []byte("[daemon]\ninterval = \"1s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(700 * time.Millisecond)
		os.WriteFile(file, []byte("[daemon]\ninterval = \"2s\"\n"), 0o644)
	}()
	_, errOut, code := runCLI(t, "run", "--root", dir, "--log", "stderr", "--no-dbus", "--dry-run", "--policy", file,
		"--policy-poll", "50ms", "--duration", "2500ms")
	if code != 0 || !strings.Contains(errOut, "policy reloaded from "+file) {
		t.Errorf("exit %d; want a reload of %s after it changed, stderr:\n%s", code, file, errOut)
	}
	_, errOut, code = runCLI(t, "run", "--root", dir, "--log", "stderr", "--no-dbus", "--dry-run", "--policy-poll", "-1s")
	if code != 2 || !strings.Contains(errOut, "--policy-poll -1s") {
		t.Errorf("--policy-poll -1s: exit %d, stderr %q; want a usage error", code, errOut)
	}
}
