package cgroupfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestReclaimWritesRequest(t *testing.T) {
	r := unifiedReader(t, map[string]string{"a.slice/memory.reclaim": ""})
	zero := 0
	if err := r.Reclaim(context.Background(), "a.slice", 16<<20, &zero); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(r.L.MemoryDir, "a.slice/memory.reclaim"))
	if string(got) != "16777216 swappiness=0" {
		t.Errorf("wrote %q", got)
	}
	if err := r.Reclaim(context.Background(), "gone.slice", 1, nil); !errors.Is(err, ErrGone) {
		t.Errorf("vanished cgroup: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(r.L.MemoryDir, "old.slice"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := r.Reclaim(context.Background(), "old.slice", 1, nil); !errors.Is(err, ErrNoReclaim) {
		t.Errorf("no memory.reclaim file: %v", err)
	}
	v1 := NewReader(Layout{Mode: Hybrid, Root: "/x", MemoryDir: "/x/memory"})
	if err := v1.Reclaim(context.Background(), "a", 1, nil); !errors.Is(err, ErrNoReclaim) {
		t.Errorf("v1: %v", err)
	}
}
