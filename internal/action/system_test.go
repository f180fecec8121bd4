package action

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/memrelief/memrelief/internal/cgroupfs"
)

// The engine's workers measure their cgroups through one Live at once (a
// reclaim reads memory.current and memory.stat before and after): each
// must read its own cgroup's figures, never the other's half-read buffer.
func TestLiveMemoryFromConcurrentJobs(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("memory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{}
	for i := range 4 {
		cg := fmt.Sprintf("pod%d.slice", i)
		dir := filepath.Join(root, cg)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// Stat files of different lengths, so a buffer another read
		// refilled shows as a wrong figure or a parse error.
		stat := fmt.Sprintf("anon %d\nfile 1\nslab_reclaimable %d\n", i+1, (i+1)<<20) + strings.Repeat(fmt.Sprintf("pad_%d 1\n", i), 50*i)
		want[cg] = uint64(1000 + i)
		for name, text := range map[string]string{"memory.current": fmt.Sprintf("%d\n", want[cg]), "memory.high": "max\n", "memory.max": "max\n", "memory.stat": stat} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	layout, err := cgroupfs.DetectLayout(root, func(string) (int64, error) { return cgroupfs.Cgroup2Magic, nil })
	if err != nil {
		t.Fatal(err)
	}
	live := &Live{Cgroups: cgroupfs.NewReader(layout)}
	var wg sync.WaitGroup
	errs := make(chan error, len(want))
	for cg, cur := range want {
		wg.Go(func() {
			for range 500 {
				var m cgroupfs.Memory
				if err := live.Memory(cg, &m); err != nil {
					errs <- err
					return
				}
				slab, _ := m.Stat.Get(cgroupfs.SlabReclaimable)
				if m.Current != cur || slab != (cur-999)<<20 {
					errs <- fmt.Errorf("%s read memory.current %d and slab_reclaimable %d, want %d and %d", cg, m.Current, slab, cur, (cur-999)<<20)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
