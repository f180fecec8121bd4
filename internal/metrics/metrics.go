// Package metrics exposes memrelief to Prometheus: per-cgroup figures and
// levels read from the engine at scrape time, counters of actions, reclaimed
// bytes and events fed by the event stream, served over HTTP on a Unix
// socket or a loopback address, or written to node_exporter's textfile
// collector directory.
//
// Every series has a bounded label set: a cgroup's path, unit and rule,
// and the namespace, pod and container the kubelet's log directories name
// (so PromQL can join kube-state-metrics' series); levels and rules from
// the policy, action kinds and results from fixed lists. Per-cgroup series
// are made afresh at each scrape from what is watched now, at most
// Options.MaxCgroups of them, so pods that are gone drop out. Counters are
// labelled by rule, never by cgroup.
package metrics

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
)

const namespace = "memrelief"

// Querier answers with the engine's state; *engine.Engine is one.
type Querier interface {
	Query(ctx context.Context) (engine.Snapshot, error)
}

// QueryFunc adapts a function to Querier.
type QueryFunc func(ctx context.Context) (engine.Snapshot, error)

// Query implements Querier.
func (f QueryFunc) Query(ctx context.Context) (engine.Snapshot, error) { return f(ctx) }

// Options configure Metrics.
type Options struct {
	// QueryTimeout bounds a scrape's wait for the engine; 5 s when 0.
	QueryTimeout time.Duration
	// Proc is procfs's mount point; when set, vfs_cache_pressure is read
	// from it while memrelief does not manage the sysctl.
	Proc string

	// MaxConns bounds the connections Serve holds open at once; any local
	// user can connect, and each connection costs memory in a daemon
	// capped at MemoryMax=128M. DefaultMaxConns when 0.
	MaxConns int
	// IdleTimeout closes a keep-alive connection that sent no request for
	// this long; DefaultIdleTimeout when 0.
	IdleTimeout time.Duration
	// OnConnLimit is called once, the first time Serve refuses a
	// connection because MaxConns are open, so the daemon can report it;
	// later refusals are silent (a flood would otherwise become an event
	// flood). It runs on the accepting goroutine and must not block.
	OnConnLimit func(limit int)

	// MaxCgroups bounds the cgroups (watched cgroups and containers of
	// watched pods; the node is always in) that get per-cgroup series on
	// a page: anyone who can create cgroups matching a rule can make the
	// page grow (3,000 gave 1.5 MB), and every scrape builds it in memory.
	// Cgroups at a level come first, then the rest in the engine's order;
	// those left out are counted in memrelief_metrics_cgroups_dropped.
	// DefaultMaxCgroups when 0.
	MaxCgroups int
	// OnCgroupLimit is called once, the first time a page leaves cgroups
	// out, with the limit and how many were left out, so the daemon can
	// report it; later pages are silent (the gauge says how many). It runs
	// on the scraping goroutine and must not block.
	OnCgroupLimit func(limit, dropped int)

	// Web, when set, puts TLS and basic authentication in front of the
	// page Serve serves (see LoadWebConfig); nil is plain HTTP.
	Web *WebConfig

	// Version and Revision label memrelief_build_info: what runs where,
	// across a fleet.
	Version, Revision string
}

// DefaultMaxCgroups is Options.MaxCgroups when 0: about 1 MB of page,
// twice the cgroups of a node at Kubernetes' 110 pods with several
// containers each.
const DefaultMaxCgroups = 2000

// Metrics is the registry, the collector and the counters. It is a
// report.Sink; Emit only increments counters.
type Metrics struct {
	ctx  context.Context
	q    Querier
	opts Options

	reg *prometheus.Registry
	// runtime holds the Go and process collectors, served over HTTP but
	// kept out of the textfile, where node_exporter's own go_* and
	// process_* series would collide with them.
	runtime *prometheus.Registry

	actions   *prometheus.CounterVec
	reclaimed *prometheus.CounterVec
	requested *prometheus.CounterVec
	levels    *prometheus.CounterVec
	events    *prometheus.CounterVec
	queryErrs prometheus.Counter

	// cgroupLimitOnce guards the one call of Options.OnCgroupLimit.
	cgroupLimitOnce sync.Once
}

// New builds the metrics; queries made during scrapes end with ctx (the
// daemon's), so a scrape during shutdown does not wait for a loop that is
// gone.
func New(ctx context.Context, q Querier, opts Options) *Metrics {
	if opts.QueryTimeout == 0 {
		opts.QueryTimeout = 5 * time.Second
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxCgroups <= 0 {
		opts.MaxCgroups = DefaultMaxCgroups
	}
	m := &Metrics{ctx: ctx, q: q, opts: opts, reg: prometheus.NewRegistry(), runtime: prometheus.NewRegistry()}
	m.actions = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "action", Name: "runs_total",
		Help: "Actions run, by kind (policy action type) and result (ok, partial, ineffective, skipped, unsupported, failed, dry-run)."},
		[]string{"action", "result"})
	m.reclaimed = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "reclaim", Name: "reclaimed_bytes_total",
		Help: "Bytes freed by reclaim actions as measured before and after (the larger of memory.current and slab_reclaimable drops), by rule."},
		[]string{"rule"})
	m.requested = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "reclaim", Name: "requested_bytes_total",
		Help: "Bytes asked of memory.reclaim, by rule."},
		[]string{"rule"})
	m.levels = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "level", Name: "changes_total",
		Help: "Level changes, by rule and the level entered (normal when a level was left for none)."},
		[]string{"rule", "level"})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "report", Name: "events_total",
		Help: "Events reported, by kind (the journal's MEMRELIEF_EVENT)."},
		[]string{"kind"})
	m.queryErrs = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Subsystem: "metrics", Name: "query_failures_total",
		Help: "Scrapes during which the engine did not answer in time."})
	// Every known label value starts at 0, so rate() and increase() see
	// the first event; rules and levels come with each policy (Know).
	for _, k := range report.Kinds() {
		m.events.WithLabelValues(string(k))
	}
	for _, a := range policy.ActionTypes() {
		for _, r := range results() {
			m.actions.WithLabelValues(string(a), r)
		}
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "build_info",
		Help:        "Always 1; the labels say which memrelief runs: its version, the commit it was built from and the Go release that built it.",
		ConstLabels: prometheus.Labels{"version": opts.Version, "revision": opts.Revision, "goversion": runtime.Version()}})
	info.Set(1)
	m.reg.MustRegister(m.actions, m.reclaimed, m.requested, m.levels, m.events, m.queryErrs, info, &collector{m: m, d: newDescs()})
	m.runtime.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Gatherer is memrelief's own series, without the Go runtime's: what the
// textfile holds.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// actionKinds bounds the action label: a value from an event that names no
// known kind becomes "other" rather than a new series.
func actionKind(s string) string {
	if slices.Contains(policy.ActionTypes(), policy.ActionType(s)) {
		return s
	}
	return "other"
}

// results are the values of the result label; anything else is "other".
// A function, not a package variable, so nothing can change the list.
func results() []string {
	return []string{report.ResultOK, report.ResultPartial, report.ResultIneffective, report.ResultSkipped,
		report.ResultUnsupported, report.ResultFailed, report.ResultDryRun}
}

func result(s string) string {
	if slices.Contains(results(), s) {
		return s
	}
	return "other"
}

// Know starts the counters labelled by p's rules and levels at 0; the
// daemon calls it with each policy it loads. Series of rules a reload
// dropped stay (a counter does not go back), as they would after events.
func (m *Metrics) Know(p *policy.Policy) {
	rules := []*policy.Rule{}
	if p.Node != nil {
		rules = append(rules, p.Node)
	}
	for i := range p.Rules {
		rules = append(rules, &p.Rules[i])
	}
	for _, r := range rules {
		m.levels.WithLabelValues(r.Name, "normal")
		for _, l := range r.Levels {
			m.levels.WithLabelValues(r.Name, l.Name)
		}
		m.reclaimed.WithLabelValues(r.Name)
		m.requested.WithLabelValues(r.Name)
	}
}

func kind(k report.Kind) string {
	if k.MessageID() == "" {
		return "other"
	}
	return string(k)
}

// Emit implements report.Sink.
func (m *Metrics) Emit(ev report.Event) {
	m.events.WithLabelValues(kind(ev.Kind)).Inc()
	f := ev.Fields
	switch ev.Kind {
	case report.LevelChanged:
		m.levels.WithLabelValues(f[report.FieldRule], f[report.FieldLevel]).Inc()
	case report.ActionTaken:
		act, res := actionKind(f[report.FieldAction]), result(f[report.FieldResult])
		m.actions.WithLabelValues(act, res).Inc()
		if act != string(policy.ActReclaim) || res == report.ResultDryRun {
			return
		}
		if n, err := strconv.ParseUint(f[report.FieldReclaimedBytes], 10, 64); err == nil {
			m.reclaimed.WithLabelValues(f[report.FieldRule]).Add(float64(n))
		}
		if n, err := strconv.ParseUint(f[report.FieldRequestedBytes], 10, 64); err == nil {
			m.requested.WithLabelValues(f[report.FieldRule]).Add(float64(n))
		}
	}
}

var _ report.Sink = (*Metrics)(nil)

// collector reads the engine at scrape time.
type collector struct {
	m *Metrics
	d descs
}

// descs are the collector's series, built once per Metrics.
type descs struct {
	slab, current, psiSome, psiFull, level, levelSince *prometheus.Desc
	vfsCurrent, vfsOriginal, vfsManaged                *prometheus.Desc
	tick, watched, dryRun, rejected, up                *prometheus.Desc
	growth, quality, timeTo, histSeries, histBytes     *prometheus.Desc
	kernel, psiSomeTotal, psiFullTotal, limit          *prometheus.Desc
	dropped, maxCgroups                                *prometheus.Desc
}

func newDescs() descs {
	cgroupLabels := []string{"cgroup", "unit", "rule", "namespace", "pod", "container"}
	return descs{
		slab: prometheus.NewDesc("memrelief_cgroup_slab_reclaimable_bytes",
			"Reclaimable slab (dentries, inodes) charged to the cgroup, from memory.stat; the node's from /proc/meminfo. Absent per cgroup on cgroup v1, which has none: see memrelief_cgroup_kernel_memory_bytes.", cgroupLabels, nil),
		kernel: prometheus.NewDesc("memrelief_cgroup_kernel_memory_bytes",
			"All kernel memory charged to the cgroup: memory.stat kernel (v2), memory.kmem.usage_in_bytes (v1, where it is the only per-cgroup figure of slab).", cgroupLabels, nil),
		limit: prometheus.NewDesc("memrelief_cgroup_memory_limit_bytes",
			"The cgroup's memory.high or memory.max (v1: memory.limit_in_bytes, as memory.max); absent while unlimited. Containers of watched pods too.", append(cgroupLabels, "limit"), nil),
		current: prometheus.NewDesc("memrelief_cgroup_memory_current_bytes",
			"memory.current of the cgroup; for the node (cgroup=\"/\"), MemTotal - MemAvailable.", cgroupLabels, nil),
		psiSome: prometheus.NewDesc("memrelief_cgroup_psi_some_avg10_ratio",
			"Share of the last 10 s in which some task of the cgroup stalled on memory (memory.pressure some avg10 / 100).", cgroupLabels, nil),
		psiFull: prometheus.NewDesc("memrelief_cgroup_psi_full_avg10_ratio",
			"Share of the last 10 s in which all tasks of the cgroup stalled on memory (memory.pressure full avg10 / 100).", cgroupLabels, nil),
		psiSomeTotal: prometheus.NewDesc("memrelief_cgroup_psi_some_seconds_total",
			"Time some task of the cgroup stalled on memory since it was made (memory.pressure some total=; the node's since boot).", cgroupLabels, nil),
		psiFullTotal: prometheus.NewDesc("memrelief_cgroup_psi_full_seconds_total",
			"Time all tasks of the cgroup stalled on memory since it was made (memory.pressure full total=; the node's since boot).", cgroupLabels, nil),
		level: prometheus.NewDesc("memrelief_cgroup_level_info",
			"Always 1; the level label is the cgroup's current level (normal when at none).", append(cgroupLabels, "level"), nil),
		levelSince: prometheus.NewDesc("memrelief_cgroup_level_since_timestamp_seconds",
			"When the cgroup entered its current level; absent while normal.", cgroupLabels, nil),
		vfsCurrent: prometheus.NewDesc("memrelief_vfs_cache_pressure_current",
			"vm.vfs_cache_pressure now.", nil, nil),
		vfsOriginal: prometheus.NewDesc("memrelief_vfs_cache_pressure_original",
			"vm.vfs_cache_pressure before memrelief changed it, restored when no level needs it; absent while unmanaged.", nil, nil),
		vfsManaged: prometheus.NewDesc("memrelief_vfs_cache_pressure_managed",
			"1 while memrelief has vm.vfs_cache_pressure changed, else 0.", nil, nil),
		tick: prometheus.NewDesc("memrelief_engine_tick_duration_seconds",
			"How long the last tick (sample, decide, act) took.", nil, nil),
		watched: prometheus.NewDesc("memrelief_engine_watched_cgroups",
			"Cgroups watched, the node not counted.", nil, nil),
		dryRun: prometheus.NewDesc("memrelief_engine_dry_run",
			"1 while memrelief changes nothing (--dry-run or the policy's dry_run), else 0.", nil, nil),
		rejected: prometheus.NewDesc("memrelief_engine_reload_rejected",
			"1 while the last reload was rejected and the previous policy is in force, else 0.", nil, nil),
		growth: prometheus.NewDesc("memrelief_cgroup_growth_bytes_per_second",
			"Long-term trend of a component of the cgroup's memory (component=current is memory.current), robust to the sawtooth of reclaim; containers of pods are listed under their own cgroup with their pod's rule.", append(cgroupLabels, "component"), nil),
		quality: prometheus.NewDesc("memrelief_cgroup_growth_quality",
			"How far the trend of memory.current can be trusted: 0 none, 1 low, 2 medium, 3 high. Alert on growth only at 2 or more.", cgroupLabels, nil),
		timeTo: prometheus.NewDesc("memrelief_cgroup_time_to_limit_seconds",
			"Time until memory.current meets the limit (memory.high, memory.max, or oom: the node's MemAvailable 0) at the present trend; absent when it never does.", append(cgroupLabels, "limit"), nil),
		histSeries: prometheus.NewDesc("memrelief_engine_history_series",
			"Series of memory history kept (watched cgroups, containers of pods, the node).", nil, nil),
		histBytes: prometheus.NewDesc("memrelief_engine_history_memory_bytes",
			"Memory the history holds, approximately.", nil, nil),
		dropped: prometheus.NewDesc("memrelief_metrics_cgroups_dropped",
			"Cgroups (watched cgroups and containers of pods) left out of this page's per-cgroup series because there are more than memrelief_metrics_cgroups_max; 0 when none.", nil, nil),
		maxCgroups: prometheus.NewDesc("memrelief_metrics_cgroups_max",
			"The most cgroups a page gives per-cgroup series for (the node not counted).", nil, nil),
		up: prometheus.NewDesc("memrelief_metrics_snapshot_success",
			"1 when the engine answered this scrape; 0 when it did not in time, and the engine's series are missing.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	d := c.d
	for _, d := range []*prometheus.Desc{d.slab, d.current, d.psiSome, d.psiFull, d.level, d.levelSince,
		d.vfsCurrent, d.vfsOriginal, d.vfsManaged, d.tick, d.watched, d.dryRun, d.rejected, d.up,
		d.growth, d.quality, d.timeTo, d.histSeries, d.histBytes, d.dropped, d.maxCgroups, d.kernel,
		d.psiSomeTotal, d.psiFullTotal, d.limit} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	ctx, cancel := context.WithTimeout(c.m.ctx, c.m.opts.QueryTimeout)
	defer cancel()
	s, err := c.m.q.Query(ctx)
	if err != nil {
		c.m.queryErrs.Inc()
		ch <- prometheus.MustNewConstMetric(d.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(d.up, prometheus.GaugeValue, 1)
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	cgroups, dropped := capCgroups(s.Cgroups, c.m.opts.MaxCgroups)
	if s.Node != nil {
		cgroups = append([]engine.CgroupStatus{*s.Node}, cgroups...)
	}
	gauge(d.dropped, float64(dropped))
	gauge(d.maxCgroups, float64(c.m.opts.MaxCgroups))
	if dropped > 0 && c.m.opts.OnCgroupLimit != nil {
		c.m.cgroupLimitOnce.Do(func() { c.m.opts.OnCgroupLimit(c.m.opts.MaxCgroups, dropped) })
	}
	for _, cg := range cgroups {
		ns, pod, container := splitPod(cg.Pod)
		l := []string{cg.Cgroup, cg.Unit, cg.Rule, ns, pod, container}
		gauge(d.current, float64(cg.CurrentBytes), l...)
		c.limits(ch, cg.HighBytes, cg.MaxBytes, l)
		if cg.HasSlab {
			gauge(d.slab, float64(cg.SlabReclaimableBytes), l...)
		}
		if cg.HasKernel {
			gauge(d.kernel, float64(cg.KernelMemoryBytes), l...)
		}
		if cg.HasPSI {
			gauge(d.psiSome, cg.PSISomeAvg10/100, l...)
			gauge(d.psiFull, cg.PSIFullAvg10/100, l...)
			ch <- prometheus.MustNewConstMetric(d.psiSomeTotal, prometheus.CounterValue, float64(cg.PSISomeTotalUsec)/1e6, l...)
			ch <- prometheus.MustNewConstMetric(d.psiFullTotal, prometheus.CounterValue, float64(cg.PSIFullTotalUsec)/1e6, l...)
		}
		gauge(d.level, 1, append(l, cg.Level)...)
		if !cg.LevelSince.IsZero() {
			gauge(d.levelSince, float64(cg.LevelSince.UnixNano())/1e9, l...)
		}
		c.trend(ch, cg.Trend, l)
		for _, k := range cg.Containers {
			kns, kpod, kcontainer := splitPod(k.Pod)
			kl := []string{k.Cgroup, cgroupfs.UnitOf(strings.TrimPrefix(k.Cgroup, "/")), cg.Rule, kns, kpod, kcontainer}
			c.limits(ch, k.HighBytes, k.MaxBytes, kl)
			c.trend(ch, k.Trend, kl)
		}
	}
	gauge(d.histSeries, float64(s.HistorySeries))
	gauge(d.histBytes, float64(s.HistoryBytes))
	gauge(d.vfsManaged, b2f(s.VFSManaged))
	if s.VFSManaged {
		gauge(d.vfsCurrent, float64(s.VFSCurrent))
		gauge(d.vfsOriginal, float64(s.VFSOriginal))
	} else if v, ok := c.m.readVFS(); ok {
		gauge(d.vfsCurrent, v)
	}
	gauge(d.tick, s.LastTick.Seconds())
	gauge(d.watched, float64(len(s.Cgroups)))
	gauge(d.dryRun, b2f(s.DryRun))
	gauge(d.rejected, b2f(s.Rejected))
}

// capCgroups keeps at most limit cgroups, counting the containers of each
// as cgroups too: first those at a level (what alerts are about), then the
// others, each group in the engine's order, so the same cgroups stay on
// the page from one scrape to the next. A cgroup kept whose containers do
// not all fit keeps the first that do. dropped counts what is left out.
// cgs is not changed.
func capCgroups(cgs []engine.CgroupStatus, limit int) (kept []engine.CgroupStatus, dropped int) {
	n := 0
	for _, cg := range cgs {
		n += 1 + len(cg.Containers)
	}
	if n <= limit {
		return cgs, 0
	}
	kept = make([]engine.CgroupStatus, 0, min(len(cgs), limit))
	left := limit
	for _, atLevel := range []bool{true, false} {
		for _, cg := range cgs {
			if (cg.Level != "normal" && cg.Level != "") != atLevel {
				continue
			}
			if left == 0 {
				dropped += 1 + len(cg.Containers)
				continue
			}
			left--
			if len(cg.Containers) > left {
				dropped += len(cg.Containers) - left
				cg.Containers = cg.Containers[:left:left]
			}
			left -= len(cg.Containers)
			kept = append(kept, cg)
		}
	}
	return kept, dropped
}

// splitPod splits the engine's "namespace/name[/container]" into labels;
// all are empty for a cgroup that is no known pod.
func splitPod(p string) (namespace, pod, container string) {
	namespace, rest, ok := strings.Cut(p, "/")
	if !ok {
		return "", "", ""
	}
	pod, container, _ = strings.Cut(rest, "/")
	return namespace, pod, container
}

func quality(q string) float64 {
	switch q {
	case "low":
		return 1
	case "medium":
		return 2
	case "high":
		return 3
	}
	return 0
}

// limits gives a series for each limit that is set; 0 is unlimited.
func (c *collector) limits(ch chan<- prometheus.Metric, high, hard uint64, l []string) {
	for _, lim := range []struct {
		name string
		v    uint64
	}{{"memory.high", high}, {"memory.max", hard}} {
		if lim.v != 0 {
			ch <- prometheus.MustNewConstMetric(c.d.limit, prometheus.GaugeValue, float64(lim.v), append(l[:len(l):len(l)], lim.name)...)
		}
	}
}

func (c *collector) trend(ch chan<- prometheus.Metric, t *engine.TrendStatus, l []string) {
	if t == nil {
		return
	}
	d := c.d
	ch <- prometheus.MustNewConstMetric(d.quality, prometheus.GaugeValue, quality(t.Quality), l...)
	comps := make([]string, 0, len(t.Components))
	for k := range t.Components {
		comps = append(comps, k)
	}
	sort.Strings(comps)
	for _, k := range comps {
		ch <- prometheus.MustNewConstMetric(d.growth, prometheus.GaugeValue, t.Components[k], append(l[:len(l):len(l)], k)...)
	}
	for _, lim := range []struct {
		name string
		in   time.Duration
	}{{"memory.high", t.ToHigh}, {"memory.max", t.ToMax}, {"oom", t.ToOOM}} {
		if lim.in != engine.NeverMet {
			ch <- prometheus.MustNewConstMetric(d.timeTo, prometheus.GaugeValue, lim.in.Seconds(), append(l[:len(l):len(l)], lim.name)...)
		}
	}
}

func (m *Metrics) readVFS() (float64, bool) {
	if m.opts.Proc == "" {
		return 0, false
	}
	data, err := os.ReadFile(filepath.Join(m.opts.Proc, "sys", "vm", "vfs_cache_pressure"))
	if err != nil {
		return 0, false
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, false
	}
	return float64(v), true
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
