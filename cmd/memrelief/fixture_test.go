package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/memrelief/memrelief/internal/fixtures"
)

// kubeFlavours are the shared host trees with a Kubernetes pod, under both
// drivers and all three cgroup layouts.
var kubeFlavours = []string{"v2-systemd", "v2-cgroupfs", "hybrid-systemd", "legacy"}

// copyFixture copies host tree name into a temporary directory, keeping
// symlinks as symlinks, so a test can add or remove pieces.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	src := fixtures.Dir(name)
	dst := filepath.Join(t.TempDir(), name)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, data, 0o644)
	})
	if err != nil {
		t.Fatalf("copy fixture %s: %v", name, err)
	}
	return dst
}

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}
