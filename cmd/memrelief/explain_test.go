package main

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	godbus "github.com/godbus/dbus/v5"

	"github.com/memrelief/memrelief/internal/bustest"
	"github.com/memrelief/memrelief/internal/dbusapi"
	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/fixtures"
	"github.com/memrelief/memrelief/internal/history"
	"github.com/memrelief/memrelief/internal/paths"
)

const (
	trendPod    = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice"
	trendAgent  = trendPod + "/cri-containerd-18dfc9b45b0889a3e9422f36b47db6bc1a4062551351f333bbc8af8fbba421cc.scope"
	trendStress = trendPod + "/cri-containerd-712926b079e2569857847b10c6d933822f402f94e4cf0b2e7edc31c30862c35c.scope"
)

// leakStart is when the synthetic histories begin, off a bucket boundary.
var leakStart = time.Date(2026, 11, 30, 3, 7, 30, 0, time.UTC)

// leak gives anon and reclaimable slab bytes hours after leakStart.
type leak func(hours float64) (anon, slabR float64)

// heapLeak is a process leaking 12 MiB/h; dentryLeak an agent gaining
// 4 MiB of dentries every half hour.
func heapLeak(h float64) (float64, float64) { return 100<<20 + 12<<20*h, 1 << 20 }
func dentryLeak(h float64) (float64, float64) {
	return 9 << 20, 60<<20 + 4<<20*math.Floor(2*h)
}
func both(h float64) (float64, float64) {
	a1, s1 := heapLeak(h)
	a2, s2 := dentryLeak(h)
	return a1 + a2, s1 + s2
}

// saveLeaks writes six hours of each series, sampled every every, where
// the daemon of the tree at dir keeps them.
func saveLeaks(t *testing.T, dir string, tiers []history.Tier, every time.Duration, series map[string]leak) {
	t.Helper()
	st := history.Store{Dir: filepath.Join(paths.Under(dir).Lib, "history")}
	for key, f := range series {
		if err := st.Save(leakSeries(t, key, tiers, every, f)); err != nil {
			t.Fatal(err)
		}
	}
}

func leakSeries(t *testing.T, key string, tiers []history.Tier, every time.Duration, f leak) *history.Series {
	t.Helper()
	s, err := history.NewSeries(key, tiers)
	if err != nil {
		t.Fatal(err)
	}
	for d := time.Duration(0); d < 6*time.Hour; d += every {
		a, sr := f(d.Hours())
		var v history.Values
		v.Set(history.Anon, uint64(a))
		v.Set(history.File, 2<<20)
		v.Set(history.SlabReclaimable, uint64(sr))
		v.Set(history.SlabUnreclaimable, 512<<10)
		v.Set(history.OtherKernel, 1<<20)
		v.Set(history.Current, uint64(a+sr)+2<<20+512<<10+1<<20)
		s.Add(leakStart.Add(d), v)
	}
	return s
}

// utcClock prints times in UTC for the test, so golden files do not
// depend on the zone of the machine running it. Tests of this package do
// not run in parallel.
func utcClock(t *testing.T) {
	t.Helper()
	old := time.Local
	time.Local = time.UTC
	t.Cleanup(func() { time.Local = old })
}

// explain of a pod whose daemon is not running charts the history it
// saved and names each leaking container.
func TestExplainTrendOffline(t *testing.T) {
	utcClock(t)
	t.Setenv("LC_ALL", "C.UTF-8")
	dir := fixtures.CopyDir(t, "v2-systemd")
	saveLeaks(t, dir, nil, 30*time.Second, map[string]leak{trendPod: both, trendStress: heapLeak, trendAgent: dentryLeak})

	out, errOut, code := runCLI(t, "explain", "--root", dir, "logging/log-agent")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	checkGolden(t, filepath.Join("testdata", "golden", "v2-systemd", "explain-pod-trend.txt"), normalise(out, dir))
	for _, w := range []string{
		"Trend: 5m points over the last 6h 5m (from the history saved at 2026-11-30 09:07; the daemon is not asked about a tree under --root)\n",
		"\ncontainer stress: anon grows 12 MiB/h (100% of growth) since 2026-11-30 03:05: anonymous memory (heaps, stacks): a process is leaking",
		"\ncontainer agent: slab_reclaimable grows 8.0 MiB/h (100% of growth)",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("no %q in:\n%s", w, out)
		}
	}

	t.Setenv("LC_ALL", "C")
	out, _, _ = runCLI(t, "explain", "--root", dir, "logging/log-agent")
	if i := strings.IndexFunc(out, func(r rune) bool { return r > 127 }); i >= 0 || !strings.Contains(out, "*#   100M -> 172M   +12M/h\n") {
		t.Errorf("with LC_ALL=C the charts are not ASCII (first non-ASCII at %d):\n%s", i, out)
	}
}

// The daemon saves with the policy's resolutions; explain reads the files
// as saved, and says when the policy keeps no history.
func TestExplainTrendOfflinePolicyTiers(t *testing.T) {
	utcClock(t)
	dir := fixtures.CopyDir(t, "v2-systemd")
	saveLeaks(t, dir, []history.Tier{{Step: 5 * time.Second, Len: 360}, {Step: time.Minute, Len: 720}}, 5*time.Second,
		map[string]leak{trendStress: heapLeak})
	pol := filepath.Join(paths.Under(dir).Etc, "memrelief", "policy.toml")
	mkdirs(t, filepath.Dir(pol))
	if err := os.WriteFile(pol, []byte("[history]\nresolution = [\"5s/30m\", \"1m/12h\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "explain", "--root", dir, strings.TrimPrefix(trendStress, "/"))
	if code != 0 || !strings.Contains(out, "Trend: 5s points over the last 30m ") || !strings.Contains(out, "\nanon grows 12 MiB/h") {
		t.Errorf("exit %d, stderr %s:\n%s", code, errOut, out)
	}
	if err := os.WriteFile(pol, []byte("[history]\nenabled = false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, _ = runCLI(t, "explain", "--root", dir, strings.TrimPrefix(trendStress, "/"))
	if !strings.Contains(out, "Trend: no history: history.enabled = false in "+pol+"\n") {
		t.Errorf("history off:\n%s", out)
	}
}

// checkGolden compares got with the golden file at path, or with -update
// writes it.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/memrelief -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test ./cmd/memrelief -update rewrites it; check the diff):\n%s", path, lineDiff(string(want), got))
	}
}

// On the live host explain asks the daemon over the system bus: a bus
// without memrelief on it means the daemon is not running; with it, its
// history is shown.
func TestExplainTrendFromTheDaemon(t *testing.T) {
	utcClock(t)
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		t.Skipf("SKIP: no /sys/fs/cgroup on this machine: %v", err)
	}
	bus := privateBus(t)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", bus)
	t.Setenv("LC_ALL", "C.UTF-8")

	out, errOut, code := runCLI(t, "explain", "/")
	if code != 0 {
		t.Skipf("SKIP: explain / on this host: exit %d, %s", code, errOut)
	}
	// Whether this host has a saved history of its own (memrelief installed
	// here) is not this test's business: either way explain must say that
	// no daemon answered.
	if !strings.Contains(out, "Trend: no history of this cgroup yet: the daemon is not running, and none is saved in ") &&
		!strings.Contains(out, "; the daemon is not running)") {
		t.Errorf("bus without the daemon:\n%s", out)
	}

	s := leakSeries(t, "/", nil, 30*time.Second, heapLeak)
	view := engine.HistoryView{Cgroup: "/", Step: 5 * time.Minute, Points: s.Points(0, time.Time{}, s.Last().Add(time.Second), nil),
		Trend: &engine.TrendStatus{BytesPerSec: 12 << 20 / 3600.0, Quality: "high", Since: leakStart, Growing: true,
			Components: map[string]float64{"current": 12 << 20 / 3600.0, "anon": 12 << 20 / 3600.0}, Dominant: "anon",
			Causes: "anon grows 12 MiB/h (100% of growth) since 2026-11-30 03:07: anonymous memory (heaps, stacks): a process is leaking",
			ToHigh: engine.NeverMet, ToMax: engine.NeverMet, ToOOM: 3 * 24 * time.Hour}}
	ctx, cancel := context.WithCancel(context.Background())
	srv := dbusapi.New(dbusapi.Config{
		Dial:   func(ctx context.Context) (dbusapi.Conn, error) { return godbus.Connect(bus, godbus.WithContext(ctx)) },
		Engine: dbusapi.QueryFunc(func(context.Context) (engine.Snapshot, error) { return engine.Snapshot{}, nil }),
		History: func(_ context.Context, cg string, _ time.Time) (engine.HistoryView, error) {
			if cg != "/" {
				return engine.HistoryView{}, engine.ErrNoHistory
			}
			return view, nil
		},
		RetryEvery: 50 * time.Millisecond,
	})
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for i := 0; ; i++ {
		out, errOut, code = runCLI(t, "explain", "/")
		if code != 0 {
			t.Fatalf("exit %d, %s", code, errOut)
		}
		if !strings.Contains(out, "the daemon is not running") || i == 100 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, w := range []string{"Trend: 5m points over the last 6h 5m (from the running daemon)\n",
		"\nmemory in use (MemTotal - MemAvailable) grows +12M/h since 2026-11-30 03:07 (quality high)\n",
		"\nanon grows 12 MiB/h (100% of growth)", "\nat this rate it reaches MemAvailable 0 in 3d\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("no %q in:\n%s", w, out)
		}
	}
	if f := strings.Fields(rowOf(out, "  anon ")); len(f) != 6 || f[2] != "100M" || f[4] != "172M" || f[5] != "+12M/h" {
		t.Errorf("anon row %q", f)
	}

	out, _, _ = runCLI(t, "explain", "--no-dbus", "/")
	if !strings.Contains(out, "D-Bus is not used (--no-dbus)") {
		t.Errorf("--no-dbus asked the daemon:\n%s", out)
	}
}

func rowOf(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) && strings.Contains(l, " -> ") {
			return l
		}
	}
	return ""
}

// privateBus runs a dbus-daemon of type system that lets anyone own and
// call anything, and returns its address.
func privateBus(t *testing.T) string {
	t.Helper()
	return bustest.Start(t, "system", bustest.Permissive, "explain's talk with the daemon is NOT tested")
}
