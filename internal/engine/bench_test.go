package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/paths"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
)

// syntheticHost builds a v2 tree of n pod slices under
// kubepods.slice/kubepods-burstable.slice, each with the memory files the
// engine reads, copied from the v2-systemd fixture's real pod slice.
func syntheticHost(b *testing.B, n int) paths.Roots {
	b.Helper()
	src := filepath.Join("..", "fixtures", "hosts", "v2-systemd")
	roots := paths.Under(b.TempDir())
	for _, dir := range []string{roots.Cgroup, filepath.Join(roots.Proc, "pressure"), filepath.Join(roots.Proc, "sys/fs"), filepath.Join(roots.Proc, "sys/vm")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	for _, f := range []string{"meminfo", "pressure/memory", "sys/fs/dentry-state", "sys/vm/vfs_cache_pressure"} {
		copyFile(b, filepath.Join(src, "proc", f), filepath.Join(roots.Proc, f))
	}
	copyFile(b, filepath.Join(src, "sys/fs/cgroup/cgroup.controllers"), filepath.Join(roots.Cgroup, "cgroup.controllers"))
	pod := filepath.Join(src, "sys/fs/cgroup", podSlice)
	parent := filepath.Join(roots.Cgroup, "kubepods.slice/kubepods-burstable.slice")
	for i := range n {
		dir := filepath.Join(parent, fmt.Sprintf("kubepods-burstable-pod%08d.slice", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for _, f := range []string{"memory.current", "memory.high", "memory.max", "memory.stat", "memory.pressure"} {
			copyFile(b, filepath.Join(pod, f), filepath.Join(dir, f))
		}
	}
	return roots
}

func copyFile(b *testing.B, from, to string) {
	data, err := os.ReadFile(from)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		b.Fatal(err)
	}
}

// benchPolicy matches every pod; its thresholds are not met by the fixture
// figures, so a tick samples, assesses and plans without acting, which is
// the steady state the daemon spends its life in.
const benchPolicy = `
[[rule]]
name = "pods"
units = ["kubepods-burstable-pod*.slice"]
[[rule.level]]
name = "elevated"
enter.all = ["slab_reclaimable >= 1G", "slab_reclaimable_share >= 50%"]
exit.any = ["slab_reclaimable < 512M"]
dwell = "1m"
cooldown = "2m"
[[rule.level.action]]
type = "event"
[[rule.level]]
name = "pressure"
enter.any = ["psi_some_avg60 >= 90%"]
exit.all = ["psi_some_avg60 < 50%"]
dwell = "30s"
cooldown = "5m"
[[rule.level.action]]
type = "event"
`

func benchmarkTick(b *testing.B, n int) { benchmarkTickPolicy(b, n, benchPolicy) }

// benchmarkTickPolicy measures steady-state ticks: 2 s of fake time each,
// so per-series estimates (once per 5-minute bucket) and saves (every 15
// minutes) fall in the measurement at their real share.
func benchmarkTickPolicy(b *testing.B, n int, text string) {
	roots := syntheticHost(b, n)
	pol, err := policy.Parse("bench.toml", []byte(text))
	if err != nil {
		b.Fatal(err)
	}
	// A bench of n cgroups watches n: past the default daemon.max_cgroups
	// (2,000) the rest would be left out, and Tick10000 measured nothing.
	pol.Daemon.MaxCgroups = max(pol.Daemon.MaxCgroups, n)
	layout, err := cgroupfs.DetectLayout(roots.Cgroup, func(string) (int64, error) { return cgroupfs.Cgroup2Magic, nil })
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)
	e := New(Config{Roots: roots, Layout: layout, Policy: pol, Sink: &report.Recorder{},
		Now: func() time.Time { return now }, RescanEvery: time.Hour})
	b.Cleanup(e.Close)
	ctx := context.Background()
	// Measure the steady state: the first tick scans, and past the
	// descriptor budget the files read only when needed hand their
	// descriptors to memory.current as they are read, within statMaxAge.
	for range statMaxAge / (2 * time.Second) {
		now = now.Add(2 * time.Second)
		e.Tick(ctx)
	}
	if len(e.watched) != n {
		b.Fatalf("watching %d cgroups, want %d", len(e.watched), n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		now = now.Add(2 * time.Second)
		e.Tick(ctx)
	}
	b.StopTimer()
	perCgroup := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(n)
	b.ReportMetric(perCgroup, "ns/cgroup")
}

func BenchmarkTick100(b *testing.B)   { benchmarkTick(b, 100) }
func BenchmarkTick1000(b *testing.B)  { benchmarkTick(b, 1000) }
func BenchmarkTick10000(b *testing.B) { benchmarkTick(b, 10000) }

// BenchmarkTick1000NoHistory is Tick1000 with history off: the difference
// is what trends cost.
func BenchmarkTick1000NoHistory(b *testing.B) {
	benchmarkTickPolicy(b, 1000, "[history]\nenabled = false\n"+benchPolicy)
}

// BenchmarkTick10000NoHistory is the loop's own cost at 10,000 cgroups:
// with history on, each tick also pays its share of saves and estimates,
// which fake time (2 s a tick, ticks milliseconds apart) crowds into it
// hundreds of times faster than a real clock would.
func BenchmarkTick10000NoHistory(b *testing.B) {
	benchmarkTickPolicy(b, 10000, "[history]\nenabled = false\n"+benchPolicy)
}

// quietPressure replaces the pressure files of a syntheticHost with a
// quiet host's: the fixture was captured under memory pressure (some avg10
// 87% in the pod), which puts every pod at the default policy's level
// "pressure", reclaiming each cooldown.
func quietPressure(b *testing.B, roots paths.Roots) {
	b.Helper()
	files, err := filepath.Glob(filepath.Join(roots.Cgroup, "kubepods.slice/kubepods-burstable.slice/*/memory.pressure"))
	if err != nil {
		b.Fatal(err)
	}
	const quiet = "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
	for _, f := range append(files, filepath.Join(roots.Proc, "pressure", "memory")) {
		if err := os.WriteFile(f, []byte(quiet), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFootprint1000 reports the live heap per watched cgroup: 1,000
// pod slices at rest under the packaged default policy, after a minute of
// ticks (young history: a series' buckets add their own cost as they
// fill, see the history package's Footprint benchmarks). What it measures
// is what a node pays for each pod besides history.
func BenchmarkFootprint1000(b *testing.B) {
	const n = 1000
	roots := syntheticHost(b, n)
	quietPressure(b, roots)
	pol, err := policy.Default()
	if err != nil {
		b.Fatal(err)
	}
	layout, err := cgroupfs.DetectLayout(roots.Cgroup, func(string) (int64, error) { return cgroupfs.Cgroup2Magic, nil })
	if err != nil {
		b.Fatal(err)
	}
	var before, after runtime.MemStats
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		now := time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)
		e := New(Config{Roots: roots, Layout: layout, Policy: pol, Sink: report.Multi{},
			Now: func() time.Time { return now }, RescanEvery: time.Hour})
		for range 30 {
			now = now.Add(2 * time.Second)
			e.Tick(context.Background())
		}
		if len(e.watched) < n {
			b.Fatalf("watching %d cgroups, want at least %d", len(e.watched), n)
		}
		for cg, w := range e.watched {
			if w.st.Level != Normal {
				b.Fatalf("%s is at level %d of rule %s: not a host at rest", cg, w.st.Level, w.rule.Name)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(e)
		e.Close()
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/cgroup")
}
