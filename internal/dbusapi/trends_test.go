package dbusapi

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/history"
	"github.com/memrelief/memrelief/internal/paths"
)

// The stress container of the fixture's pod leaks anon memory at growRate
// per second of the engine's clock; the pod's memory.high and memory.max
// sit highAbove and maxAbove its memory.current at the start.
const (
	growRate  = 1 << 20
	highAbove = 512 << 20
	maxAbove  = 1024 << 20
	stressCg  = podSlice + "/cri-containerd-712926b079e2569857847b10c6d933822f402f94e4cf0b2e7edc31c30862c35c.scope"
	agentCg   = podSlice + "/cri-containerd-18dfc9b45b0889a3e9422f36b47db6bc1a4062551351f333bbc8af8fbba421cc.scope"
)

// trendPolicy is testPolicy ticking every 100 ms with one-second buckets,
// so a trend of high quality (30 buckets) takes seconds of the engine's
// clock; leakClock makes those seconds pass ten times faster.
var trendPolicy = strings.Replace(testPolicy, `interval = "200ms"`, `interval = "100ms"`, 1) + `
[history]
resolution = ["1s/1m", "10s/10m"]
`

// leakClock is the engine's clock: it runs speed times faster than the
// wall clock from base, until frozen. On each new second it rewrites the
// leaking files for that second. The engine calls its clock only from its
// loop's goroutine, which is also the one reading the files, so no sample
// sees a half-written file.
type leakClock struct {
	mu     sync.Mutex
	wall   time.Time
	base   time.Time
	speed  time.Duration
	frozen time.Time
	now    time.Time // the last time given
	last   int64     // the last second written, -1 before the first
	write  func(sec int64)
}

func (c *leakClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		return c.frozen
	}
	c.now = c.base.Add(time.Since(c.wall) * c.speed)
	if sec := int64(c.now.Sub(c.base) / time.Second); sec != c.last {
		c.last = sec
		c.write(sec)
	}
	return c.now
}

// freeze stops the clock where it is, so the history and the trends stop
// changing apart from the samples folded into the open bucket.
func (c *leakClock) freeze() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frozen = c.now
}

// leak is a fixture whose pod slice and stress container grow.
type leak struct {
	clock       *leakClock
	podCurrent0 uint64 // the pod's memory.current at second 0
	podAnon0    uint64
}

func newLeak(t *testing.T, roots paths.Roots) *leak {
	l := &leak{}
	pod := filepath.Join(roots.Cgroup, podSlice)
	stress := filepath.Join(roots.Cgroup, stressCg)
	l.podCurrent0 = readUint(t, filepath.Join(pod, "memory.current"))
	l.podAnon0 = statValue(t, filepath.Join(pod, "memory.stat"), "anon")
	stressCurrent0 := readUint(t, filepath.Join(stress, "memory.current"))
	stressAnon0 := statValue(t, filepath.Join(stress, "memory.stat"), "anon")
	podStat, err := os.ReadFile(filepath.Join(pod, "memory.stat"))
	if err != nil {
		t.Fatal(err)
	}
	stressStat, err := os.ReadFile(filepath.Join(stress, "memory.stat"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(pod, "memory.high"), strconv.FormatUint(l.podCurrent0+highAbove, 10))
	writeFile(t, filepath.Join(pod, "memory.max"), strconv.FormatUint(l.podCurrent0+maxAbove, 10))
	anonLine := regexp.MustCompile(`(?m)^anon \d+$`)
	// Errors cannot stop the test from the engine's goroutine; a failed
	// write leaves figures that do not grow, which the assertions catch.
	write := func(sec int64) {
		grown := uint64(sec) * growRate
		os.WriteFile(filepath.Join(pod, "memory.current"), []byte(strconv.FormatUint(l.podCurrent0+grown, 10)+"\n"), 0o644)
		os.WriteFile(filepath.Join(pod, "memory.stat"), anonLine.ReplaceAll(podStat, []byte("anon "+strconv.FormatUint(l.podAnon0+grown, 10))), 0o644)
		os.WriteFile(filepath.Join(stress, "memory.current"), []byte(strconv.FormatUint(stressCurrent0+grown, 10)+"\n"), 0o644)
		os.WriteFile(filepath.Join(stress, "memory.stat"), anonLine.ReplaceAll(stressStat, []byte("anon "+strconv.FormatUint(stressAnon0+grown, 10))), 0o644)
	}
	l.clock = &leakClock{wall: time.Now(), base: time.Date(2026, 11, 24, 6, 0, 0, 0, time.Local), speed: 10, last: -1, write: write}
	return l
}

func readUint(t *testing.T, path string) uint64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startLeak runs the daemon on the leaking fixture until the pod and its
// stress container have trends of high quality, then freezes its clock.
func startLeak(t *testing.T) (*daemon, *leak) {
	t.Helper()
	var l *leak
	d := startDaemonWith(t, daemonOptions{
		policy:  trendPolicy,
		prepare: func(t *testing.T, roots paths.Roots) { l = newLeak(t, roots) },
		now:     func() time.Time { return l.clock.Now() },
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		snap, err := d.eng.Query(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ready(snap) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no trends of high quality for the pod and its stress container within 30s: %+v", snap.Cgroups)
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.clock.freeze()
	// Wait for a tick at the frozen time, so the open bucket is its second.
	second := l.clock.Now().Truncate(time.Second)
	for {
		v, err := d.eng.History(context.Background(), "/"+podSlice, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(v.Points); n > 0 && v.Points[n-1].Open && v.Points[n-1].Start.Equal(second) {
			return d, l
		}
		if time.Now().After(deadline) {
			t.Fatal("no tick at the frozen time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ready(s engine.Snapshot) bool {
	if len(s.Cgroups) != 1 || s.Node == nil || s.Node.Trend == nil {
		return false
	}
	pod := s.Cgroups[0]
	if pod.Trend == nil || pod.Trend.Quality != "high" {
		return false
	}
	for _, c := range pod.Containers {
		if c.Cgroup == "/"+stressCg && c.Trend != nil && c.Trend.Quality == "high" {
			return true
		}
	}
	return false
}

// stable calls get until two engine answers around it agree: only then
// did the D-Bus answer see the state the engine's answers show. The frozen
// clock leaves only the open bucket's sample count changing, once a tick.
func stable[E, W any](t *testing.T, fromEngine func() E, get func() W) (E, W) {
	t.Helper()
	for range 50 {
		before := fromEngine()
		got := get()
		after := fromEngine()
		if reflect.DeepEqual(before, after) {
			return before, got
		}
	}
	t.Fatal("the engine's answer changed around every one of 50 calls")
	panic("unreachable")
}

// wireTrend is what a trend looks like after D-Bus: its start keeps
// microseconds and forecasts whole seconds.
func wireTrend(ts *engine.TrendStatus) *engine.TrendStatus {
	if ts == nil {
		return nil
	}
	c := *ts
	c.Since = c.Since.Truncate(time.Microsecond)
	for _, d := range []*time.Duration{&c.ToHigh, &c.ToMax, &c.ToOOM} {
		if *d > 0 {
			*d = d.Truncate(time.Second)
		}
	}
	return &c
}

func near(got, want, tolerance float64) bool { return math.Abs(got-want) <= tolerance*math.Abs(want) }

func TestGetTrends(t *testing.T) {
	d, l := startLeak(t)
	// The frozen clock's time is where the fixture stopped growing.
	frozen := l.clock.Now()
	grown := float64(frozen.Sub(l.clock.base)/time.Second) * growRate

	snap, entries := stable(t, func() engine.Snapshot {
		s, err := d.eng.Query(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		s.Time = time.Time{}
		return s
	}, func() []Trend {
		es, derr := d.srv.getTrends()
		if derr != nil {
			t.Fatal(derr)
		}
		return es
	})
	if sig := dbus.SignatureOf(entries).String(); sig != "a"+TrendSignature {
		t.Errorf("GetTrends returns %s, declares a%s", sig, TrendSignature)
	}

	// Order: node, cgroups, containers.
	var order []string
	for _, e := range entries {
		order = append(order, e.Cgroup+"|"+e.PodCgroup+"|"+e.Container)
	}
	want := []string{"/||", "/" + podSlice + "||", "/" + agentCg + "|/" + podSlice + "|agent", "/" + stressCg + "|/" + podSlice + "|stress"}
	if !reflect.DeepEqual(order, want) {
		t.Fatalf("entries\n%q\nwant\n%q", order, want)
	}

	pod, agent, stress := entries[1], entries[2], entries[3]
	for _, e := range []Trend{pod, stress} {
		if !near(e.BytesPerSec, growRate, 0.02) || !near(e.Components["anon"], growRate, 0.02) || e.Quality != "high" || !e.Growing ||
			e.Dominant != "anon" || !strings.Contains(e.Causes, "anon") || e.SinceUsec == 0 {
			t.Errorf("%s: %+v, want anon growing %d B/s with high quality", e.Cgroup, e, growRate)
		}
		if math.Abs(e.Components["file"]) > 1 {
			t.Errorf("%s: file grows %v B/s; it is flat in the fixture", e.Cgroup, e.Components["file"])
		}
	}
	// The pod's limits are met when what is left grows away at growRate.
	for _, f := range []struct {
		name string
		got  int64
		left float64
	}{{"memory.high", pod.TimeToMemoryHighSec, highAbove - grown}, {"memory.max", pod.TimeToMemoryMaxSec, maxAbove - grown}} {
		if wantSec := f.left / growRate; !near(float64(f.got), wantSec, 0.05) {
			t.Errorf("pod reaches %s in %d s, want about %.0f s", f.name, f.got, wantSec)
		}
	}
	if pod.TimeToOOMSec != -1 || stress.TimeToMemoryMaxSec != -1 {
		t.Errorf("forecasts without a limit: pod to OOM %d s, stress to memory.max %d s; want -1 (never)", pod.TimeToOOMSec, stress.TimeToMemoryMaxSec)
	}
	// The fixture's stress container is above its memory.high (48M) already.
	if stress.TimeToMemoryHighSec != 0 {
		t.Errorf("stress reaches memory.high in %d s, want 0 (there already)", stress.TimeToMemoryHighSec)
	}
	if agent.Growing || math.Abs(agent.BytesPerSec) > 1 {
		t.Errorf("agent: %+v, want flat", agent)
	}

	// Back in engine terms, merged into GetStatus's snapshot, the trends
	// are the engine's.
	tr := TrendsFrom(entries)
	merged := engine.Snapshot{Node: &engine.CgroupStatus{Cgroup: "/"}, Cgroups: []engine.CgroupStatus{{Cgroup: "/" + podSlice}}}
	tr.Merge(&merged)
	if got, want := merged.Node.Trend, wireTrend(snap.Node.Trend); !reflect.DeepEqual(got, want) {
		t.Errorf("node trend\n got %+v\nwant %+v", got, want)
	}
	if got, want := merged.Cgroups[0].Trend, wireTrend(snap.Cgroups[0].Trend); !reflect.DeepEqual(got, want) {
		t.Errorf("pod trend\n got %+v\nwant %+v", got, want)
	}
	var wantContainers []engine.ContainerStatus
	for _, c := range snap.Cgroups[0].Containers {
		if c.Trend == nil {
			continue
		}
		wantContainers = append(wantContainers, engine.ContainerStatus{Name: c.Name, Cgroup: c.Cgroup, Trend: wireTrend(c.Trend)})
	}
	if !reflect.DeepEqual(merged.Cgroups[0].Containers, wantContainers) {
		t.Errorf("containers\n got %+v\nwant %+v", merged.Cgroups[0].Containers, wantContainers)
	}

	// The client over the bus gives the same.
	got, err := GetTrends(context.Background(), d.client)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Cgroups["/"+podSlice], tr.Cgroups["/"+podSlice]) || len(got.Containers["/"+podSlice]) != 2 {
		t.Errorf("GetTrends over the bus: %+v", got)
	}
}

func TestGetHistory(t *testing.T) {
	d, l := startLeak(t)
	frozen := l.clock.Now()
	view := func(cg string, since time.Time) func() engine.HistoryView {
		return func() engine.HistoryView {
			v, err := d.eng.History(context.Background(), cg, since)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	get := func(cg string, since time.Time) func() engine.HistoryView {
		return func() engine.HistoryView {
			v, err := GetHistory(context.Background(), d.client, cg, since)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	want, got := stable(t, view("/"+podSlice, time.Time{}), get("/"+podSlice, time.Time{}))

	// What the engine has, up to the forecasts' sub-second part.
	want.Trend = wireTrend(want.Trend)
	for i := range want.Containers {
		want.Containers[i].Trend = wireTrend(want.Containers[i].Trend)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GetHistory\n got %+v\nwant %+v", got, want)
	}

	// And that is the leak: one-second buckets up to the frozen second,
	// whose anon minima climb by growRate a second.
	if got.Cgroup != "/"+podSlice || got.Name != "" || got.Step != time.Second || got.Trend == nil || got.Trend.Dominant != "anon" {
		t.Fatalf("pod series %s %q step %v trend %+v", got.Cgroup, got.Name, got.Step, got.Trend)
	}
	if n := len(got.Points); n < 30 || n > 60 {
		t.Fatalf("%d points, want 30 (high quality) to 60 (the tier)", n)
	}
	last := got.Points[len(got.Points)-1]
	if !last.Open || !last.Start.Equal(frozen.Truncate(time.Second)) {
		t.Errorf("last point %+v, want the open bucket of %v", last, frozen)
	}
	var prev history.Point
	for i, p := range got.Points {
		if p.Samples == 0 {
			continue // a tick that came late leaves a gap
		}
		anon, ok := p.Min.Get(history.Anon)
		if _, slab := p.Min.Get(history.SlabReclaimable); !ok || !slab {
			t.Fatalf("point %d knows anon %v, slab %v; the fixture has both", i, ok, slab)
		}
		// A tick whose events read the clock just as it entered the next
		// second samples that second's files.
		wantAnon := l.podAnon0 + uint64(p.Start.Sub(l.clock.base)/time.Second)*growRate
		// Buckets keep 12 significant bits (1/4096 of the figure).
		near := func(want uint64) bool { return math.Abs(float64(anon)-float64(want)) <= float64(want)/4096+1024 }
		if !near(wantAnon) && !near(wantAnon+growRate) {
			t.Errorf("point %d at %v: anon minimum %d, want %d", i, p.Start, anon, wantAnon)
		}
		if prev.Samples > 0 && !p.Start.After(prev.Start) {
			t.Errorf("points out of order: %v after %v", p.Start, prev.Start)
		}
		prev = p
	}
	if len(got.Containers) != 2 || got.Containers[1].Cgroup != "/"+stressCg || got.Containers[1].Name != "stress" ||
		got.Containers[1].Trend == nil || !got.Containers[1].Trend.Growing || got.Containers[0].Name != "agent" {
		t.Errorf("containers %+v", got.Containers)
	}

	// A container asked for itself, and only its last ten seconds (the
	// open bucket may be the one before the frozen second: containers are
	// sampled every 100 ms of the engine's clock, which stopped).
	since := frozen.Truncate(time.Second).Add(-10 * time.Second)
	want, got = stable(t, view("/"+stressCg, since), get("/"+stressCg, since))
	want.Trend = wireTrend(want.Trend)
	if n := len(got.Points); !reflect.DeepEqual(got, want) || got.Name != "stress" || n < 10 || n > 11 || !got.Points[0].Start.Equal(since) {
		t.Errorf("stress since %v: %d points from %v, name %q; engine %d points", since, len(got.Points), got.Points[0].Start, got.Name, len(want.Points))
	}

	// The node's history is there too.
	if v := get("/", since)(); v.Cgroup != "/" || len(v.Points) == 0 {
		t.Errorf("node history %+v", v)
	}

	// A cgroup without history is an error of its own name.
	_, err := GetHistory(context.Background(), d.client, "/system.slice", time.Time{})
	if !errors.Is(err, engine.ErrNoHistory) || !strings.Contains(err.Error(), "/system.slice") || !strings.Contains(err.Error(), "memrelief status") {
		t.Errorf("GetHistory of an unwatched cgroup: %v, want ErrNoHistory naming it", err)
	}
	call := d.obj().Call(Interface+".GetHistory", 0, "/system.slice", uint64(0))
	var derr dbus.Error
	if !errors.As(call.Err, &derr) || derr.Name != ErrorNoHistory {
		t.Errorf("raw GetHistory error %v, want %s", call.Err, ErrorNoHistory)
	}
}

func TestGetHistoryWithoutHistory(t *testing.T) {
	s := New(Config{})
	if _, _, _, err := s.getHistory("/", 0); err == nil || err.Name != ErrorNoHistory {
		t.Errorf("getHistory without a History func: %v, want %s", err, ErrorNoHistory)
	}
	s = New(Config{QueryTimeout: 10 * time.Millisecond, History: func(ctx context.Context, _ string, _ time.Time) (engine.HistoryView, error) {
		<-ctx.Done()
		return engine.HistoryView{}, ctx.Err()
	}})
	if _, _, _, err := s.getHistory("/", 0); err == nil || err.Name != ErrorUnavailable {
		t.Errorf("getHistory when the engine does not answer: %v, want %s", err, ErrorUnavailable)
	}
	s = New(Config{History: func(context.Context, string, time.Time) (engine.HistoryView, error) {
		return engine.HistoryView{}, errors.New("history is off (history.enabled = false)")
	}})
	if _, _, _, err := s.getHistory("/", 0); err == nil || err.Name != ErrorNoHistory || !strings.Contains(err.Error(), "history.enabled") {
		t.Errorf("getHistory with history off: %v, want %s saying so", err, ErrorNoHistory)
	}
}

func TestHistoryRoundTrip(t *testing.T) {
	at := time.Unix(1795000000, 0)
	var full, partial history.Values
	for c := range history.NumComponents {
		full.Set(c, uint64(c+1)<<20)
	}
	partial.Set(history.Current, 7<<20)
	partial.Set(history.Anon, 5<<20)
	in := engine.HistoryView{Cgroup: "/a.slice", Step: 5 * time.Second, Points: []history.Point{
		{Start: at, Step: 5 * time.Second, Samples: 3, Mean: full, Min: full, Peak: 9 << 20},
		{Start: at.Add(5 * time.Second), Step: 5 * time.Second}, // a gap
		{Start: at.Add(10 * time.Second), Step: 5 * time.Second, Samples: 1, Open: true, Mean: partial, Min: partial, Peak: 7 << 20},
	}, Trend: &engine.TrendStatus{BytesPerSec: 12.5, Quality: "medium", Since: at, Growing: true, Dominant: "anon",
		Components: map[string]float64{"anon": 12.5}, ToHigh: engine.NeverMet, ToMax: 90 * time.Second, ToOOM: engine.NeverMet},
		Containers: []engine.HistoryView{{Cgroup: "/a.slice/c", Name: "c", Step: 5 * time.Second}},
	}
	out, err := HistoryFromView(in).View()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Errorf("round trip\n got %+v\nwant %+v", out, in)
	}
	// A newer daemon's component this build does not know is left out.
	h := HistoryFromView(in)
	h.Components = append(h.Components, "zswap")
	for i := range h.Series[0].Points {
		p := &h.Series[0].Points[i]
		p.MinBytes, p.MeanBytes = append(p.MinBytes, 1), append(p.MeanBytes, 1)
		p.Known |= 1 << 6
	}
	if out, err := h.View(); err != nil || !reflect.DeepEqual(out.Points, in.Points) {
		t.Errorf("with an unknown component: %v\n got %+v\nwant %+v", err, out.Points, in.Points)
	}
	h.Series[0].Points[0].MinBytes = nil
	if _, err := h.View(); err == nil {
		t.Error("a point without its minima decoded")
	}
}
