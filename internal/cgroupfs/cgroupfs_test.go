package cgroupfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/fixtures"
	"github.com/memrelief/memrelief/internal/psi"
)

func fakeStatFS(m map[string]int64) StatFS {
	return func(p string) (int64, error) {
		if v, ok := m[p]; ok {
			return v, nil
		}
		return 0xef53, nil // ext4
	}
}

func TestDetectLayoutByMagic(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "memory"), 0o755); err != nil {
		t.Fatal(err)
	}
	uni := filepath.Join(root, "unified")
	tests := []struct {
		name       string
		magic      map[string]int64
		want       Mode
		memDir     string
		unifiedDir string
	}{
		{"unified", map[string]int64{root: Cgroup2Magic}, Unified, root, root},
		{"hybrid", map[string]int64{root: TmpfsMagic, uni: Cgroup2Magic}, Hybrid, filepath.Join(root, "memory"), uni},
		{"legacy", map[string]int64{root: TmpfsMagic}, Legacy, filepath.Join(root, "memory"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := DetectLayout(root, fakeStatFS(tt.magic))
			if err != nil {
				t.Fatal(err)
			}
			if l.Mode != tt.want || l.MemoryDir != tt.memDir || l.UnifiedDir != tt.unifiedDir {
				t.Errorf("got mode %s memory %q unified %q, want %s %q %q", l.Mode, l.MemoryDir, l.UnifiedDir, tt.want, tt.memDir, tt.unifiedDir)
			}
			if len(l.Evidence) == 0 || !strings.Contains(l.Evidence[0], "statfs") {
				t.Errorf("evidence does not name statfs: %q", l.Evidence)
			}
		})
	}
}

func TestDetectLayoutFallbackOnPlainDirectories(t *testing.T) {
	l, err := DetectLayout(fixtures.Roots("hybrid-dev").Cgroup, fakeStatFS(nil))
	if err != nil {
		t.Fatal(err)
	}
	if l.Mode != Hybrid {
		t.Fatalf("mode = %s, want hybrid", l.Mode)
	}
	if !strings.Contains(strings.Join(l.Evidence, "\n"), "inferred from the files present") {
		t.Errorf("evidence does not say the layout was inferred: %q", l.Evidence)
	}
	if _, err := DetectLayout(t.TempDir(), fakeStatFS(nil)); err == nil || !strings.Contains(err.Error(), "holds no cgroup hierarchy") {
		t.Errorf("empty directory: error = %v", err)
	}
	if _, err := DetectLayout(filepath.Join(t.TempDir(), "nope"), fakeStatFS(nil)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing root: error = %v", err)
	}
}

func TestDetectLayoutMemoryControllerMissing(t *testing.T) {
	root := t.TempDir()
	l, err := DetectLayout(root, fakeStatFS(map[string]int64{root: TmpfsMagic}))
	if err != nil {
		t.Fatal(err)
	}
	if l.MemoryDir != "" {
		t.Errorf("MemoryDir = %q with no memory/ mount", l.MemoryDir)
	}
	if err := NewReader(l).Memory("x", &Memory{}); err == nil {
		t.Error("Memory() succeeded without a memory controller")
	}
}

// The hybrid-dev fixture holds files copied from this project's development
// VM (kernel 6.18, hybrid): the v1 memory controller's real output.
func TestMemoryV1RealFixture(t *testing.T) {
	l, err := DetectLayout(fixtures.Roots("hybrid-dev").Cgroup, fakeStatFS(nil))
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(l)
	var m Memory
	if err := r.Memory("", &m); err != nil {
		t.Fatal(err)
	}
	if m.Current == 0 || m.Max != Unlimited || m.HasHigh {
		t.Errorf("root: current %d max %d hasHigh %v", m.Current, m.Max, m.HasHigh)
	}
	anon, ok := m.Stat.Get(Anon)
	if !ok || anon != 12070912 { // total_rss in the captured root memory.stat
		t.Errorf("anon = %d, %v; want total_rss 12070912", anon, ok)
	}
	if _, ok := m.Stat.Get(SlabReclaimable); ok {
		t.Error("v1 reported slab_reclaimable, which it has no file for")
	}
	if _, ok := m.Stat.Get(Kernel); !ok {
		t.Error("v1 kmem usage not read into Kernel")
	}
	kids, err := r.Children("")
	if err != nil || len(kids) != 1 || kids[0] != "process_api" {
		t.Errorf("Children(root) = %v, %v", kids, err)
	}
	if _, err := r.Pressure(""); err != nil {
		t.Errorf("hybrid per-cgroup PSI from the unified tree: %v", err)
	}
}

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func unifiedReader(t *testing.T, files map[string]string) *Reader {
	t.Helper()
	root := t.TempDir()
	files["cgroup.controllers"] = "cpu memory pids\n"
	writeTree(t, root, files)
	l, err := DetectLayout(root, fakeStatFS(map[string]int64{root: Cgroup2Magic}))
	if err != nil {
		t.Fatal(err)
	}
	return NewReader(l)
}

func TestMemoryV2(t *testing.T) {
	r := unifiedReader(t, map[string]string{
		"a.slice/memory.current":  "1000\n",
		"a.slice/memory.high":     "max\n",
		"a.slice/memory.max":      "4096\n",
		"a.slice/memory.stat":     "anon 10\nfile 20\nslab_reclaimable 600\nslab_unreclaimable 7\nnew_key_from_the_future 9\n",
		"a.slice/memory.pressure": "some avg10=1.00 avg60=2.00 avg300=3.00 total=4\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
		"b.slice/memory.current":  "oops\n",
		"c.slice/memory.current":  "1\n",
		"c.slice/memory.high":     "1\n",
		"c.slice/memory.max":      "1\n",
		"c.slice/memory.stat":     "anon 1\n",
	})
	var m Memory
	if err := r.Memory("a.slice", &m); err != nil {
		t.Fatal(err)
	}
	if m.Current != 1000 || m.High != Unlimited || m.Max != 4096 || !m.HasHigh {
		t.Errorf("got %+v", m)
	}
	if v, _ := m.Stat.Get(SlabReclaimable); v != 600 {
		t.Errorf("slab_reclaimable = %d", v)
	}
	if _, ok := m.Stat.Get(Percpu); ok {
		t.Error("percpu absent from the file but reported")
	}
	p, err := r.Pressure("a.slice")
	if err != nil || p.Some.Avg10 != 1 {
		t.Errorf("Pressure = %+v, %v", p, err)
	}
	if err := r.Memory("b.slice", &m); err == nil || !strings.Contains(err.Error(), "b.slice/memory.current") {
		t.Errorf("malformed memory.current: error %v does not name the file", err)
	}
	if err := r.Memory("c.slice", &m); err == nil || !strings.Contains(err.Error(), "no file key") {
		t.Errorf("memory.stat without file: error = %v", err)
	}
	if err := r.Memory("gone.slice", &m); !errors.Is(err, ErrGone) {
		t.Errorf("vanished cgroup: error = %v, want ErrGone", err)
	}
	if _, err := r.Pressure("gone.slice"); !errors.Is(err, ErrGone) {
		t.Errorf("vanished cgroup pressure: error = %v, want ErrGone", err)
	}
	if err := r.Memory("../../etc", &m); err == nil || !strings.Contains(err.Error(), "leaves the hierarchy") {
		t.Errorf("escaping path: error = %v", err)
	}
}

func TestPressureEmptyAndLegacy(t *testing.T) {
	r := unifiedReader(t, map[string]string{"off.slice/memory.pressure": ""})
	if _, err := r.Pressure("off.slice"); !errors.Is(err, psi.ErrEmpty) {
		t.Errorf("empty pressure file: %v, want psi.ErrEmpty", err)
	}
	legacy := NewReader(Layout{Mode: Legacy, Root: "/x", MemoryDir: "/x/memory"})
	if _, err := legacy.Pressure("a"); !errors.Is(err, ErrNoPSI) {
		t.Errorf("legacy pressure: %v, want ErrNoPSI", err)
	}
}

func TestWalkAndFindUnit(t *testing.T) {
	r := unifiedReader(t, map[string]string{
		"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-abc.scope/cgroup.procs": "",
		"system.slice/fluent-bit.service/cgroup.procs":                                                                "42\n43\n",
	})
	all, err := r.Walk("", 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"kubepods.slice",
		"kubepods.slice/kubepods-burstable.slice",
		"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice",
		"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-abc.scope",
		"system.slice",
		"system.slice/fluent-bit.service",
	}
	if strings.Join(all, ",") != strings.Join(want, ",") {
		t.Errorf("Walk = %q\nwant   %q", all, want)
	}
	if top, _ := r.Walk("", 1); len(top) != 2 {
		t.Errorf("Walk depth 1 = %q", top)
	}
	p, err := r.FindUnit("kubepods-burstable-pod1.slice", 8)
	if err != nil || p != want[2] {
		t.Errorf("FindUnit(slice) = %q, %v", p, err)
	}
	p, err = r.FindUnit("fluent-bit.service", 8)
	if err != nil || p != "system.slice/fluent-bit.service" {
		t.Errorf("FindUnit(service) = %q, %v", p, err)
	}
	if _, err := r.FindUnit("nope.service", 8); !errors.Is(err, ErrNoUnit) {
		t.Errorf("FindUnit(missing) error = %v", err)
	}
	if _, err := r.FindUnit("absent-pod.slice", 8); !errors.Is(err, ErrNoUnit) {
		t.Errorf("FindUnit(missing slice) error = %v", err)
	}
	pids, err := r.Procs("system.slice/fluent-bit.service")
	if err != nil || len(pids) != 2 || pids[0] != 42 {
		t.Errorf("Procs = %v, %v", pids, err)
	}
}

func TestSlicePath(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"-.slice", "", ""},
		{"system.slice", "system.slice", ""},
		{"kubepods-burstable-pod1_2.slice", "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1_2.slice", ""},
		{"a.service", "", "not a slice"},
		{"-a.slice", "", "not a valid"},
		{"a--b.slice", "", "not a valid"},
		{"a-.slice", "", "not a valid"},
		{".slice", "", "not a slice"},
	}
	for _, tt := range tests {
		got, err := SlicePath(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("SlicePath(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("SlicePath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestUnitOf(t *testing.T) {
	for in, want := range map[string]string{
		"system.slice/cron.service":   "cron.service",
		"kubepods/burstable/pod1/abc": "",
		"":                            "",
		"user.slice/user-0.slice/session-1.scope": "session-1.scope",
	} {
		if got := UnitOf(in); got != want {
			t.Errorf("UnitOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// Children lists exactly the subdirectories os.ReadDir would, sorted, over
// more entries than one getdents buffer holds, without following links or
// listing files.
func TestChildrenMatchesReadDir(t *testing.T) {
	root := t.TempDir()
	var want []string
	for i := range 600 {
		name := fmt.Sprintf("kubepods-burstable-pod%08d_with_a_long_uid_0123456789abcdef.slice", 599-i)
		if err := os.Mkdir(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
		if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("memory.file%03d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, want[0]), filepath.Join(root, "link.slice")); err != nil {
		t.Fatal(err)
	}
	sort.Strings(want)
	r := NewReader(Layout{Mode: Unified, MemoryDir: root, UnifiedDir: root})
	got, err := r.Children("")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Children: %d names, want the %d directories (first %q, want %q)", len(got), len(want), got[:min(1, len(got))], want[0])
	}
	if _, err := r.Children("gone.slice"); !errors.Is(err, ErrGone) {
		t.Fatalf("Children of a missing cgroup: %v, want ErrGone", err)
	}
}
