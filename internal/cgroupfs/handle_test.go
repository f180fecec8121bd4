package cgroupfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestHandleRereadsOpenFiles(t *testing.T) {
	r := unifiedReader(t, map[string]string{
		"a.slice/memory.current":  "1000\n",
		"a.slice/memory.high":     "max\n",
		"a.slice/memory.max":      "4096\n",
		"a.slice/memory.stat":     "anon 10\nfile 20\nslab_reclaimable 600\n",
		"a.slice/memory.pressure": "some avg10=1.00 avg60=2.00 avg300=3.00 total=4\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
	})
	h, err := r.Open("a.slice")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var m Memory
	if err := h.Memory(&m, true); err != nil {
		t.Fatal(err)
	}
	if m.Current != 1000 || m.Max != 4096 || m.High != Unlimited {
		t.Fatalf("first read %+v", m)
	}
	// Rewrite in place (same inode, as the kernel's files behave): the
	// open descriptor must see the new figures.
	dir := filepath.Join(r.L.MemoryDir, "a.slice")
	if err := os.WriteFile(filepath.Join(dir, "memory.current"), []byte("2000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte("8192\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Memory(&m, false); err != nil {
		t.Fatal(err)
	}
	if m.Current != 2000 || m.Max != 4096 {
		t.Fatalf("without limits: current %d (want 2000), max %d (want the old 4096)", m.Current, m.Max)
	}
	if err := h.Memory(&m, true); err != nil || m.Max != 8192 {
		t.Fatalf("with limits: max %d, %v", m.Max, err)
	}
	p, err := h.Pressure()
	if err != nil || p.Some.Avg60 != 2 {
		t.Fatalf("Pressure = %+v, %v", p, err)
	}
	// A stat file larger than the buffer is read whole.
	big := make([]byte, 0, 20000)
	big = append(big, "anon 1\nfile 2\n"...)
	for len(big) < 19000 {
		big = append(big, "pgfault 123456789\n"...)
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.stat"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Memory(&m, false); err != nil {
		t.Fatalf("large memory.stat: %v", err)
	}
}

func TestHandleGone(t *testing.T) {
	r := unifiedReader(t, map[string]string{"a.slice/memory.current": "1\n"})
	h, err := r.Open("b.slice")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Memory(&Memory{}, false); !errors.Is(err, ErrGone) {
		t.Fatalf("missing cgroup: %v", err)
	}
	if _, err := r.Open("../x"); err == nil {
		t.Fatal("Open accepted a path leaving the hierarchy")
	}
}

func BenchmarkHandleMemory(b *testing.B) {
	root := b.TempDir()
	for name, body := range map[string]string{
		"cgroup.controllers":     "memory\n",
		"a.slice/memory.current": "1000\n",
		"a.slice/memory.stat":    "anon 10\nfile 20\nslab_reclaimable 600\n",
	} {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	l, _ := DetectLayout(root, func(string) (int64, error) { return Cgroup2Magic, nil })
	h, _ := NewReader(l).Open("a.slice")
	defer h.Close()
	var m Memory
	b.ReportAllocs()
	for b.Loop() {
		if err := h.Memory(&m, false); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHandleDescriptorBudget(t *testing.T) {
	r := unifiedReader(t, map[string]string{
		"a.slice/memory.current": "1\n", "a.slice/memory.stat": "anon 1\nfile 1\n",
		"b.slice/memory.current": "2\n", "b.slice/memory.stat": "anon 1\nfile 1\n",
	})
	r.MaxOpenFDs = 2
	a, _ := r.Open("a.slice")
	b, _ := r.Open("b.slice")
	var m Memory
	if err := a.Memory(&m, false); err != nil {
		t.Fatal(err)
	}
	if err := b.Memory(&m, false); err != nil || m.Current != 2 {
		t.Fatalf("over the budget, reads must still work by path: %d, %v", m.Current, err)
	}
	if r.openFDs != 2 || b.fds[hotCurrent] != -1 {
		t.Fatalf("open descriptors %d (b holds %d), want the budget of 2 held by a", r.openFDs, b.fds[hotCurrent])
	}
	// Over the budget, a read by path allocates nothing: past it, every
	// cgroup's every tick comes here.
	if n := testing.AllocsPerRun(100, func() {
		if err := b.Usage(&m, false); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("a read past the budget allocates %.0f times, want 0", n)
	}
	// The budget ran out: a's memory.stat gives its descriptor back at its
	// next read, and b's memory.current, read every tick, takes it.
	if err := a.Memory(&m, false); err != nil {
		t.Fatal(err)
	}
	if err := b.Memory(&m, false); err != nil || m.Current != 2 {
		t.Fatal(m.Current, err)
	}
	if a.fds[hotStat] != -1 || a.fds[hotCurrent] < 0 || b.fds[hotCurrent] < 0 || b.fds[hotStat] != -1 || r.openFDs != 2 {
		t.Fatalf("descriptors held: a %v, b %v (%d counted), want memory.current of both and no memory.stat", a.fds, b.fds, r.openFDs)
	}
	a.Close()
	b.Close()
	if r.openFDs != 0 {
		t.Fatalf("%d descriptors counted after Close", r.openFDs)
	}
	if r.tight {
		t.Error("the budget is free again, but cold files would still not keep descriptors")
	}
}

// TestHandleBudgetSettles: with more cgroups than the budget holds, the
// files read only when needed give their descriptors back and keep them
// given back, though that frees most of the budget: every descriptor ends
// up on a memory.current, and none on memory.stat or memory.pressure.
func TestHandleBudgetSettles(t *testing.T) {
	files := map[string]string{}
	names := []string{"a", "b", "c", "d", "e", "f"}
	for _, n := range names {
		files[n+".slice/memory.current"] = "1\n"
		files[n+".slice/memory.stat"] = "anon 1\nfile 1\n"
		files[n+".slice/memory.pressure"] = "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
	}
	r := unifiedReader(t, files)
	r.MaxOpenFDs = 6
	var hs []*Handle
	for _, n := range names {
		h, err := r.Open(n + ".slice")
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	var m Memory
	for round := range 3 {
		for _, h := range hs {
			if err := h.Memory(&m, false); err != nil {
				t.Fatal(err)
			}
			if _, err := h.Pressure(); err != nil {
				t.Fatal(err)
			}
		}
		if round == 0 {
			continue
		}
		for _, h := range hs {
			if h.fds[hotCurrent] < 0 || h.fds[hotStat] >= 0 || h.fds[hotPressure] >= 0 {
				t.Fatalf("round %d: %s holds %v; want memory.current only, on all 6 cgroups", round, h.cg, h.fds)
			}
		}
	}
	for _, h := range hs {
		h.Close()
	}
}

func TestGoneMapsENODEV(t *testing.T) {
	// Reading an open file of a removed cgroup fails with ENODEV on the
	// kernel; a plain file system cannot show that, so check the mapping.
	if err := gone(fmt.Errorf("read x: %w", syscall.ENODEV)); !errors.Is(err, ErrGone) {
		t.Fatalf("ENODEV not mapped to ErrGone: %v", err)
	}
	if err := gone(fmt.Errorf("read x: %w", syscall.EIO)); errors.Is(err, ErrGone) {
		t.Fatal("EIO mapped to ErrGone")
	}
}

// BenchmarkHandleMemoryLive reads the running host's own cgroup files
// through a Handle: the kernel's cost of generating memory.current and
// memory.stat, which fixture files on disk do not show.
func BenchmarkHandleMemoryLive(b *testing.B) {
	l, err := DetectLayout("/sys/fs/cgroup", SysStatFS)
	if err != nil || l.MemoryDir == "" {
		b.Skipf("SKIP: no memory controller on this host: %v", err)
	}
	r := NewReader(l)
	cg := ""
	if l.Mode == Unified {
		// The v2 root has no memory.current; take the first child.
		kids, _ := r.Children("")
		if len(kids) == 0 {
			b.Skip("SKIP: no child cgroup to read on this v2 host")
		}
		cg = kids[0]
	}
	h, err := r.Open(cg)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	var m Memory
	b.ReportAllocs()
	for b.Loop() {
		if err := h.Memory(&m, false); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("cgroup mode %s, cgroup %q", l.Mode, cg)
}

// On a hybrid host memory.pressure lives in the v2 tree and the memory
// files in the v1 one: a Handle must read each from its own, also past the
// descriptor budget, where it opens by path on every read.
func TestHandleHybridReadsPressureFromTheUnifiedTree(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"memory/a.slice/memory.usage_in_bytes": "5\n",
		"memory/a.slice/memory.pressure":       "some avg10=99.00 avg60=99.00 avg300=99.00 total=9\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
		"unified/a.slice/memory.pressure":      "some avg10=1.00 avg60=2.00 avg300=3.00 total=4\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
	})
	uni := filepath.Join(root, "unified")
	l, err := DetectLayout(root, fakeStatFS(map[string]int64{root: TmpfsMagic, uni: Cgroup2Magic}))
	if err != nil || l.Mode != Hybrid {
		t.Fatalf("layout %v, %v: want hybrid", l.Mode, err)
	}
	for _, budget := range []int{0, 1} {
		r := NewReader(l)
		r.MaxOpenFDs = budget // 1: memory.current takes the only descriptor
		h, err := r.Open("a.slice")
		if err != nil {
			t.Fatal(err)
		}
		var m Memory
		if err := h.Usage(&m, false); err != nil || m.Current != 5 {
			t.Fatalf("budget %d: usage %d, %v", budget, m.Current, err)
		}
		p, err := h.Pressure()
		if err != nil {
			t.Fatalf("budget %d: %v", budget, err)
		}
		if p.Some.Avg10 != 1 {
			t.Errorf("budget %d: some avg10 %v, want 1 (the v2 tree's), not the v1 tree's", budget, p.Some.Avg10)
		}
		if got, want := h.name(hotPressure), filepath.Join(uni, "a.slice", "memory.pressure"); got != want {
			t.Errorf("budget %d: pressure file named %s, want %s", budget, got, want)
		}
		h.Close()
	}
}
