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
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

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

// DefaultMaxCgroups is Options.MaxCgroups when 0: 1 to 2.2 MB of page
// (2.2 MB with 2,000 pods of the cgroupfs driver in the guest), twice the
// cgroups of a node at Kubernetes' 110 pods with several containers each.
const DefaultMaxCgroups = 2000

// Metrics is the counters and the collector of engine figures. It is a
// report.Sink; Emit only increments counters.
type Metrics struct {
	ctx  context.Context
	q    Querier
	opts Options

	actions   *counterVec
	reclaimed *counterVec
	requested *counterVec
	levels    *counterVec
	events    *counterVec
	queryErrs *counterVec

	d    descs
	rd   runtimeDescs
	info *desc

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
	m := &Metrics{ctx: ctx, q: q, opts: opts, d: newDescs(), rd: newRuntimeDescs()}
	m.actions = newCounterVec(namespace+"_action_runs_total",
		"Actions run, by kind (policy action type) and result (ok, partial, ineffective, skipped, unsupported, failed, dry-run).",
		"action", "result")
	m.reclaimed = newCounterVec(namespace+"_reclaim_reclaimed_bytes_total",
		"Bytes freed by reclaim actions as measured before and after (the larger of memory.current and slab_reclaimable drops), by rule.",
		"rule")
	m.requested = newCounterVec(namespace+"_reclaim_requested_bytes_total", "Bytes asked of memory.reclaim, by rule.", "rule")
	m.levels = newCounterVec(namespace+"_level_changes_total",
		"Level changes, by rule and the level entered (normal when a level was left for none).", "rule", "level")
	m.events = newCounterVec(namespace+"_report_events_total", "Events reported, by kind (the journal's MEMRELIEF_EVENT).", "kind")
	m.queryErrs = newCounterVec(namespace+"_metrics_query_failures_total", "Scrapes during which the engine did not answer in time.")
	m.queryErrs.add(0)
	// Every known label value starts at 0, so rate() and increase() see
	// the first event; rules and levels come with each policy (Know).
	for _, k := range report.Kinds() {
		m.events.add(0, string(k))
	}
	for _, a := range policy.ActionTypes() {
		for _, r := range results() {
			m.actions.add(0, string(a), r)
		}
	}
	m.info = &desc{name: namespace + "_build_info", typ: typeGauge, labels: []string{"version", "revision", "goversion"},
		help: "Always 1; the labels say which memrelief runs: its version, the commit it was built from and the Go release that built it."}
	return m
}

// WriteTo writes memrelief's own series in the text format, without the
// Go runtime's and the process's: what the textfile holds.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	return m.writePage(w, false)
}

// writePage collects one page and writes it; runtime adds the go_* and
// process_* series served over HTTP.
func (m *Metrics) writePage(w io.Writer, runtime bool) (int64, error) {
	p := newPage()
	m.collect(p)
	if runtime {
		m.collectRuntime(p)
	}
	cw := &countWriter{w: w}
	err := p.write(bufio.NewWriterSize(cw, 32<<10))
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

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
		m.levels.add(0, r.Name, "normal")
		for _, l := range r.Levels {
			m.levels.add(0, r.Name, l.Name)
		}
		m.reclaimed.add(0, r.Name)
		m.requested.add(0, r.Name)
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
	m.events.add(1, kind(ev.Kind))
	f := ev.Fields
	switch ev.Kind {
	case report.LevelChanged:
		m.levels.add(1, f[report.FieldRule], f[report.FieldLevel])
	case report.ActionTaken:
		act, res := actionKind(f[report.FieldAction]), result(f[report.FieldResult])
		m.actions.add(1, act, res)
		if act != string(policy.ActReclaim) || res == report.ResultDryRun {
			return
		}
		if n, err := strconv.ParseUint(f[report.FieldReclaimedBytes], 10, 64); err == nil {
			m.reclaimed.add(float64(n), f[report.FieldRule])
		}
		if n, err := strconv.ParseUint(f[report.FieldRequestedBytes], 10, 64); err == nil {
			m.requested.add(float64(n), f[report.FieldRule])
		}
	}
}

var _ report.Sink = (*Metrics)(nil)

// descs are the families of engine figures, built once per Metrics.
type descs struct {
	slab, current, psiSome, psiFull, level, levelSince *desc
	vfsCurrent, vfsOriginal, vfsManaged                *desc
	tick, watched, dryRun, rejected, up                *desc
	growth, quality, timeTo, histSeries, histBytes     *desc
	kernel, psiSomeTotal, psiFullTotal, limit          *desc
	dropped, maxCgroups                                *desc
}

func newDesc(typ, name, help string, labels []string) *desc {
	return &desc{name: name, help: help, typ: typ, labels: labels}
}

func newDescs() descs {
	cgroupLabels := []string{"cgroup", "unit", "rule", "namespace", "pod", "container"}
	return descs{
		slab: newDesc(typeGauge, "memrelief_cgroup_slab_reclaimable_bytes",
			"Reclaimable slab (dentries, inodes) charged to the cgroup, from memory.stat; the node's from /proc/meminfo. Absent per cgroup on cgroup v1, which has none: see memrelief_cgroup_kernel_memory_bytes.", cgroupLabels),
		kernel: newDesc(typeGauge, "memrelief_cgroup_kernel_memory_bytes",
			"All kernel memory charged to the cgroup: memory.stat kernel (v2), memory.kmem.usage_in_bytes (v1, where it is the only per-cgroup figure of slab).", cgroupLabels),
		limit: newDesc(typeGauge, "memrelief_cgroup_memory_limit_bytes",
			"The cgroup's memory.high or memory.max (v1: memory.limit_in_bytes, as memory.max); absent while unlimited. Containers of watched pods too.", append(cgroupLabels, "limit")),
		current: newDesc(typeGauge, "memrelief_cgroup_memory_current_bytes",
			"memory.current of the cgroup; for the node (cgroup=\"/\"), MemTotal - MemAvailable.", cgroupLabels),
		psiSome: newDesc(typeGauge, "memrelief_cgroup_psi_some_avg10_ratio",
			"Share of the last 10 s in which some task of the cgroup stalled on memory (memory.pressure some avg10 / 100).", cgroupLabels),
		psiFull: newDesc(typeGauge, "memrelief_cgroup_psi_full_avg10_ratio",
			"Share of the last 10 s in which all tasks of the cgroup stalled on memory (memory.pressure full avg10 / 100).", cgroupLabels),
		psiSomeTotal: newDesc(typeCounter, "memrelief_cgroup_psi_some_seconds_total",
			"Time some task of the cgroup stalled on memory since it was made (memory.pressure some total=; the node's since boot).", cgroupLabels),
		psiFullTotal: newDesc(typeCounter, "memrelief_cgroup_psi_full_seconds_total",
			"Time all tasks of the cgroup stalled on memory since it was made (memory.pressure full total=; the node's since boot).", cgroupLabels),
		level: newDesc(typeGauge, "memrelief_cgroup_level_info",
			"Always 1; the level label is the cgroup's current level (normal when at none).", append(cgroupLabels, "level")),
		levelSince: newDesc(typeGauge, "memrelief_cgroup_level_since_timestamp_seconds",
			"When the cgroup entered its current level; absent while normal.", cgroupLabels),
		vfsCurrent: newDesc(typeGauge, "memrelief_vfs_cache_pressure_current",
			"vm.vfs_cache_pressure now.", nil),
		vfsOriginal: newDesc(typeGauge, "memrelief_vfs_cache_pressure_original",
			"vm.vfs_cache_pressure before memrelief changed it, restored when no level needs it; absent while unmanaged.", nil),
		vfsManaged: newDesc(typeGauge, "memrelief_vfs_cache_pressure_managed",
			"1 while memrelief has vm.vfs_cache_pressure changed, else 0.", nil),
		tick: newDesc(typeGauge, "memrelief_engine_tick_duration_seconds",
			"How long the last tick (sample, decide, act) took.", nil),
		watched: newDesc(typeGauge, "memrelief_engine_watched_cgroups",
			"Cgroups watched, the node not counted.", nil),
		dryRun: newDesc(typeGauge, "memrelief_engine_dry_run",
			"1 while memrelief changes nothing (--dry-run or the policy's dry_run), else 0.", nil),
		rejected: newDesc(typeGauge, "memrelief_engine_reload_rejected",
			"1 while the last reload was rejected and the previous policy is in force, else 0.", nil),
		growth: newDesc(typeGauge, "memrelief_cgroup_growth_bytes_per_second",
			"Long-term trend of a component of the cgroup's memory (component=current is memory.current), robust to the sawtooth of reclaim; containers of pods are listed under their own cgroup with their pod's rule.", append(cgroupLabels, "component")),
		quality: newDesc(typeGauge, "memrelief_cgroup_growth_quality",
			"How far the trend of memory.current can be trusted: 0 none, 1 low, 2 medium, 3 high. Alert on growth only at 2 or more.", cgroupLabels),
		timeTo: newDesc(typeGauge, "memrelief_cgroup_time_to_limit_seconds",
			"Time until memory.current meets the limit (memory.high, memory.max, or oom: the node's MemAvailable 0) at the present trend; absent when it never does.", append(cgroupLabels, "limit")),
		histSeries: newDesc(typeGauge, "memrelief_engine_history_series",
			"Series of memory history kept (watched cgroups, containers of pods, the node).", nil),
		histBytes: newDesc(typeGauge, "memrelief_engine_history_memory_bytes",
			"Memory the history holds, approximately.", nil),
		dropped: newDesc(typeGauge, "memrelief_metrics_cgroups_dropped",
			"Cgroups (watched cgroups and containers of pods) left out of this page's per-cgroup series because there are more than memrelief_metrics_cgroups_max; 0 when none.", nil),
		maxCgroups: newDesc(typeGauge, "memrelief_metrics_cgroups_max",
			"The most cgroups a page gives per-cgroup series for (the node not counted).", nil),
		up: newDesc(typeGauge, "memrelief_metrics_snapshot_success",
			"1 when the engine answered this scrape; 0 when it did not in time, and the engine's series are missing.", nil),
	}
}

// collect puts everything memrelief knows on p: its counters, its build,
// and the engine's figures read now.
func (m *Metrics) collect(p *page) {
	for _, c := range []*counterVec{m.actions, m.reclaimed, m.requested, m.levels, m.events, m.queryErrs} {
		c.collect(p)
	}
	p.add(m.info, 1, m.opts.Version, m.opts.Revision, runtime.Version())
	d := m.d
	ctx, cancel := context.WithTimeout(m.ctx, m.opts.QueryTimeout)
	defer cancel()
	s, err := m.q.Query(ctx)
	if err != nil {
		m.queryErrs.add(1)
		p.add(d.up, 0)
		return
	}
	p.add(d.up, 1)
	cgroups, dropped := capCgroups(s.Cgroups, m.opts.MaxCgroups)
	if s.Node != nil {
		cgroups = append([]engine.CgroupStatus{*s.Node}, cgroups...)
	}
	p.add(d.dropped, float64(dropped))
	p.add(d.maxCgroups, float64(m.opts.MaxCgroups))
	if dropped > 0 && m.opts.OnCgroupLimit != nil {
		m.cgroupLimitOnce.Do(func() { m.opts.OnCgroupLimit(m.opts.MaxCgroups, dropped) })
	}
	for _, cg := range cgroups {
		ns, pod, container := splitPod(cg.Pod)
		l := []string{cg.Cgroup, cg.Unit, cg.Rule, ns, pod, container}
		p.add(d.current, float64(cg.CurrentBytes), l...)
		m.limits(p, cg.HighBytes, cg.MaxBytes, l)
		if cg.HasSlab {
			p.add(d.slab, float64(cg.SlabReclaimableBytes), l...)
		}
		if cg.HasKernel {
			p.add(d.kernel, float64(cg.KernelMemoryBytes), l...)
		}
		if cg.HasPSI {
			p.add(d.psiSome, cg.PSISomeAvg10/100, l...)
			p.add(d.psiFull, cg.PSIFullAvg10/100, l...)
			p.add(d.psiSomeTotal, float64(cg.PSISomeTotalUsec)/1e6, l...)
			p.add(d.psiFullTotal, float64(cg.PSIFullTotalUsec)/1e6, l...)
		}
		p.add(d.level, 1, append(l[:len(l):len(l)], cg.Level)...)
		if !cg.LevelSince.IsZero() {
			p.add(d.levelSince, float64(cg.LevelSince.UnixNano())/1e9, l...)
		}
		m.trend(p, cg.Trend, l)
		for _, k := range cg.Containers {
			kns, kpod, kcontainer := splitPod(k.Pod)
			kl := []string{k.Cgroup, cgroupfs.UnitOf(strings.TrimPrefix(k.Cgroup, "/")), cg.Rule, kns, kpod, kcontainer}
			m.limits(p, k.HighBytes, k.MaxBytes, kl)
			m.trend(p, k.Trend, kl)
		}
	}
	p.add(d.histSeries, float64(s.HistorySeries))
	p.add(d.histBytes, float64(s.HistoryBytes))
	p.add(d.vfsManaged, b2f(s.VFSManaged))
	if s.VFSManaged {
		p.add(d.vfsCurrent, float64(s.VFSCurrent))
		p.add(d.vfsOriginal, float64(s.VFSOriginal))
	} else if v, ok := m.readVFS(); ok {
		p.add(d.vfsCurrent, v)
	}
	p.add(d.tick, s.LastTick.Seconds())
	p.add(d.watched, float64(len(s.Cgroups)))
	p.add(d.dryRun, b2f(s.DryRun))
	p.add(d.rejected, b2f(s.Rejected))
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
func (m *Metrics) limits(p *page, high, hard uint64, l []string) {
	for _, lim := range []struct {
		name string
		v    uint64
	}{{"memory.high", high}, {"memory.max", hard}} {
		if lim.v != 0 {
			p.add(m.d.limit, float64(lim.v), append(l[:len(l):len(l)], lim.name)...)
		}
	}
}

func (m *Metrics) trend(p *page, t *engine.TrendStatus, l []string) {
	if t == nil {
		return
	}
	d := m.d
	p.add(d.quality, quality(t.Quality), l...)
	comps := make([]string, 0, len(t.Components))
	for k := range t.Components {
		comps = append(comps, k)
	}
	sort.Strings(comps)
	for _, k := range comps {
		p.add(d.growth, t.Components[k], append(l[:len(l):len(l)], k)...)
	}
	for _, lim := range []struct {
		name string
		in   time.Duration
	}{{"memory.high", t.ToHigh}, {"memory.max", t.ToMax}, {"oom", t.ToOOM}} {
		if lim.in != engine.NeverMet {
			p.add(d.timeTo, lim.in.Seconds(), append(l[:len(l):len(l)], lim.name)...)
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
