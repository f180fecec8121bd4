package main

import (
	"os"
	"testing"
)

// kubeFlavours are the shared host trees with a Kubernetes pod, under both
// drivers and all three cgroup layouts.
var kubeFlavours = []string{"v2-systemd", "v2-cgroupfs", "hybrid-systemd", "legacy"}

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}
