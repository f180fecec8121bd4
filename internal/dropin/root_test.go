package dropin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/paths"
)

// TestSymlinksStayInRoot: under an injected root, a drop-in symlink is
// resolved as if the root were "/" (systemd's --root does the same), so
// neither an absolute nor a ".." link reads a file outside it.
func TestSymlinksStayInRoot(t *testing.T) {
	outside := t.TempDir()
	secret := write(t, outside, "secret.conf", "[X-MemRelief]\nRule=outside\n")
	root := t.TempDir()
	dir := filepath.Join(root, "etc/systemd/system/a.service.d")
	// A file inside the root, reached through an absolute link as an
	// image or a fixture tree would hold it.
	write(t, root, "usr/lib/memrelief/inside.conf", "[X-MemRelief]\nReclaimBatch=8M\n")
	// Up past the root and down to the file outside; inside the root, ".."
	// stops at the root and finds the file of the same path there.
	rel := strings.Repeat("../", 12) + strings.TrimPrefix(secret, "/")
	write(t, root, strings.TrimPrefix(secret, "/"), "[X-MemRelief]\nRule=inside\n")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"10-abs.conf":    secret,                           // absolute: root + secret
		"20-dotdot.conf": rel,                              // ../../..: stops at root
		"30-in.conf":     "/usr/lib/memrelief/inside.conf", // absolute, inside
	} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	o, files, _, errs, err := Load(context.Background(), Finder{Roots: paths.Under(root)}, "a.service")
	if err != nil || len(errs) != 0 || len(files) != 3 {
		t.Fatalf("Load: files %q, errors %v, %v", files, errs, err)
	}
	if o.Rule != "inside" {
		t.Errorf("Rule = %q from %v: a symlink was followed out of the root", o.Rule, o.RuleAt)
	}
	if o.ReclaimBatch == nil || *o.ReclaimBatch != 8<<20 {
		t.Errorf("the absolute link inside the root was not read: %+v", o)
	}

	// With nothing at the link's target inside the root, the drop-in is
	// skipped with a word, and the host's file is still not read.
	if err := os.RemoveAll(filepath.Join(root, strings.TrimPrefix(secret, "/"))); err != nil {
		t.Fatal(err)
	}
	o, files, _, errs, err = Load(context.Background(), Finder{Roots: paths.Under(root)}, "a.service")
	if err != nil || o.Rule != "" || len(files) != 1 {
		t.Fatalf("Load: Rule %q, files %q, %v", o.Rule, files, err)
	}
	if len(errs) != 2 || !strings.Contains(errs.Error(), "10-abs.conf: a symlink to nothing") {
		t.Errorf("errors %v; want both dangling links named", errs)
	}
}

func TestDirectoryNamedConfWarns(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/systemd/system/a.service.d/50-x.conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	good := write(t, root, "usr/lib/systemd/system/a.service.d/50-x.conf", "[X-MemRelief]\nRule=vendor\n")
	o, files, _, errs, err := Load(context.Background(), Finder{Roots: paths.Under(root)}, "a.service")
	if err != nil || len(files) != 1 || files[0] != good || o.Rule != "vendor" {
		t.Fatalf("Load: %q, Rule %q, %v", files, o.Rule, err)
	}
	want := filepath.Join(root, "etc/systemd/system/a.service.d/50-x.conf") + ": a directory named *.conf is not a drop-in; systemd and memrelief ignore it"
	if errs.Error() != want {
		t.Errorf("errors %q; want %q", errs.Error(), want)
	}
}

func TestResolveIn(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"a/up": "../../../../..", "a/loop": "loop", "a/abs": "/a/b"} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	for in, want := range map[string]string{"a/up/etc/passwd": "etc/passwd", "a/abs/x": "a/b/x"} {
		got, err := resolveIn(root, filepath.Join(root, in))
		if err != nil || got != want {
			t.Errorf("resolveIn(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := resolveIn(root, filepath.Join(root, "a/loop/x")); err == nil || !strings.Contains(err.Error(), "more than 40 symlinks") {
		t.Errorf("loop: %v", err)
	}
}
