package inspect

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/fixtures"
	"github.com/memrelief/memrelief/internal/paths"
)

var statusFlavours = []string{"v2-systemd", "v2-cgroupfs", "hybrid-systemd", "legacy", "hybrid-dev"}

func buildStatus(t *testing.T, roots paths.Roots, depth int, sortKey string, targets ...string) Status {
	t.Helper()
	st, err := BuildStatus(StatusOptions{Roots: roots, Layout: layoutOf(t, roots), Targets: targets, Depth: depth, Sort: sortKey})
	if err != nil {
		t.Fatalf("BuildStatus: %v", err)
	}
	return st
}

// The node row is /proc/meminfo, /proc/pressure/memory and dentry-state.
func TestNodeRow(t *testing.T) {
	for _, name := range statusFlavours {
		t.Run(name, func(t *testing.T) {
			roots := fixtures.Roots(name)
			r := buildStatus(t, roots, 1, "").Rows[0]
			mi := keyed(t, filepath.Join(roots.Proc, "meminfo")) // kB
			if r.Name != "node" || r.Cgroup != "/" || r.Depth != 0 || len(r.Errors) != 0 {
				t.Fatalf("first row %+v", r)
			}
			for _, c := range []struct {
				field string
				got   *uint64
				want  uint64
			}{
				{"current", r.CurrentBytes, (mi["MemTotal"] - mi["MemAvailable"]) * 1024},
				{"anon", r.AnonBytes, mi["AnonPages"] * 1024},
				{"file", r.FileBytes, (mi["Cached"] + mi["Buffers"]) * 1024},
				{"slab_reclaimable", r.SlabReclaimableBytes, mi["SReclaimable"] * 1024},
				{"slab_unreclaimable", r.SlabUnreclaimableBytes, mi["SUnreclaim"] * 1024},
			} {
				if c.got == nil || *c.got != c.want {
					t.Errorf("node %s = %v, meminfo says %d", c.field, deref(c.got), c.want)
				}
			}
			if r.MaxBytes == nil || *r.MaxBytes != mi["MemTotal"]*1024 || r.MaxUnlimited || r.HighBytes != nil || r.HighUnlimited {
				t.Errorf("node limits %+v", r.Limits)
			}
			ds := strings.Fields(fileText(t, filepath.Join(roots.Proc, "sys/fs/dentry-state")))
			if r.Dentries == nil || *r.Dentries != mustUint(t, ds[0]) || r.NegativeDentries == nil || *r.NegativeDentries != mustUint(t, ds[4]) {
				t.Errorf("dentries %v/%v, dentry-state %q", deref(r.Dentries), deref(r.NegativeDentries), ds)
			}
			psiFile := filepath.Join(roots.Proc, "pressure/memory")
			if r.PSISomeAvg10 == nil || *r.PSISomeAvg10 != avg10(t, psiFile, "some") || r.PSIFullAvg10 == nil || *r.PSIFullAvg10 != avg10(t, psiFile, "full") {
				t.Errorf("node PSI some=%v full=%v", r.PSISomeAvg10, r.PSIFullAvg10)
			}
		})
	}
}

func deref(p *uint64) any {
	if p == nil {
		return nil
	}
	return *p
}

func mustUint(t *testing.T, s string) uint64 {
	t.Helper()
	var n uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + uint64(c-'0')
	}
	return n
}

// Every cgroup row carries the figures of its own files: v2 rows everything,
// v1 rows no slab and no memory.high, PSI only where a v2 tree has it.
func TestCgroupRowsMatchFiles(t *testing.T) {
	for _, name := range statusFlavours {
		t.Run(name, func(t *testing.T) {
			roots := fixtures.Roots(name)
			l := layoutOf(t, roots)
			st := buildStatus(t, roots, 8, "")
			if st.Mode != string(l.Mode) {
				t.Errorf("mode %q, layout %q", st.Mode, l.Mode)
			}
			if len(st.Rows) < 2 {
				t.Fatalf("no cgroup rows: %+v", st.Rows)
			}
			for _, r := range st.Rows[1:] {
				dir := filepath.Join(l.MemoryDir, r.Cgroup)
				if len(r.Errors) != 0 {
					t.Errorf("%s: errors %q", r.Cgroup, r.Errors)
				}
				if want := strings.Count(r.Cgroup, "/"); r.Depth != want || !strings.HasPrefix(r.Cgroup, "/") {
					t.Errorf("%s: depth %d", r.Cgroup, r.Depth)
				}
				if unit := filepath.Base(r.Cgroup); cgroupfs.UnitOf(r.Cgroup) != "" && r.Name != unit || cgroupfs.UnitOf(r.Cgroup) == "" && r.Name != r.Cgroup {
					t.Errorf("%s: name %q", r.Cgroup, r.Name)
				}
				if l.Mode == cgroupfs.Unified {
					checkV2Row(t, r, dir)
				} else {
					checkV1Row(t, r, dir)
				}
				psiFile := filepath.Join(l.UnifiedDir, r.Cgroup, "memory.pressure")
				switch {
				case l.UnifiedDir == "" || !exists(psiFile):
					if r.PSISomeAvg10 != nil || r.PSIFullAvg60 != nil {
						t.Errorf("%s: PSI %v without a v2 memory.pressure", r.Cgroup, *r.PSISomeAvg10)
					}
				default:
					if r.PSISomeAvg10 == nil || *r.PSISomeAvg10 != avg10(t, psiFile, "some") || r.PSIFullAvg10 == nil || *r.PSIFullAvg10 != avg10(t, psiFile, "full") {
						t.Errorf("%s: PSI some=%v full=%v, file %s", r.Cgroup, r.PSISomeAvg10, r.PSIFullAvg10, psiFile)
					}
				}
			}
		})
	}
}

func checkV2Row(t *testing.T, r Row, dir string) {
	t.Helper()
	ms := keyed(t, filepath.Join(dir, "memory.stat"))
	eq := func(field string, got *uint64, want uint64) {
		if got == nil || *got != want {
			t.Errorf("%s: %s = %v, files say %d", r.Cgroup, field, deref(got), want)
		}
	}
	eq("current", r.CurrentBytes, fileUint(t, filepath.Join(dir, "memory.current")))
	eq("anon", r.AnonBytes, ms["anon"])
	eq("file", r.FileBytes, ms["file"])
	eq("inactive_file", r.InactiveFileBytes, ms["inactive_file"])
	eq("slab_reclaimable", r.SlabReclaimableBytes, ms["slab_reclaimable"])
	eq("slab_unreclaimable", r.SlabUnreclaimableBytes, ms["slab_unreclaimable"])
	eq("other kernel", r.OtherKernelBytes, ms["kernel"]-ms["slab_reclaimable"]-ms["slab_unreclaimable"])
	for _, lim := range []struct {
		file      string
		bytes     *uint64
		unlimited bool
	}{{"memory.high", r.HighBytes, r.HighUnlimited}, {"memory.max", r.MaxBytes, r.MaxUnlimited}} {
		s := strings.TrimSpace(fileText(t, filepath.Join(dir, lim.file)))
		// "max" is null and unlimited; a number is that number, never
		// unlimited.
		if s == "max" && (lim.bytes != nil || !lim.unlimited) || s != "max" && (lim.bytes == nil || *lim.bytes != mustUint(t, s) || lim.unlimited) {
			t.Errorf("%s: %s %v unlimited %v, file says %s", r.Cgroup, lim.file, deref(lim.bytes), lim.unlimited, s)
		}
	}
}

func checkV1Row(t *testing.T, r Row, dir string) {
	t.Helper()
	ms := keyed(t, filepath.Join(dir, "memory.stat"))
	if r.CurrentBytes == nil || *r.CurrentBytes != fileUint(t, filepath.Join(dir, "memory.usage_in_bytes")) {
		t.Errorf("%s: current %v", r.Cgroup, deref(r.CurrentBytes))
	}
	if r.AnonBytes == nil || *r.AnonBytes != ms["total_rss"] || r.FileBytes == nil || *r.FileBytes != ms["total_cache"] {
		t.Errorf("%s: anon %v file %v, total_rss %d total_cache %d", r.Cgroup, deref(r.AnonBytes), deref(r.FileBytes), ms["total_rss"], ms["total_cache"])
	}
	if r.SlabReclaimableBytes != nil || r.SlabUnreclaimableBytes != nil {
		t.Errorf("%s: slab %v/%v: cgroup v1 reports none", r.Cgroup, deref(r.SlabReclaimableBytes), deref(r.SlabUnreclaimableBytes))
	}
	if kmem := filepath.Join(dir, "memory.kmem.usage_in_bytes"); exists(kmem) {
		if r.OtherKernelBytes == nil || *r.OtherKernelBytes != fileUint(t, kmem) {
			t.Errorf("%s: kernel %v, kmem usage %d", r.Cgroup, deref(r.OtherKernelBytes), fileUint(t, kmem))
		}
	}
	if r.HighBytes != nil || r.HighUnlimited {
		t.Errorf("%s: memory.high %+v on v1", r.Cgroup, r.Limits)
	}
	// The captured cgroups have no limit: the page counter maximum.
	if limit := fileUint(t, filepath.Join(dir, "memory.limit_in_bytes")); limit > 1<<62 && (!r.MaxUnlimited || r.MaxBytes != nil) {
		t.Errorf("%s: max %+v for limit_in_bytes %d", r.Cgroup, r.Limits, limit)
	}
}

// rowNames lists cgroup paths of the rows after the node.
// rowNames lists the cgroups of the rows below the node, relative to the
// root; a row whose Cgroup lacks the leading slash keeps it missing, so it
// matches no path relative to the root.
func rowNames(st Status) []string {
	var out []string
	for _, r := range st.Rows[1:] {
		out = append(out, strings.TrimPrefix(r.Cgroup, "/")+map[bool]string{true: "", false: " (no leading slash)"}[strings.HasPrefix(r.Cgroup, "/")])
	}
	return out
}

func TestStatusDepthAndTargets(t *testing.T) {
	roots := fixtures.Roots("v2-systemd")
	l := layoutOf(t, roots)
	topDirs := func() []string {
		ents, err := os.ReadDir(l.MemoryDir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range ents {
			if e.IsDir() {
				out = append(out, e.Name())
			}
		}
		return out
	}
	if got, want := rowNames(buildStatus(t, roots, 1, "")), topDirs(); !slices.Equal(got, want) {
		t.Errorf("depth 1: %q, want the top-level directories %q", got, want)
	}
	deep := buildStatus(t, roots, 4, "")
	agent := podSlice + "/cri-containerd-" + agentID + ".scope"
	if !slices.Contains(rowNames(deep), agent) {
		t.Errorf("depth 4 lacks the container scope: %q", rowNames(deep))
	}
	// Tree order: every row's parent comes before it.
	seen := map[string]bool{"/": true}
	for _, r := range deep.Rows[1:] {
		if r.Depth > 4 || !seen[filepath.Dir(r.Cgroup)] && r.Depth > 1 {
			t.Errorf("%s (depth %d) out of tree order", r.Cgroup, r.Depth)
		}
		seen[r.Cgroup] = true
	}
	if got := rowNames(buildStatus(t, roots, 3, "")); slices.Contains(got, agent) {
		t.Errorf("depth 3 shows depth-4 %s", agent)
	}

	pod := []string{podSlice, podSlice + "/cri-containerd-" + agentID + ".scope", podSlice + "/cri-containerd-" + stressID + ".scope"}
	for _, target := range []string{podUnit, podSlice, "/" + podSlice, filepath.Join(l.MemoryDir, podSlice)} {
		if got := rowNames(buildStatus(t, roots, 2, "", target)); !slices.Equal(got, pod) {
			t.Errorf("target %q depth 2: %q, want %q", target, got, pod)
		}
	}
	// A scope is not derived from its name: it is searched for.
	if got := rowNames(buildStatus(t, roots, 1, "", "cri-containerd-"+agentID+".scope", "system.slice")); !slices.Equal(got, []string{pod[1], "system.slice"}) {
		t.Errorf("scope and slice targets: %q", got)
	}
	for _, bad := range []string{"no-such.service", "kubepods-besteffort.slice", "nowhere/at/all", "../../etc"} {
		_, err := BuildStatus(StatusOptions{Roots: roots, Layout: l, Targets: []string{bad}, Depth: 1})
		if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(bad, "../../")) {
			t.Errorf("target %q: %v", bad, err)
		}
	}

	cfs := fixtures.Roots("v2-cgroupfs")
	if got := rowNames(buildStatus(t, cfs, 1, "", "kubepods/burstable")); !slices.Equal(got, []string{"kubepods/burstable"}) {
		t.Errorf("cgroupfs path target: %q", got)
	}
}

func TestStatusSort(t *testing.T) {
	roots := fixtures.Roots("v2-systemd")
	for _, key := range SortKeys {
		st := buildStatus(t, roots, 4, key)
		if st.Rows[0].Name != "node" {
			t.Errorf("sort %s moved the node row", key)
		}
		rows := st.Rows[1:]
		for i := 1; i < len(rows); i++ {
			a, b := rows[i-1], rows[i]
			if key == "name" {
				if a.Name > b.Name {
					t.Errorf("sort name: %q before %q", a.Name, b.Name)
				}
				continue
			}
			if sortValue(a, key) < sortValue(b, key) {
				t.Errorf("sort %s: %s (%v) before %s (%v)", key, a.Name, sortValue(a, key), b.Name, sortValue(b, key))
			}
		}
	}
	// The stress scope is the one under pressure: sorting by psi puts it
	// first among the leaves, and the pod slice (86.73) first of all.
	if st := buildStatus(t, roots, 4, "psi"); st.Rows[1].Cgroup != "/"+podSlice {
		t.Errorf("sort psi: first row %s, the pod slice has the highest some avg10 in the files", st.Rows[1].Cgroup)
	}
	if _, err := BuildStatus(StatusOptions{Roots: roots, Layout: layoutOf(t, roots), Sort: "colour"}); err == nil || !strings.Contains(err.Error(), `"colour"`) {
		t.Errorf("unknown sort key: %v", err)
	}
}

func sortValue(r Row, key string) float64 {
	u := func(p *uint64) float64 {
		if p == nil {
			return -1
		}
		return float64(*p)
	}
	switch key {
	case "current":
		return u(r.CurrentBytes)
	case "anon":
		return u(r.AnonBytes)
	case "file":
		return u(r.FileBytes)
	case "slab":
		return max(u(r.SlabReclaimableBytes), 0) + max(u(r.SlabUnreclaimableBytes), 0)
	case "slab_reclaimable":
		return u(r.SlabReclaimableBytes)
	case "kernel":
		return u(r.OtherKernelBytes)
	case "psi":
		if r.PSISomeAvg10 == nil {
			return -1
		}
		return *r.PSISomeAvg10
	case "growth":
		if r.Trend == nil || (r.Trend.Quality != "medium" && r.Trend.Quality != "high") {
			return math.Inf(-1)
		}
		return r.Trend.BytesPerSec
	}
	panic("unknown sort key " + key)
}

// A cgroup that disappears between listing and reading has no row; the
// others are unaffected.
func TestStatusSkipsVanishedCgroup(t *testing.T) {
	dir := fixtures.CopyDir(t, "v2-systemd")
	roots := paths.Under(dir)
	gone := filepath.Join(roots.Cgroup, "system.slice/e2e-runner.service")
	for _, f := range []string{"memory.current", "memory.stat", "memory.high", "memory.max"} {
		if err := os.Remove(filepath.Join(gone, f)); err != nil {
			t.Fatal(err)
		}
	}
	got := rowNames(buildStatus(t, roots, 2, ""))
	if slices.Contains(got, "system.slice/e2e-runner.service") || !slices.Contains(got, "system.slice") || !slices.Contains(got, "user.slice") {
		t.Errorf("rows %q: want e2e-runner.service skipped, its siblings kept", got)
	}
	// The legacy capture holds kubepods-burstable.slice as a bare directory
	// (CAPTURED): it is skipped the same way, its children are not.
	got = rowNames(buildStatus(t, fixtures.Roots("legacy"), 4, ""))
	if slices.Contains(got, "kubepods.slice/kubepods-burstable.slice") || !slices.Contains(got, podSlice) {
		t.Errorf("legacy rows %q", got)
	}
}

// Malformed kernel files become row errors naming the file, never zeros.
func TestStatusRowErrors(t *testing.T) {
	dir := fixtures.CopyDir(t, "v2-systemd")
	roots := paths.Under(dir)
	stat := filepath.Join(roots.Cgroup, "system.slice/memory.stat")
	if err := os.WriteFile(stat, []byte("anon 12\nfile lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(roots.Proc, "meminfo"), []byte("MemTotal: 100 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := buildStatus(t, roots, 1, "")
	node := st.Rows[0]
	if node.CurrentBytes != nil || len(node.Errors) == 0 || !strings.Contains(node.Errors[0], "meminfo") {
		t.Errorf("node with a broken meminfo: current %v, errors %q", deref(node.CurrentBytes), node.Errors)
	}
	i := slices.IndexFunc(st.Rows, func(r Row) bool { return r.Cgroup == "/system.slice" })
	if i < 0 {
		t.Fatal("no system.slice row")
	}
	r := st.Rows[i]
	if r.CurrentBytes != nil || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], stat) || !strings.Contains(r.Errors[0], "line 2") {
		t.Errorf("system.slice: current %v errors %q; want one error naming %s line 2", deref(r.CurrentBytes), r.Errors, stat)
	}
	var b bytes.Buffer
	if err := st.WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "system.slice: ") || !strings.Contains(b.String(), "node: ") {
		t.Errorf("text does not show the row errors:\n%s", b.String())
	}
}

// columns splits a text table line; names hold no spaces.
func columns(line string) []string { return strings.Fields(line) }

func textRows(t *testing.T, st Status) map[string][]string {
	t.Helper()
	var b bytes.Buffer
	if err := st.WriteText(&b, true); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	lines := strings.Split(b.String(), "\n")
	head := columns(lines[0])
	if !slices.Equal(head, []string{"NAME", "CURRENT", "HIGH", "MAX", "ANON", "FILE", "SLAB_RECL", "SLAB_UNRECL", "KERNEL", "SOME10", "SOME60", "FULL10", "FULL60"}) {
		t.Fatalf("header %q", head)
	}
	for _, l := range lines[1:] {
		if l == "" {
			break
		}
		c := columns(l)
		if len(c) != len(head) {
			t.Fatalf("row %q has %d columns", l, len(c))
		}
		out[c[0]] = c
	}
	return out
}

// v1 rows show '-' for what v1 does not have; legacy has no per-cgroup PSI
// but every other figure.
func TestStatusTextOnV1(t *testing.T) {
	for _, name := range []string{"legacy", "hybrid-systemd"} {
		t.Run(name, func(t *testing.T) {
			roots := fixtures.Roots(name)
			st := buildStatus(t, roots, 4, "")
			rows := textRows(t, st)
			if node := rows["node"]; slices.Contains(node[1:], "-") && node[2] != "-" {
				t.Errorf("node row %q: only HIGH may be '-'", node)
			}
			scope := rows[filepath.Base(agentCgroup(name))]
			if scope == nil {
				t.Fatalf("no row for the agent scope in %q", rows)
			}
			// HIGH, SLAB_RECL, SLAB_UNRECL are '-'; CURRENT, MAX, ANON, FILE, KERNEL are figures.
			for i, want := range map[int]bool{1: false, 2: true, 3: false, 4: false, 5: false, 6: true, 7: true, 8: false} {
				if (scope[i] == "-") != want {
					t.Errorf("column %d of %q: '-' is %v, want %v", i, scope, scope[i] == "-", want)
				}
			}
			wantPSI := name == "hybrid-systemd" // its v2 tree carries memory.pressure for the scope
			if (scope[9] != "-") != wantPSI {
				t.Errorf("PSI column %q on %s", scope[9], name)
			}
			var b bytes.Buffer
			if err := st.WriteText(&b, false); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), "cgroup v1 reports no slab per cgroup") {
				t.Errorf("v1 text lacks the note on slab:\n%s", b.String())
			}
		})
	}
}

func TestStatusTextOnV2(t *testing.T) {
	st := buildStatus(t, fixtures.Roots("v2-systemd"), 4, "")
	var b bytes.Buffer
	if err := st.WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	// Unsorted, deeper rows are indented by depth and named by their last element.
	if !strings.Contains(out, "\n      cri-containerd-"+agentID+".scope ") || !strings.Contains(out, "\nkubepods.slice ") {
		t.Errorf("tree indentation missing:\n%s", out)
	}
	if strings.Contains(out, "cgroup v1") {
		t.Errorf("v1 note on a v2 host:\n%s", out)
	}
	rows := textRows(t, st)
	for name, cols := range rows {
		for i, c := range cols[1:] {
			if c == "-" && !(name == "node" && i+1 == 2) {
				t.Errorf("%s: column %d is '-' on v2, where every figure exists", name, i+1)
			}
		}
	}
	if stress := rows["cri-containerd-"+stressID+".scope"]; stress == nil || stress[2] != "48M" {
		t.Errorf("stress scope HIGH %q, memory.high is 50331648 (48M)", stress)
	}
	if !strings.Contains(out, "node dentries: ") {
		t.Errorf("text lacks the dentry note:\n%s", out)
	}
}

// trendDaemon is a daemon that watches the node and the fixture's pod: the
// pod and its stress container leak anon memory, the agent container has
// no estimate yet, and the node's trend is of low quality.
func trendDaemon() *Daemon {
	stress := "/" + podSlice + "/cri-containerd-" + stressID + ".scope"
	agent := "/" + podSlice + "/cri-containerd-" + agentID + ".scope"
	leak := func(bytesPerSec float64, toHigh, toMax time.Duration) *engine.TrendStatus {
		return &engine.TrendStatus{BytesPerSec: bytesPerSec, Quality: "high", Growing: true, Dominant: "anon",
			Components: map[string]float64{"anon": bytesPerSec}, ToHigh: toHigh, ToMax: toMax, ToOOM: engine.NeverMet}
	}
	return &Daemon{Status: "watching 1 cgroups", Trends: true, Levels: map[string]DaemonLevel{
		"/": {Rule: "node", Level: "normal", Trend: &engine.TrendStatus{BytesPerSec: 1 << 20, Quality: "low",
			ToHigh: engine.NeverMet, ToMax: engine.NeverMet, ToOOM: engine.NeverMet}},
		"/" + podSlice: {Rule: "pods", Level: "normal", Pod: "logging/log-agent", Trend: leak(12<<20/3600.0, 2*time.Hour+10*time.Minute, 3*24*time.Hour),
			Containers: []engine.ContainerStatus{{Name: "agent", Cgroup: agent}, {Name: "stress", Cgroup: stress, Trend: leak(12<<20/3600.0, 0, engine.NeverMet)}}},
	}}
}

func TestStatusTrendsAndContainers(t *testing.T) {
	roots := fixtures.Roots("v2-systemd")
	build := func(depth int, sortKey string, targets ...string) Status {
		st, err := BuildStatus(StatusOptions{Roots: roots, Layout: layoutOf(t, roots), Depth: depth, Sort: sortKey, Targets: targets, Daemon: trendDaemon()})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	text := func(st Status, sorted bool) string {
		var b bytes.Buffer
		if err := st.WriteText(&b, sorted); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	stressCurrent := mustUint(t, strings.TrimSpace(fileText(t, filepath.Join(roots.Cgroup, podSlice, "cri-containerd-"+stressID+".scope", "memory.current"))))

	// The pod alone: its growing container gets a row below it, read from
	// its files; the agent, without a trend, does not.
	st := build(1, "", podUnit)
	if len(st.Rows) != 3 || st.Rows[1].Cgroup != "/"+podSlice || st.Rows[2].Container != "stress" {
		t.Fatalf("rows %+v, want node, pod, stress", st.Rows)
	}
	c := st.Rows[2]
	if c.Depth != 4 || c.Pod != "logging/log-agent" || c.CurrentBytes == nil || *c.CurrentBytes != stressCurrent || c.Trend == nil || c.Level != "-" {
		t.Errorf("stress row %+v, want depth 4, CURRENT %d from its memory.current and the daemon's trend", c, stressCurrent)
	}
	out := text(st, false)
	lines := strings.Split(out, "\n")
	if head := columns(lines[0]); !slices.Equal(head[:7], []string{"LEVEL", "NAME", "CURRENT", "HIGH", "MAX", "GROWTH", "TO-LIMIT"}) {
		t.Fatalf("header %q", head)
	}
	for _, want := range []string{
		// The node's trend is of low quality: no growth shown.
		"normal  node ", "  -  ",
		"12M/h anon  2h 10m (high)",
		"\n-       " + strings.Repeat(" ", 6) + "stress ",
		"12M/h anon  now (high)",
		"GROWTH is the daemon's trend of CURRENT",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}

	// Deep enough to show the containers: no second row for stress, but
	// the one there gets the daemon's trend and name.
	st = build(4, "")
	var stressRows, agentRows []Row
	for _, r := range st.Rows {
		switch {
		case strings.HasSuffix(r.Cgroup, stressID+".scope"):
			stressRows = append(stressRows, r)
		case strings.HasSuffix(r.Cgroup, agentID+".scope"):
			agentRows = append(agentRows, r)
		}
	}
	if len(stressRows) != 1 || stressRows[0].Trend == nil || stressRows[0].Container != "stress" || len(agentRows) != 1 || agentRows[0].Trend != nil {
		t.Fatalf("stress rows %+v, agent rows %+v", stressRows, agentRows)
	}
	if out := text(st, false); !strings.Contains(out, "      stress ") || strings.Contains(out, stressID) {
		t.Errorf("the stress scope is not named by its container:\n%s", out)
	}

	// Sorted by growth: the growing pod and container first, named in
	// full; rows without a trend after them.
	st = build(4, "growth")
	if st.Rows[1].Trend == nil || st.Rows[2].Trend == nil || st.Rows[3].Trend != nil {
		t.Errorf("sorted by growth: %s, %s, %s", st.Rows[1].Name, st.Rows[2].Name, st.Rows[3].Name)
	}
	if out := text(st, true); !strings.Contains(out, " logging/log-agent/stress ") {
		t.Errorf("sorted text does not name the container in full:\n%s", out)
	}

	// JSON carries the trend objects.
	data, err := json.Marshal(build(1, "", podUnit))
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Rows []struct {
			Container string              `json:"container"`
			Pod       string              `json:"pod"`
			Trend     *engine.TrendStatus `json:"trend"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if r := back.Rows[2]; r.Container != "stress" || r.Pod != "logging/log-agent" || r.Trend == nil || r.Trend.Dominant != "anon" || r.Trend.ToHigh != 0 || r.Trend.ToMax != engine.NeverMet {
		t.Errorf("JSON row %+v from %s", r, data)
	}
}

func TestStatusNotesOnTrends(t *testing.T) {
	roots := fixtures.Roots("v2-systemd")
	for _, c := range []struct {
		name   string
		daemon *Daemon
		want   string
	}{
		{"no daemon", nil, "they need memrelief running"},
		{"daemon without trends", &Daemon{Status: "watching 1 cgroups"}, "the daemon gave no trends"},
	} {
		st, err := BuildStatus(StatusOptions{Roots: roots, Layout: layoutOf(t, roots), Depth: 1, Daemon: c.daemon})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := st.WriteText(&b, false); err != nil {
			t.Fatal(err)
		}
		if out := b.String(); !strings.Contains(out, c.want) || strings.Contains(strings.SplitN(out, "\n", 2)[0], "GROWTH") {
			t.Errorf("%s: want no GROWTH column and a note %q:\n%s", c.name, c.want, out)
		}
	}
}

func TestGrowthAndToLimit(t *testing.T) {
	never := engine.NeverMet
	for _, c := range []struct {
		t              *engine.TrendStatus
		growth, toward string
	}{
		{nil, "-", "-"},
		{&engine.TrendStatus{BytesPerSec: 1 << 20, Quality: "low", ToHigh: never, ToMax: never, ToOOM: never}, "-", "-"},
		{&engine.TrendStatus{BytesPerSec: 0, Quality: "high", ToHigh: never, ToMax: never, ToOOM: never}, "0/day", "-"},
		{&engine.TrendStatus{BytesPerSec: 12 << 20 / 3600.0, Quality: "medium", Dominant: "anon", ToHigh: never, ToMax: 3*24*time.Hour + 4*time.Hour, ToOOM: never}, "12M/h anon", "3d 4h (max)"},
		{&engine.TrendStatus{BytesPerSec: -(2 << 20), Quality: "high", ToHigh: never, ToMax: never, ToOOM: never}, "-2.0M/s", "-"},
		{&engine.TrendStatus{BytesPerSec: 5 << 20, Quality: "high", Dominant: "slab_reclaimable", ToHigh: time.Hour, ToMax: 30 * time.Minute, ToOOM: never}, "5.0M/s slab_reclaimable", "30m (max)"},
		{&engine.TrendStatus{BytesPerSec: 1 << 20, Quality: "high", ToHigh: 0, ToMax: time.Minute, ToOOM: never}, "1.0M/s", "now (high)"},
		{&engine.TrendStatus{BytesPerSec: 1 << 30 / 86400.0, Quality: "high", ToHigh: never, ToMax: never, ToOOM: 5 * 24 * time.Hour}, "43M/h", "5d (oom)"},
	} {
		if g, l := Growth(c.t), ToLimit(c.t); g != c.growth || l != c.toward {
			t.Errorf("%+v: GROWTH %q TO-LIMIT %q, want %q %q", c.t, g, l, c.growth, c.toward)
		}
	}
}

// On hybrid-dev the node's CURRENT (MemTotal - MemAvailable, 374M) is
// smaller than process_api's memory.current (1.1G, mostly page cache):
// the legend under the table says why, in one line.
func TestStatusSaysWhyTheNodeIsSmaller(t *testing.T) {
	st := buildStatus(t, fixtures.Roots("hybrid-dev"), 1, "")
	node := st.Rows[0]
	i := slices.IndexFunc(st.Rows, func(r Row) bool { return r.Cgroup == "/process_api" })
	if i < 0 || node.CurrentBytes == nil || st.Rows[i].CurrentBytes == nil || *st.Rows[i].CurrentBytes <= *node.CurrentBytes {
		t.Fatalf("the fixture no longer has a cgroup larger than the node: %+v", st.Rows)
	}
	var b bytes.Buffer
	if err := st.WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	var legend []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, "MemTotal - MemAvailable") {
			legend = append(legend, l)
		}
	}
	if len(legend) != 1 || !strings.Contains(legend[0], "reclaimable page cache and slab") || !strings.Contains(legend[0], "memory.current") {
		t.Errorf("legend lines on the node's CURRENT %q, want one saying that it leaves out reclaimable page cache and slab a cgroup's memory.current counts:\n%s", legend, b.String())
	}
}
