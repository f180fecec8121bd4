package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/fixtures"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
)

// The v2-systemd fixture's pod slice holds 80 MB of reclaimable slab: the
// rule puts it at level elevated on the first tick, which raises
// vfs_cache_pressure from the fixture's 100 towards 200.
const testPolicy = `
[daemon]
interval = "200ms"
state_dir = "/run/memrelief"

[node]

[[node.level]]
name = "stalled"
enter.any = ["psi_some_avg10 >= 99%"]
exit.all = ["psi_some_avg10 < 50%"]

[[node.level.action]]
type = "event"

[[rule]]
name = "pods"
units = ["kubepods-burstable-pod*.slice"]

[[rule.level]]
name = "elevated"
enter.all = ["slab_reclaimable >= 64M"]
exit.any = ["slab_reclaimable < 32M"]
dwell = "0s"
cooldown = "1h"

[[rule.level.action]]
type = "event"

[[rule.level.action]]
type = "vfs_cache_pressure"
target = 200
step = 50
`

// liveEngine runs a real engine on a copy of the v2-systemd fixture with
// m as its sink, and returns the engine once it has ticked.
func liveEngine(t *testing.T) (*engine.Engine, *Metrics) {
	t.Helper()
	roots := fixtures.Copy(t, "v2-systemd")
	pol, err := policy.Parse("test.toml", []byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	layout, err := cgroupfs.DetectLayout(roots.Cgroup, func(string) (int64, error) { return cgroupfs.Cgroup2Magic, nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var eng *engine.Engine
	m := New(ctx, QueryFunc(func(ctx context.Context) (engine.Snapshot, error) { return eng.Query(ctx) }), Options{Proc: roots.Proc})
	eng = engine.New(engine.Config{Roots: roots, Layout: layout, Policy: pol, Sink: m})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); eng.Run(ctx, nil) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	// Wait until vfs_cache_pressure is managed: the level was entered and
	// acted on.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := eng.Query(ctx)
		if err == nil && s.VFSManaged {
			return eng, m
		}
		if time.Now().After(deadline) {
			t.Fatalf("engine did not manage vfs_cache_pressure within 10s: %+v %v", s, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func parse(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("the Prometheus text parser refuses the output: %v", err)
	}
	return fams
}

func gather(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", rec.Code, rec.Body.String())
	}
	return parse(t, rec.Body)
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// byCgroup returns the family's series keyed by their cgroup label.
func byCgroup(t *testing.T, fams map[string]*dto.MetricFamily, name string) map[string]*dto.Metric {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no %s", name)
	}
	out := map[string]*dto.Metric{}
	for _, m := range f.GetMetric() {
		out[labels(m)["cgroup"]] = m
	}
	return out
}

func TestScrapeEqualsTheEngine(t *testing.T) {
	eng, m := liveEngine(t)
	fams := gather(t, m)
	s, err := eng.Query(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	all := append([]engine.CgroupStatus{*s.Node}, s.Cgroups...)
	for _, name := range []string{"memrelief_cgroup_memory_current_bytes", "memrelief_cgroup_level_info"} {
		if n := len(fams[name].GetMetric()); n != len(all) {
			t.Errorf("%s has %d series, want one per watched cgroup and the node (%d)", name, n, len(all))
		}
	}
	for _, c := range all {
		want := map[string]float64{"memrelief_cgroup_memory_current_bytes": float64(c.CurrentBytes)}
		if c.HasSlab {
			want["memrelief_cgroup_slab_reclaimable_bytes"] = float64(c.SlabReclaimableBytes)
		}
		if c.HasKernel {
			want["memrelief_cgroup_kernel_memory_bytes"] = float64(c.KernelMemoryBytes)
		}
		if c.HasPSI {
			want["memrelief_cgroup_psi_some_avg10_ratio"] = c.PSISomeAvg10 / 100
			want["memrelief_cgroup_psi_full_avg10_ratio"] = c.PSIFullAvg10 / 100
			want["memrelief_cgroup_psi_some_seconds_total"] = float64(c.PSISomeTotalUsec) / 1e6
			want["memrelief_cgroup_psi_full_seconds_total"] = float64(c.PSIFullTotalUsec) / 1e6
		}
		if !c.LevelSince.IsZero() {
			want["memrelief_cgroup_level_since_timestamp_seconds"] = float64(c.LevelSince.UnixNano()) / 1e9
		}
		for name, v := range want {
			got, ok := byCgroup(t, fams, name)[c.Cgroup]
			if !ok {
				t.Errorf("%s{cgroup=%q} missing", name, c.Cgroup)
				continue
			}
			if value(got) != v {
				t.Errorf("%s{cgroup=%q} = %v, engine says %v", name, c.Cgroup, value(got), v)
			}
			l := labels(got)
			if l["unit"] != c.Unit || l["rule"] != c.Rule {
				t.Errorf("%s{cgroup=%q} labels %v, want unit %q rule %q", name, c.Cgroup, l, c.Unit, c.Rule)
			}
			wantPod := map[int]string{0: "//", 1: c.Pod + "/", 2: c.Pod}[strings.Count(c.Pod, "/")]
			if p := l["namespace"] + "/" + l["pod"] + "/" + l["container"]; p != wantPod {
				t.Errorf("%s{cgroup=%q} namespace/pod/container labels %q, want %q (engine's pod %q)", name, c.Cgroup, p, wantPod, c.Pod)
			}
		}
		lv := byCgroup(t, fams, "memrelief_cgroup_level_info")[c.Cgroup]
		if lv == nil || labels(lv)["level"] != c.Level || value(lv) != 1 {
			t.Errorf("level_info{cgroup=%q} = %v, engine level %q", c.Cgroup, lv, c.Level)
		}
	}
	pod := s.Cgroups[0]
	if pod.Level != "elevated" || !pod.HasSlab || pod.SlabReclaimableBytes < 64<<20 {
		t.Errorf("fixture pod slice: %+v, want level elevated with its 80 MB of slab", pod)
	}
	if l := labels(byCgroup(t, fams, "memrelief_cgroup_memory_current_bytes")[pod.Cgroup]); l["namespace"] != "logging" || l["pod"] != "log-agent" || l["container"] != "" {
		t.Errorf("fixture pod slice labelled %v, want namespace logging, pod log-agent (its /var/log/pods directory), no container", l)
	}

	single := func(name string) float64 {
		t.Helper()
		f, ok := fams[name]
		if !ok || len(f.GetMetric()) != 1 {
			t.Fatalf("%s: %v", name, f)
		}
		return value(f.GetMetric()[0])
	}
	for name, v := range map[string]float64{
		"memrelief_vfs_cache_pressure_managed":  1,
		"memrelief_vfs_cache_pressure_current":  float64(s.VFSCurrent),
		"memrelief_vfs_cache_pressure_original": 100,
		"memrelief_engine_watched_cgroups":      1,
		"memrelief_engine_dry_run":              0,
		"memrelief_engine_reload_rejected":      0,
		"memrelief_metrics_snapshot_success":    1,
	} {
		if got := single(name); got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
	if s.VFSCurrent <= 100 {
		t.Errorf("vfs_cache_pressure %d: the level did not raise it", s.VFSCurrent)
	}
	if tick := single("memrelief_engine_tick_duration_seconds"); tick <= 0 || tick > 10 {
		t.Errorf("tick duration %v s", tick)
	}
	// The level change went through the sink.
	lc := fams["memrelief_level_changes_total"]
	if lc == nil || len(lc.GetMetric()) != 1 || labels(lc.GetMetric()[0])["level"] != "elevated" || value(lc.GetMetric()[0]) != 1 {
		t.Errorf("level_changes_total: %v", lc)
	}
	// And the Go runtime's series are served over HTTP.
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no go_goroutines over HTTP")
	}
}

var (
	nameRE = regexp.MustCompile(`^memrelief_(cgroup|action|reclaim|level|report|metrics|vfs|engine)_[a-z0-9_]+$`)
	// unitless are the gauges that are plain numbers or 0/1 states.
	unitless = map[string]bool{
		"memrelief_vfs_cache_pressure_current": true, "memrelief_vfs_cache_pressure_original": true,
		"memrelief_vfs_cache_pressure_managed": true, "memrelief_engine_watched_cgroups": true, "memrelief_engine_dry_run": true,
		"memrelief_engine_reload_rejected": true, "memrelief_metrics_snapshot_success": true, "memrelief_cgroup_level_info": true,
		"memrelief_engine_history_series": true, "memrelief_cgroup_growth_quality": true,
		"memrelief_metrics_cgroups_dropped": true, "memrelief_metrics_cgroups_max": true, "memrelief_build_info": true,
	}
	allowedLabels = map[string]bool{"cgroup": true, "unit": true, "rule": true, "level": true, "action": true, "result": true, "kind": true,
		"component": true, "limit": true, "version": true, "revision": true, "goversion": true,
		"namespace": true, "pod": true, "container": true}
)

func TestNamesAndLabelsFollowConventions(t *testing.T) {
	_, m := liveEngine(t)
	// Events with labels that must not open new series.
	m.Emit(report.Event{Kind: report.ActionTaken, Fields: map[string]string{report.FieldAction: "rm -rf /", report.FieldResult: "exploded", report.FieldRule: "pods"}})
	m.Emit(report.Event{Kind: "made-up"})
	if err := m.WriteTextfile(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	fams := gather(t, m)
	if len(fams) < 15 {
		t.Errorf("only %d families", len(fams))
	}
	for name, f := range fams {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_") {
			continue
		}
		if !nameRE.MatchString(name) && name != "memrelief_build_info" {
			t.Errorf("%s: not memrelief_<subsystem>_<name>_<unit>", name)
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			if !strings.HasSuffix(name, "_total") {
				t.Errorf("counter %s lacks _total", name)
			}
		case dto.MetricType_GAUGE:
			if strings.HasSuffix(name, "_total") {
				t.Errorf("gauge %s ends in _total", name)
			}
			if !unitless[name] && !regexp.MustCompile(`_(bytes|seconds|ratio|bytes_per_second)$`).MatchString(name) {
				t.Errorf("gauge %s has no unit suffix", name)
			}
		default:
			t.Errorf("%s is %v", name, f.GetType())
		}
		if f.GetHelp() == "" {
			t.Errorf("%s has no help", name)
		}
		for _, s := range f.GetMetric() {
			for l := range labels(s) {
				if !allowedLabels[l] {
					t.Errorf("%s has label %s", name, l)
				}
			}
		}
	}
	others := 0
	for _, s := range fams["memrelief_action_runs_total"].GetMetric() {
		l := labels(s)
		switch {
		case l["action"] == "other" && l["result"] == "other":
			others++
		case l["action"] == "rm -rf /" || l["result"] == "exploded":
			t.Errorf("an unknown action or result opened a series: %v", l)
		}
	}
	if others != 1 {
		t.Errorf("unknown action and result must count as other: %v", fams["memrelief_action_runs_total"])
	}
	kinds := map[string]bool{}
	for _, s := range fams["memrelief_report_events_total"].GetMetric() {
		kinds[labels(s)["kind"]] = true
	}
	if len(kinds) != len(report.Kinds())+1 || !kinds["other"] {
		t.Errorf("event kinds %v: want every kind from the start, and other", kinds)
	}
}

func TestCountersFromEvents(t *testing.T) {
	m := New(context.Background(), QueryFunc(func(context.Context) (engine.Snapshot, error) { return engine.Snapshot{}, nil }), Options{})
	reclaim := func(result, freed, asked string) report.Event {
		return report.Event{Kind: report.ActionTaken, Fields: map[string]string{report.FieldAction: "reclaim", report.FieldResult: result,
			report.FieldRule: "pods", report.FieldReclaimedBytes: freed, report.FieldRequestedBytes: asked}}
	}
	for _, ev := range []report.Event{
		reclaim("ok", "1000", "4000"),
		reclaim("partial", "24", "100"),
		reclaim("dry-run", "0", "5000"), // would have run: nothing asked of the kernel
		reclaim("failed", "garbage", "7"),
		{Kind: report.ActionTaken, Fields: map[string]string{report.FieldAction: "exec", report.FieldResult: "ok", report.FieldRule: "pods"}},
		{Kind: report.LevelChanged, Fields: map[string]string{report.FieldRule: "pods", report.FieldLevel: "high"}},
		{Kind: report.LevelChanged, Fields: map[string]string{report.FieldRule: "pods", report.FieldLevel: "normal"}},
		{Kind: report.Problem},
	} {
		m.Emit(ev)
	}
	fams := gather(t, m)
	get := func(name string, want map[string]string) float64 {
		t.Helper()
		for _, s := range fams[name].GetMetric() {
			l := labels(s)
			match := true
			for k, v := range want {
				match = match && l[k] == v
			}
			if match {
				return value(s)
			}
		}
		t.Errorf("%s%v missing", name, want)
		return -1
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"memrelief_action_runs_total", map[string]string{"action": "reclaim", "result": "ok"}, 1},
		{"memrelief_action_runs_total", map[string]string{"action": "reclaim", "result": "dry-run"}, 1},
		{"memrelief_action_runs_total", map[string]string{"action": "reclaim", "result": "failed"}, 1},
		{"memrelief_action_runs_total", map[string]string{"action": "exec", "result": "ok"}, 1},
		{"memrelief_reclaim_reclaimed_bytes_total", map[string]string{"rule": "pods"}, 1024},
		{"memrelief_reclaim_requested_bytes_total", map[string]string{"rule": "pods"}, 4107},
		{"memrelief_level_changes_total", map[string]string{"rule": "pods", "level": "high"}, 1},
		{"memrelief_level_changes_total", map[string]string{"rule": "pods", "level": "normal"}, 1},
		{"memrelief_report_events_total", map[string]string{"kind": "action"}, 5},
		{"memrelief_report_events_total", map[string]string{"kind": "level_changed"}, 2},
		{"memrelief_report_events_total", map[string]string{"kind": "problem"}, 1},
		{"memrelief_report_events_total", map[string]string{"kind": "stopped"}, 0},
	} {
		if got := get(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// TestCountersStartAtZero: every series a counter can have from what
// memrelief knows (kinds, action types and results, the policy's rules and
// levels) is there before its first event, so rate() and increase() see
// the first one; and the build is named.
func TestCountersStartAtZero(t *testing.T) {
	pol, err := policy.Parse("test.toml", []byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	m := New(context.Background(), QueryFunc(func(context.Context) (engine.Snapshot, error) { return engine.Snapshot{}, nil }),
		Options{Version: "1.2.3", Revision: "abc123"})
	m.Know(pol)
	fams := gather(t, m)
	series := func(name string) map[string]float64 {
		out := map[string]float64{}
		for _, s := range fams[name].GetMetric() {
			l := labels(s)
			out[l["action"]+"/"+l["result"]+l["rule"]+"/"+l["level"]] = value(s)
		}
		return out
	}
	runs := series("memrelief_action_runs_total")
	for _, a := range policy.ActionTypes() {
		for _, r := range []string{report.ResultOK, report.ResultPartial, report.ResultIneffective, report.ResultSkipped,
			report.ResultUnsupported, report.ResultFailed, report.ResultDryRun} {
			if v, ok := runs[string(a)+"/"+r+"/"]; !ok || v != 0 {
				t.Errorf("action_runs_total{action=%q,result=%q} = %v, %v; want 0 before any event", a, r, v, ok)
			}
		}
	}
	levels := series("memrelief_level_changes_total")
	for _, k := range []string{"/pods/normal", "/pods/elevated", "/node/normal", "/node/stalled"} {
		if v, ok := levels[k]; !ok || v != 0 {
			t.Errorf("level_changes_total %s = %v, %v; want 0 before any change (have %v)", k, v, ok, levels)
		}
	}
	for _, name := range []string{"memrelief_reclaim_reclaimed_bytes_total", "memrelief_reclaim_requested_bytes_total"} {
		if v, ok := series(name)["/pods/"]; !ok || v != 0 {
			t.Errorf("%s{rule=pods} = %v, %v; want 0 before any reclaim", name, v, ok)
		}
	}
	info := fams["memrelief_build_info"].GetMetric()
	if len(info) != 1 || value(info[0]) != 1 {
		t.Fatalf("build_info: %v", info)
	}
	if l := labels(info[0]); l["version"] != "1.2.3" || l["revision"] != "abc123" || !strings.HasPrefix(l["goversion"], "go") {
		t.Errorf("build_info labels %v", l)
	}
}

func TestQueryFailure(t *testing.T) {
	m := New(context.Background(), QueryFunc(func(ctx context.Context) (engine.Snapshot, error) {
		<-ctx.Done()
		return engine.Snapshot{}, ctx.Err()
	}), Options{QueryTimeout: 10 * time.Millisecond})
	for range 2 {
		fams := gather(t, m)
		if v := value(fams["memrelief_metrics_snapshot_success"].GetMetric()[0]); v != 0 {
			t.Errorf("snapshot_success = %v", v)
		}
		if _, ok := fams["memrelief_cgroup_memory_current_bytes"]; ok {
			t.Error("engine series present without a snapshot")
		}
	}
	// The counter is collected alongside the failing collector, so read it
	// directly rather than from a third scrape.
	if v := m.queryErrs.value(); v != 2 {
		t.Errorf("query_failures_total = %v, want 2", v)
	}
}

func TestParseAddr(t *testing.T) {
	for _, c := range []struct {
		in, want, err string
	}{
		{"unix:/run/memrelief/metrics.sock", "unix:/run/memrelief/metrics.sock", ""},
		{"unix:/run/memrelief/../memrelief/m.sock", "unix:/run/memrelief/m.sock", ""},
		{"127.0.0.1:9780", "127.0.0.1:9780", ""},
		{"127.1.2.3:9780", "127.1.2.3:9780", ""},
		{"[::1]:9780", "[::1]:9780", ""},
		{"localhost:9780", "127.0.0.1:9780", ""},
		{"unix:metrics.sock", "", "absolute"},
		{"unix:/run/a\x00b", "", "absolute"},
		{"unix:/" + strings.Repeat("x", 107), "", "at most 107"},
		{"0.0.0.0:9780", "", "not loopback (0.0.0.0)"},
		{":9780", "", "not loopback (every address)"},
		{"[::]:9780", "", "not loopback"},
		{"10.0.0.5:9780", "", "not loopback"},
		{"node1.example.com:9780", "", "not loopback"},
		{"[::ffff:10.0.0.1]:9780", "", "not loopback"},
		{"9780", "", "want unix:/path or a loopback host:port"},
		{"127.0.0.1:http", "", "not a number"},
		{"127.0.0.1:65536", "", "not a number"},
	} {
		a, err := ParseAddr(c.in, false)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("ParseAddr(%q): %v", c.in, err)
		case c.err == "" && a.String() != c.want:
			t.Errorf("ParseAddr(%q) = %s, want %s", c.in, a, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseAddr(%q) = %v, %v; want error with %q", c.in, a, err, c.err)
		}
	}
}

func unixClient(path string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}}}
}

func TestServeOnUnixSocket(t *testing.T) {
	_, m := liveEngine(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "memrelief", "metrics.sock")
	if err := os.Mkdir(filepath.Dir(sock), 0o755); err != nil {
		t.Fatal(err)
	}
	// A stale socket from a crash is replaced.
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	a, err := ParseAddr("unix:"+sock, false)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(a)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode %v, %v; want 0666", fi.Mode(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.Serve(ctx, ln) }()

	resp, err := unixClient(sock).Get("http://memrelief/metrics")
	if err != nil {
		t.Fatal(err)
	}
	fams := parse(t, resp.Body)
	resp.Body.Close()
	if _, ok := fams["memrelief_cgroup_level_info"]; !ok {
		t.Error("no memrelief_cgroup_level_info over the socket")
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}

	// A regular file in the way is not removed.
	if err := os.WriteFile(sock, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(a); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a regular file: %v", err)
	}
}

func TestListenCreatesTheSocketDirectory(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "run", "memrelief", "metrics.sock")
	ln, err := Listen(Addr{"unix", sock})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if fi, err := os.Lstat(sock); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("%s: %v %v", sock, fi, err)
	}
}

// TestListenLeavesALiveSocket: a stale socket (its listener gone) is
// replaced; a live one, another memrelief's, is not taken.
func TestListenLeavesALiveSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "metrics.sock")
	first, err := Listen(Addr{"unix", sock})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := first.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if ln, err := Listen(Addr{"unix", sock}); err == nil || !strings.Contains(err.Error(), "another process serves there") {
		if ln != nil {
			ln.Close()
		}
		t.Fatalf("second Listen on a live socket: %v; want it refused", err)
	}
	if c, err := net.Dial("unix", sock); err != nil {
		t.Fatalf("the first listener lost its socket: %v", err)
	} else {
		c.Close()
	}
	// Gone without removing its file (a crash): the next one takes over.
	first.(*net.UnixListener).SetUnlinkOnClose(false)
	first.Close()
	again, err := Listen(Addr{"unix", sock})
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	again.Close()
}

func TestServeOnLoopback(t *testing.T) {
	_, m := liveEngine(t)
	a, err := ParseAddr("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(a)
	if err != nil {
		t.Skipf("SKIP: no loopback network here (%v); loopback serving NOT tested", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.Serve(ctx, ln) }()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	fams := parse(t, resp.Body)
	resp.Body.Close()
	if _, ok := fams["memrelief_engine_tick_duration_seconds"]; !ok {
		t.Error("no tick duration over loopback")
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestTextfileIsReplacedAtomically(t *testing.T) {
	_, m := liveEngine(t)
	dir := t.TempDir()
	path := filepath.Join(dir, TextfileName)
	if err := m.WriteTextfile(dir); err != nil {
		t.Fatal(err)
	}
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldIno := inode(t, path)
	if err := m.WriteTextfile(dir); err != nil {
		t.Fatal(err)
	}
	// A rename, not a rewrite in place: a reader holding the old file
	// still reads all of it, and the name points at a new inode.
	if inode(t, path) == oldIno {
		t.Error("the textfile was rewritten in place")
	}
	fams := parse(t, old)
	if _, ok := fams["memrelief_cgroup_memory_current_bytes"]; !ok {
		t.Error("the old textfile lost its content")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fams = parse(t, f)
	f.Close()
	for name := range fams {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			t.Errorf("%s in the textfile collides with node_exporter's own", name)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("textfile mode %v, %v; node_exporter must read it", fi.Mode(), err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if len(names) != 1 || names[0] != TextfileName {
		t.Errorf("directory holds %v, want only %s (no temporary files left)", names, TextfileName)
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestRunTextfileRemovesItOnExit(t *testing.T) {
	_, m := liveEngine(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.RunTextfile(ctx, dir, 10*time.Millisecond, func(err error) { t.Errorf("write: %v", err) })
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, TextfileName)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no textfile within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if _, err := os.Stat(filepath.Join(dir, TextfileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("textfile left after exit: %v", err)
	}
}

// A crash between CreateTemp and the rename leaves a temporary; the next
// run removes it, and leaves alone one too young to be a crash's (another
// instance may be writing it) and anything that is not a temporary.
func TestRunTextfileSweepsTemporariesOfCrashes(t *testing.T) {
	_, m := liveEngine(t)
	dir := filepath.Join(t.TempDir(), "text[files]*") // a pattern to filepath.Glob
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * staleTemp)
	crashed := filepath.Join(dir, "."+TextfileName+".123456")
	young := filepath.Join(dir, "."+TextfileName+".654321")
	other := filepath.Join(dir, "node.prom")
	for _, p := range []string{crashed, young, other} {
		if err := os.WriteFile(p, []byte("x 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{crashed, other} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // one write, then the exit
	m.RunTextfile(ctx, dir, time.Hour, func(err error) { t.Errorf("write: %v", err) })
	if _, err := os.Stat(crashed); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a crash's temporary is left: %v", err)
	}
	for _, p := range []string{young, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", filepath.Base(p), err)
		}
	}
}

func TestRunTextfileReportsFailuresOnce(t *testing.T) {
	m := New(context.Background(), QueryFunc(func(context.Context) (engine.Snapshot, error) { return engine.Snapshot{}, nil }), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var errs []error
	m.RunTextfile(ctx, filepath.Join(t.TempDir(), "missing"), 5*time.Millisecond, func(err error) { errs = append(errs, err) })
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), filepath.Join("missing", TextfileName)) {
		t.Errorf("reported %v, want one error naming the file", errs)
	}
}

// TestTrendSeries: trends and forecasts of cgroups and of the containers of
// pods are exported; forecasts that never arrive are left out, not
// written as a huge number.
func TestTrendSeries(t *testing.T) {
	pod := "/kubepods.slice/kubepods-pod1.slice"
	ctr := pod + "/cri-containerd-abc.scope"
	snap := engine.Snapshot{
		HistorySeries: 3, HistoryBytes: 40960,
		Cgroups: []engine.CgroupStatus{{
			Cgroup: pod, Unit: "kubepods-pod1.slice", Rule: "pods", Level: "normal",
			Trend: &engine.TrendStatus{BytesPerSec: 120, Quality: "high", Components: map[string]float64{"current": 120, "anon": 118},
				ToHigh: engine.NeverMet, ToMax: 36 * time.Hour, ToOOM: engine.NeverMet},
			Containers: []engine.ContainerStatus{{Name: "sidecar", Cgroup: ctr,
				Trend: &engine.TrendStatus{BytesPerSec: 118, Quality: "medium", Components: map[string]float64{"current": 118},
					ToHigh: engine.NeverMet, ToMax: engine.NeverMet, ToOOM: engine.NeverMet}}},
		}},
	}
	m := New(context.Background(), QueryFunc(func(context.Context) (engine.Snapshot, error) { return snap, nil }), Options{})
	fams := gather(t, m)
	growth := map[string]float64{}
	for _, s := range fams["memrelief_cgroup_growth_bytes_per_second"].GetMetric() {
		l := labels(s)
		growth[l["cgroup"]+" "+l["component"]+" "+l["rule"]+" "+l["unit"]] = value(s)
	}
	want := map[string]float64{
		pod + " current pods kubepods-pod1.slice": 120, pod + " anon pods kubepods-pod1.slice": 118,
		ctr + " current pods cri-containerd-abc.scope": 118,
	}
	if !reflect.DeepEqual(growth, want) {
		t.Errorf("growth series %v, want %v", growth, want)
	}
	var limits []string
	for _, s := range fams["memrelief_cgroup_time_to_limit_seconds"].GetMetric() {
		limits = append(limits, fmt.Sprintf("%s %s %v", labels(s)["cgroup"], labels(s)["limit"], value(s)))
	}
	if want := []string{pod + " memory.max 129600"}; !reflect.DeepEqual(limits, want) {
		t.Errorf("time to limit %v, want %v", limits, want)
	}
	q := byCgroup(t, fams, "memrelief_cgroup_growth_quality")
	if value(q[pod]) != 3 || value(q[ctr]) != 2 {
		t.Errorf("quality pod %v container %v, want 3 and 2", value(q[pod]), value(q[ctr]))
	}
	if v := value(fams["memrelief_engine_history_memory_bytes"].GetMetric()[0]); v != 40960 {
		t.Errorf("history bytes %v", v)
	}
}

// TestPodLabels: series of a pod and of its containers carry the
// kubelet's namespace, pod and container names, which kube-state-metrics
// uses too; a cgroup that is no known pod has none; a pod that is no longer
// watched is gone from the next page.
func TestPodLabels(t *testing.T) {
	pod := "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice"
	agent, unknown := pod+"/cri-containerd-a.scope", pod+"/cri-containerd-b.scope"
	tr := &engine.TrendStatus{Quality: "high", Components: map[string]float64{"current": 1}, ToHigh: engine.NeverMet, ToMax: engine.NeverMet, ToOOM: engine.NeverMet}
	withPod := engine.Snapshot{Cgroups: []engine.CgroupStatus{
		{Cgroup: pod, Unit: "kubepods-burstable-pod1.slice", Pod: "logging/alloy-x7", Rule: "pods", Level: "normal", Trend: tr, MaxBytes: 256 << 20,
			Containers: []engine.ContainerStatus{
				{Name: "alloy", Cgroup: agent, Pod: "logging/alloy-x7/alloy", Trend: tr, HighBytes: 150 << 20, MaxBytes: 200 << 20},
				{Name: "cri-containerd-b.scope", Cgroup: unknown, Trend: tr},
			}},
		{Cgroup: "/system.slice/fluent-bit.service", Unit: "fluent-bit.service", Rule: "agents", Level: "normal"},
	}}
	snap := withPod
	m := New(context.Background(), QueryFunc(func(context.Context) (engine.Snapshot, error) { return snap, nil }), Options{})

	want := map[string][3]string{
		pod:                                {"logging", "alloy-x7", ""},
		agent:                              {"logging", "alloy-x7", "alloy"},
		unknown:                            {"", "", ""},
		"/system.slice/fluent-bit.service": {"", "", ""},
	}
	fams := gather(t, m)
	for _, name := range []string{"memrelief_cgroup_memory_current_bytes", "memrelief_cgroup_growth_quality", "memrelief_cgroup_level_info"} {
		for cg, s := range byCgroup(t, fams, name) {
			l := labels(s)
			if got := [3]string{l["namespace"], l["pod"], l["container"]}; got != want[cg] {
				t.Errorf("%s{cgroup=%q}: namespace, pod, container %q, want %q", name, cg, got, want[cg])
			}
		}
	}
	if n := len(byCgroup(t, fams, "memrelief_cgroup_growth_quality")); n != 3 {
		t.Errorf("growth quality for %d cgroups, want the pod and its two containers", n)
	}
	var lims []string
	for _, s := range fams["memrelief_cgroup_memory_limit_bytes"].GetMetric() {
		l := labels(s)
		lims = append(lims, fmt.Sprintf("%s/%s %s %v", l["pod"], l["container"], l["limit"], value(s)))
	}
	sort.Strings(lims)
	if want := []string{"alloy-x7/ memory.max 2.68435456e+08", "alloy-x7/alloy memory.high 1.572864e+08", "alloy-x7/alloy memory.max 2.097152e+08"}; !reflect.DeepEqual(lims, want) {
		t.Errorf("limit series %q, want %q (none for what is unlimited)", lims, want)
	}

	snap = engine.Snapshot{Cgroups: withPod.Cgroups[1:]}
	fams = gather(t, m)
	for name, f := range fams {
		for _, s := range f.GetMetric() {
			if l := labels(s); l["pod"] != "" || strings.HasPrefix(l["cgroup"], pod) {
				t.Errorf("%s%v still served after the pod went", name, l)
			}
		}
	}
}
