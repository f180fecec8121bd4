package npd

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/fixtures"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
)

const podSlice = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice"

// scenarioPolicy has the default policy's level names (elevated, high) at
// thresholds the v2-systemd fixture's pod (80 MB of reclaimable slab, 55%
// of its memory) crosses: it enters elevated, and two reclaims that free
// nothing (a fixture file frees no memory) escalate it to high.
const scenarioPolicy = `
# 2-second buckets: a leak of a few minutes is judged as one of days.
[history]
resolution = ["2s/2m", "1m/1h"]

[[rule]]
name = "pods"
units = ["kubepods-burstable-pod*.slice"]

[[rule.level]]
name = "elevated"
enter.all = ["slab_reclaimable >= 64M", "slab_reclaimable_share >= 50%"]
exit.any = ["slab_reclaimable < 32M"]
dwell = "10s"
cooldown = "30s"

[[rule.level.action]]
type = "event"

[[rule.level.action]]
type = "reclaim"
amount = "25%"
of = "slab_reclaimable"
batch = "16M"
budget_per_minute = "256M"
timeout = "2s"

[[rule.level.action]]
type = "vfs_cache_pressure"
target = 200
step = 50

[[rule.level]]
name = "high"
enter.all = ["slab_reclaimable >= 1G"]
exit.any = ["slab_reclaimable < 512M"]
dwell = "10s"
cooldown = "30s"

[[rule.level.action]]
type = "event"

[[rule.level.action]]
type = "exec"
command = ["/bin/false"]
timeout = "5s"
`

// scenarioEvents runs memrelief's engine on a copy of the v2-systemd
// fixture through a pod's whole story, the way internal/engine's tests do,
// and returns every event it reported: entering a level, reclaims that
// free nothing, escalation to the top level, reminders while there,
// leaving it, a heap leak reported as growth, and two rejected reloads (an
// unreadable file, then one that fails validation).
func scenarioEvents(t *testing.T) []report.Event {
	t.Helper()
	roots := fixtures.Copy(t, "v2-systemd")
	if err := os.WriteFile(filepath.Join(roots.Cgroup, podSlice, "memory.reclaim"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Parse("policy.toml", []byte(scenarioPolicy))
	if err != nil {
		t.Fatalf("scenario policy: %v", err)
	}
	layout, err := cgroupfs.DetectLayout(roots.Cgroup, func(string) (int64, error) { return cgroupfs.Cgroup2Magic, nil })
	if err != nil {
		t.Fatal(err)
	}
	pfile := filepath.Join(roots.Etc, "memrelief", "policy.toml")
	now := time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)
	rec := &report.Recorder{}
	eng := engine.New(engine.Config{
		Roots: roots, Layout: layout, Policy: pol, Sink: rec,
		Now:        func() time.Time { return now },
		LoadPolicy: func() (*policy.Policy, error) { return policy.Load(pfile) },
	})
	t.Cleanup(eng.Close)
	ctx := context.Background()
	tick := func(sec int) {
		now = time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC).Add(time.Duration(sec) * time.Second)
		eng.Tick(ctx)
		eng.Settle()
	}
	stat := filepath.Join(roots.Cgroup, podSlice, "memory.stat")
	// 0-60 s: elevated, two reclaims that free nothing, escalated to high
	// (held while elevated's trouble lasts), left once the slab is gone;
	// meanwhile someone else changes vm.vfs_cache_pressure.
	for sec := 0; sec <= 60; sec += 2 {
		tick(sec)
		if sec == 42 {
			setSlab(t, stat, "1000")
		}
		if sec == 20 {
			// An administrator sets vm.vfs_cache_pressure meanwhile:
			// memrelief lets go of it.
			if err := os.WriteFile(filepath.Join(roots.Proc, "sys/vm/vfs_cache_pressure"), []byte("120\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// 62-200 s: the slab reaches the top level's own threshold: high,
	// with a reminder every cooldown.
	setSlab(t, stat, "1610612736")
	for sec := 62; sec <= 200; sec += 2 {
		tick(sec)
	}
	// 202-230 s: the slab is gone; the pod leaves every level.
	setSlab(t, stat, "1000")
	for sec := 202; sec <= 230; sec += 2 {
		tick(sec)
	}
	// 232-330 s: the pod's heap leaks 100 KiB/s: a growth event.
	for sec := 232; sec <= 330; sec += 2 {
		grown := uint64(sec-232) * 100 << 10
		setField(t, stat, "anon", strconv.FormatUint(60<<20+grown, 10))
		if err := os.WriteFile(filepath.Join(roots.Cgroup, podSlice, "memory.current"), []byte(strconv.FormatUint(150<<20+grown, 10)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		tick(sec)
	}
	eng.Reload(ctx) // no policy file: rejected, the old policy stays
	if err := os.MkdirAll(filepath.Dir(pfile), 0o755); err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(scenarioPolicy, `cooldown = "30s"`, `cooldown = "30 parsecs"`, 1)
	if err := os.WriteFile(pfile, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	eng.Reload(ctx)
	return rec.Events()
}

func setSlab(t *testing.T, path, bytes string) {
	t.Helper()
	setField(t, path, "slab_reclaimable", bytes)
}

// setField rewrites one field of a memory.stat file.
func setField(t *testing.T, path, field, bytes string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field+" ") {
			line = field + " " + bytes
		}
		out = append(out, line)
	}
	if err := os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}
