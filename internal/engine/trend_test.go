package engine

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/history"
	"github.com/memrelief/memrelief/internal/report"
)

// trendPolicy keeps 10-second points, so a leak compressed into minutes is
// judged as one spread over days would be with the default 5-minute ones,
// and a level that fires on the trend and the forecast alone.
const trendPolicy = `
[daemon]
interval = "2s"

[history]
resolution = ["10s/10m", "1m/1h"]

[[rule]]
name = "pods"
units = ["kubepods-burstable-pod*.slice"]

[[rule.level]]
name = "leaking"
enter.all = ["memory_trend >= 50K/s", "time_to_memory_max < 7d"]
exit.any = ["memory_trend < 10K/s"]
dwell = "0s"

[[rule.level.action]]
type = "event"
`

const (
	leakyScope = "cri-containerd-18dfc9b45b0889a3e9422f36b47db6bc1a4062551351f333bbc8af8fbba421cc.scope"
	agentScope = "cri-containerd-712926b079e2569857847b10c6d933822f402f94e4cf0b2e7edc31c30862c35c.scope"
)

// setStat rewrites fields of a cgroup's memory.stat and, when current is
// not 0, its memory.current.
func (h *harness) setStat(cg string, current uint64, fields map[string]uint64) {
	h.t.Helper()
	dir := filepath.Join(h.roots.Cgroup, cg)
	data, err := os.ReadFile(filepath.Join(dir, "memory.stat"))
	if err != nil {
		h.t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	for i, l := range lines {
		k, _, _ := strings.Cut(l, " ")
		if v, ok := fields[k]; ok {
			lines[i] = k + " " + strconv.FormatUint(v, 10)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.stat"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		h.t.Fatal(err)
	}
	if current != 0 {
		if err := os.WriteFile(filepath.Join(dir, "memory.current"), []byte(strconv.FormatUint(current, 10)+"\n"), 0o644); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) write(cg, file, value string) {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.roots.Cgroup, cg, file), []byte(value+"\n"), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// leak runs the engine over secs seconds of fake time from start while one
// container leaks anonymous memory at anonRate and the other reclaimable
// slab at slabRate (bytes/s); the pod holds both.
func (h *harness) leak(start, secs int, anonRate, slabRate uint64) {
	const base = 100 << 20
	for s := start; s <= start+secs; s += 2 {
		anon, slab := base+anonRate*uint64(s), base+slabRate*uint64(s)
		h.setStat(podSlice+"/"+leakyScope, anon+(8<<20), map[string]uint64{"anon": anon})
		h.setStat(podSlice+"/"+agentScope, slab+(8<<20), map[string]uint64{"slab_reclaimable": slab, "slab": slab + (1 << 20)})
		h.setStat(podSlice, anon+slab+(16<<20), map[string]uint64{"anon": anon, "slab_reclaimable": slab, "slab": slab + (1 << 20)})
		h.now = time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC).Add(time.Duration(s) * time.Second)
		h.eng.Tick(context.Background())
		h.eng.Settle()
	}
}

func growthOf(evs []report.Event, cgroupSuffix string) []report.Event {
	var out []report.Event
	for _, e := range evs {
		if e.Kind == report.Growth && strings.HasSuffix(e.Fields[report.FieldCgroup], cgroupSuffix) {
			out = append(out, e)
		}
	}
	return out
}

// TestTrendNamesEachLeakingContainer: a pod whose sidecar leaks anonymous
// memory and whose agent leaks dentries gets one growth event per
// container, each naming what grows in it at about the rate it grows, and
// the pod's level fires on its trend and forecast alone.
func TestTrendNamesEachLeakingContainer(t *testing.T) {
	h := newHarness(t, trendPolicy, false)
	h.write(podSlice, "memory.max", strconv.Itoa(4<<30))
	const anonRate, slabRate = 100 << 10, 40 << 10
	h.leak(0, 600, anonRate, slabRate)
	evs := h.rec.Events()

	for _, c := range []struct {
		scope, component string
		rate             float64
	}{{leakyScope, "anon", anonRate}, {agentScope, "slab_reclaimable", slabRate}} {
		g := growthOf(evs, c.scope)
		if len(g) == 0 {
			t.Fatalf("no growth event for %s; growth events: %v", c.scope, growthOf(evs, ""))
		}
		first := g[0]
		if first.Fields[report.FieldGrowthComponent] != c.component || first.Fields[report.FieldGrowthReason] != "first" {
			t.Errorf("%s: first growth event %v, want component %s, reason first", c.scope, first.Fields, c.component)
		}
		if first.Fields[report.FieldContainer] == "" || first.Fields[report.FieldPodName] == "" {
			t.Errorf("%s: growth event names no container or pod: %v", c.scope, first.Fields)
		}
		got, _ := strconv.ParseFloat(first.Fields[report.FieldGrowthBytesPerSec], 64)
		if math.Abs(got-c.rate)/c.rate > 0.1 {
			t.Errorf("%s: growth %v B/s, want %v within 10%%", c.scope, got, c.rate)
		}
		if !strings.Contains(first.Message, c.component) {
			t.Errorf("%s: message %q does not say what grows", c.scope, first.Message)
		}
		// A steady leak is reported once, not every estimate.
		if len(g) != 1 {
			t.Errorf("%s: %d growth events in 10 minutes of a steady leak, want 1: %v", c.scope, len(g), g)
		}
	}
	if a, b := growthOf(evs, leakyScope), growthOf(evs, agentScope); len(a) > 0 && len(b) > 0 &&
		a[0].Fields[report.FieldContainer] == b[0].Fields[report.FieldContainer] {
		t.Errorf("both containers named %q", a[0].Fields[report.FieldContainer])
	}

	pod := growthOf(evs, "pod1234_5678.slice")
	if len(pod) == 0 || pod[0].Fields[report.FieldTimeToMemoryMax] == "" {
		t.Fatalf("pod growth event without a forecast to memory.max: %v", pod)
	}
	in, _ := strconv.ParseFloat(pod[0].Fields[report.FieldTimeToMemoryMax], 64)
	// 4 GiB minus ~300 MiB at 140 KiB/s: about 7.5 hours.
	if want := float64(4<<30-316<<20) / (anonRate + slabRate); math.Abs(in-want)/want > 0.15 {
		t.Errorf("time to memory.max %vs, want about %vs", in, want)
	}
	var leveled bool
	for _, e := range h.events(report.LevelChanged, "") {
		if e.Fields[report.FieldLevel] == "leaking" && strings.Contains(e.Fields[report.FieldReasons], "time_to_memory_max") {
			leveled = true
		}
	}
	if !leveled {
		t.Errorf("the pod never entered level leaking on its trend: %v", h.events(report.LevelChanged, ""))
	}

	snap := h.eng.snapshot()
	var found bool
	for _, c := range snap.Cgroups {
		if c.Cgroup != "/"+podSlice {
			continue
		}
		found = true
		if c.Trend == nil || !c.Trend.Growing || c.Trend.ToMax == NeverMet || len(c.Containers) != 2 {
			t.Fatalf("pod status %+v, trend %+v", c, c.Trend)
		}
		if c.MaxBytes != 4<<30 || c.HighBytes != 0 {
			t.Errorf("pod limits: high %d, max %d; want none and its 4 GiB memory.max", c.HighBytes, c.MaxBytes)
		}
		for _, m := range c.Containers {
			if m.Trend == nil || !m.Trend.Growing {
				t.Errorf("container %s: trend %+v", m.Name, m.Trend)
			}
			// The kubelet's names, which metrics label series with.
			if c.Pod == "" || m.Pod != c.Pod+"/"+m.Name {
				t.Errorf("container %s: pod %q, want the pod's %q and its name", m.Name, m.Pod, c.Pod)
			}
		}
	}
	if !found {
		t.Fatal("pod missing from the snapshot")
	}
	if snap.Node == nil || snap.Node.Trend == nil || snap.Node.Trend.Quality == "" {
		t.Errorf("the node's trend is not in the snapshot: %+v", snap.Node)
	}

	// The leak stops: once quiet long enough, each container is reported
	// stopped, once.
	h.leak(602, 0, 0, 0)
	for s := 604; s <= 604+4000; s += 2 {
		h.now = time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC).Add(time.Duration(s) * time.Second)
		h.eng.Tick(context.Background())
		h.eng.Settle()
	}
	for _, scope := range []string{leakyScope, agentScope} {
		g := growthOf(h.rec.Events(), scope)
		if last := g[len(g)-1]; last.Fields[report.FieldGrowthReason] != "stopped" {
			t.Errorf("%s: last growth event %v, want stopped", scope, last.Fields)
		}
	}
}

// TestTrendHistorySurvivesRestart: what one daemon learned, the next one
// starts from; a damaged file is set aside with a warning, not trusted.
func TestTrendHistorySurvivesRestart(t *testing.T) {
	h := newHarness(t, trendPolicy, false)
	h.leak(0, 300, 100<<10, 0)
	h.eng.shutdown()
	dir := filepath.Join(h.roots.Lib, "history")
	name := history.FileName("/" + podSlice + "/" + agentScope)
	if err := os.WriteFile(filepath.Join(dir, name), []byte("not a history file"), 0o644); err != nil {
		t.Fatal(err)
	}

	h.eng = New(h.eng.cfg)
	h.leak(302, 0, 100<<10, 0)
	w := h.eng.watched[podSlice]
	if w == nil || w.tr == nil {
		t.Fatal("pod not watched after the restart")
	}
	pts := w.tr.s.Points(0, time.Time{}, h.now.Add(time.Second), nil)
	var held int
	for _, p := range pts {
		if p.Samples > 0 {
			held++
		}
	}
	if held < 25 {
		t.Errorf("restarted daemon holds %d points of the pod, want the ~30 of the first run", held)
	}
	var warned bool
	for _, e := range h.events(report.Problem, "") {
		warned = warned || strings.Contains(e.Message, agentScope)
	}
	if !warned {
		t.Error("a damaged history file raised no warning")
	}
	if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
		t.Errorf("damaged file still in place: %v", err)
	}
}

// TestTrendSaveFailureIsReported: saves are written off the loop; one
// that fails (the history directory is a file) is reported on the loop by
// a later tick, once, and the daemon goes on ticking and keeps its series.
func TestTrendSaveFailureIsReported(t *testing.T) {
	h := newHarness(t, strings.Replace(trendPolicy, "[history]\n", "[history]\nsave_every = \"30s\"\n", 1), false)
	dir := filepath.Join(h.roots.Lib, "history")
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	saveProblems := func() (n int) {
		for _, e := range h.events(report.Problem, "") {
			if strings.Contains(e.Message, "history not saved") && strings.Contains(e.Message, dir) {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	sec := 0
	for ; saveProblems() == 0 && time.Now().Before(deadline); sec += 2 {
		h.leak(sec, 0, 100<<10, 0)
		time.Sleep(time.Millisecond) // the writer's turn
	}
	if saveProblems() != 1 {
		t.Fatalf("after %d s of ticks, %d reports of the failed saves, want 1 naming %s", sec, saveProblems(), dir)
	}
	for end := sec + 120; sec < end; sec += 2 {
		h.leak(sec, 0, 100<<10, 0)
	}
	if n := saveProblems(); n != 1 {
		t.Errorf("the failing saves were reported %d times in two more minutes, want once", n)
	}
	if w := h.eng.watched[podSlice]; w == nil || w.tr == nil || w.tr.s.Last().Before(h.now) {
		t.Error("the pod's series is not kept up to date while saves fail")
	}
	// On the way out the last saves fail too, after the last tick looked:
	// the stop says so.
	h.eng.saveAll(5 * time.Second)
	var said bool
	for _, e := range h.events(report.Problem, "") {
		said = said || (strings.Contains(e.Message, "history not all saved on stop") && strings.Contains(e.Message, dir))
	}
	if !said {
		t.Error("the failed saves of the stop were not reported")
	}
}

// TestTrendOff: with history off nothing is kept and trend conditions
// never hold.
func TestTrendOff(t *testing.T) {
	h := newHarness(t, strings.Replace(trendPolicy, "[history]\n", "[history]\nenabled = false\n", 1), false)
	h.write(podSlice, "memory.max", strconv.Itoa(4<<30))
	h.leak(0, 600, 100<<10, 0)
	if g := growthOf(h.rec.Events(), ""); len(g) != 0 {
		t.Errorf("growth events with history off: %v", g)
	}
	if lc := h.events(report.LevelChanged, ""); len(lc) != 0 {
		t.Errorf("a trend level fired with history off: %v", lc)
	}
	if _, err := os.Stat(filepath.Join(h.roots.Lib, "history")); !os.IsNotExist(err) {
		t.Errorf("history directory written with history off: %v", err)
	}
}

// TestTrendPodNamedLate: a pod whose log directory the kubelet writes after
// its cgroup appears still gets container series at once (named by their
// scopes), and its name once the directory is there.
func TestTrendPodNamedLate(t *testing.T) {
	h := newHarness(t, trendPolicy, false)
	logs := filepath.Join(h.roots.Log)
	hidden := logs + ".later"
	if err := os.Rename(logs, hidden); err != nil {
		t.Fatal(err)
	}
	h.tickAt(0)
	w := h.eng.watched[podSlice]
	if w == nil || w.pod != "" {
		t.Fatalf("pod watched %v, named %q before its logs exist", w != nil, w.pod)
	}
	if m := w.members[podSlice+"/"+leakyScope]; m == nil || m.name != leakyScope {
		t.Fatalf("containers of an unnamed pod: %v", w.members)
	}
	if err := os.Rename(hidden, logs); err != nil {
		t.Fatal(err)
	}
	h.tickAt(12) // past RescanEvery
	if w.pod != "logging/log-agent" {
		t.Errorf("pod named %q after its logs appeared, want logging/log-agent", w.pod)
	}
	if m := w.members[podSlice+"/"+leakyScope]; m == nil || m.name != "agent" {
		t.Errorf("container not renamed after the pod's logs appeared: %+v", m)
	}
}

func TestIsPod(t *testing.T) {
	for cg, want := range map[string]bool{
		podSlice:                    true,
		podSlice + "/" + leakyScope: false,
		"kubepods.slice/kubepods-burstable.slice": false,
		"kubepods/burstable/pod0f1e-2d":           true,
		"kubepods/burstable/pod0f1e-2d/ab12":      false,
		"system.slice/fluent-bit.service":         false,
	} {
		if got := isPod(cg); got != want {
			t.Errorf("isPod(%q) = %v, want %v", cg, got, want)
		}
	}
}

// TestTrendNodeTimeToOOM: anonymous memory growing on the node as a whole
// is reported for the node ("/") with the time until MemAvailable runs out,
// whether or not the policy has a node rule.
func TestTrendNodeTimeToOOM(t *testing.T) {
	h := newHarness(t, trendPolicy, false)
	path := filepath.Join(h.roots.Proc, "meminfo")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const rateKiB = 200 // KiB/s
	for s := 0; s <= 600; s += 2 {
		grown := uint64(rateKiB * s)
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(string(orig)), "\n") {
			k, v, _ := strings.Cut(l, ":")
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			switch k {
			case "MemAvailable", "MemFree":
				l = k + ": " + strconv.FormatUint(n-grown, 10) + " kB"
			case "AnonPages":
				l = k + ": " + strconv.FormatUint(n+grown, 10) + " kB"
			}
			lines = append(lines, l)
		}
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		h.tickAt(s)
	}
	g := growthOf(h.rec.Events(), "")
	var node *report.Event
	for i := range g {
		if g[i].Fields[report.FieldCgroup] == "/" {
			node = &g[i]
			break
		}
	}
	if node == nil {
		t.Fatalf("no growth event for the node: %v", g)
	}
	if node.Fields[report.FieldGrowthComponent] != "anon" || !strings.HasPrefix(node.Message, "node grows") {
		t.Errorf("node growth event %q %v", node.Message, node.Fields)
	}
	in, err := strconv.ParseFloat(node.Fields[report.FieldTimeToOOM], 64)
	// MemAvailable was 1,732,504 KiB at the start, ~1,700,000 KiB when the
	// trend became trustworthy, falling 200 KiB/s: about 2.4 hours.
	if err != nil || in < 2*3600 || in > 2.6*3600 {
		t.Errorf("time to OOM %q, want about 2.4 h", node.Fields[report.FieldTimeToOOM])
	}
	if node.Priority != report.Warning {
		t.Errorf("an OOM forecast within hours is priority %d, want warning", node.Priority)
	}
}
