package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/memrelief/memrelief/internal/action"
	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/history"
	"github.com/memrelief/memrelief/internal/report"
)

// CgroupStatus is one watched cgroup (or the node) as the last tick saw it.
type CgroupStatus struct {
	Cgroup string `json:"cgroup"` // "/" for the node
	Unit   string `json:"unit,omitempty"`
	Pod    string `json:"pod,omitempty"` // namespace/name[/container]
	Rule   string `json:"rule"`
	Level  string `json:"level"` // "normal" when at no level
	// LevelSince is when the level was entered (zero while normal).
	LevelSince time.Time `json:"level_since"`

	CurrentBytes uint64 `json:"current_bytes"`
	// HighBytes and MaxBytes are memory.high and memory.max (v1: the
	// limit); 0 when not set. Limits are read every RescanEvery.
	HighBytes            uint64 `json:"memory_high_bytes,omitempty"`
	MaxBytes             uint64 `json:"memory_max_bytes,omitempty"`
	SlabReclaimableBytes uint64 `json:"slab_reclaimable_bytes"`
	HasSlab              bool   `json:"has_slab"`
	// KernelMemoryBytes is all kernel memory of the cgroup (v2 memory.stat
	// "kernel", v1 memory.kmem.usage_in_bytes). On v1 it is the only
	// per-cgroup figure of slab, and HasSlab is false.
	KernelMemoryBytes uint64  `json:"kernel_memory_bytes"`
	HasKernel         bool    `json:"has_kernel_memory"`
	PSISomeAvg10      float64 `json:"psi_some_avg10"`
	PSIFullAvg10      float64 `json:"psi_full_avg10"`
	// PSISomeTotalUsec and PSIFullTotalUsec are memory.pressure's total=
	// figures: microseconds stalled since the cgroup was made (the node's
	// since boot), the counters rate() is taken over.
	PSISomeTotalUsec uint64 `json:"psi_some_total_usec"`
	PSIFullTotalUsec uint64 `json:"psi_full_total_usec"`
	HasPSI           bool   `json:"has_psi"`

	// Trend is the cgroup's growth, nil without history (or before the
	// first estimate); Containers are the containers of a pod.
	Trend      *TrendStatus      `json:"trend,omitempty"`
	Containers []ContainerStatus `json:"containers,omitempty"`
}

// TrendStatus is the growth of one series as the last estimate saw it.
type TrendStatus struct {
	// BytesPerSec is the trend of memory.current; Quality says how far it
	// can be trusted (none, low, medium, high).
	BytesPerSec float64   `json:"bytes_per_sec"`
	Quality     string    `json:"quality"`
	Since       time.Time `json:"since"`
	// Growing is set when the growth is worth reporting (at least
	// history.min_growth, medium quality, not only page cache).
	Growing bool `json:"growing"`
	// Components holds the trend of each component the host gives, bytes
	// per second, by history component name (anon, file, ...).
	Components map[string]float64 `json:"components,omitempty"`
	// Dominant is the component that grows most ("" when none grows);
	// Causes says in words what grows, one line per component.
	Dominant string `json:"dominant,omitempty"`
	Causes   string `json:"causes,omitempty"`
	// ToHigh, ToMax and ToOOM are the times until memory.high, memory.max
	// or (node) MemAvailable 0 are met at this rate; NeverMet when they
	// are not (no growth, no limit, or too little history to say).
	ToHigh time.Duration `json:"time_to_memory_high_ns"`
	ToMax  time.Duration `json:"time_to_memory_max_ns"`
	ToOOM  time.Duration `json:"time_to_oom_ns"`
}

// limits are m's memory.high and memory.max, 0 for unlimited (and for
// limits not read yet, which read as 0).
func limits(m *cgroupfs.Memory) (high, hard uint64) {
	if m.HasHigh && m.High != cgroupfs.Unlimited {
		high = m.High
	}
	if m.Max != cgroupfs.Unlimited {
		hard = m.Max
	}
	return high, hard
}

// NeverMet is a forecast that does not arrive.
const NeverMet = time.Duration(-1)

// ContainerStatus is one container of a watched pod.
type ContainerStatus struct {
	Name   string `json:"name"`
	Cgroup string `json:"cgroup"`
	// Pod is namespace/name/container as the kubelet names them, empty
	// while its log directory does not say (Name is then the cgroup's).
	Pod          string `json:"pod,omitempty"`
	CurrentBytes uint64 `json:"current_bytes"`
	// HighBytes and MaxBytes are as in CgroupStatus.
	HighBytes uint64       `json:"memory_high_bytes,omitempty"`
	MaxBytes  uint64       `json:"memory_max_bytes,omitempty"`
	Trend     *TrendStatus `json:"trend,omitempty"`
}

// Snapshot is the daemon's state between two ticks.
type Snapshot struct {
	Time         time.Time      `json:"time"`
	Node         *CgroupStatus  `json:"node,omitempty"`
	Cgroups      []CgroupStatus `json:"cgroups"`
	Status       string         `json:"status"`
	PolicySource string         `json:"policy"`
	DryRun       bool           `json:"dry_run"`
	// Rejected is true while the last reload failed and the previous
	// policy is in force.
	Rejected bool `json:"reload_rejected"`
	// VFSCachePressure is set while memrelief manages the sysctl.
	VFSManaged  bool `json:"vfs_cache_pressure_managed"`
	VFSOriginal int  `json:"vfs_cache_pressure_original"`
	VFSCurrent  int  `json:"vfs_cache_pressure"`
	// LastTick is how long the last tick took.
	LastTick time.Duration `json:"last_tick_ns"`
	// HistorySeries and HistoryBytes are how many series memrelief keeps
	// and roughly how much memory they hold.
	HistorySeries int    `json:"history_series"`
	HistoryBytes  int    `json:"history_bytes"`
	Mode          string `json:"cgroup_mode"`
	// Recent holds the latest level changes, actions and undos, oldest
	// first, at most RecentEvents of them.
	Recent []RecentEvent `json:"recent"`
}

// RecentEvents is how many events a Snapshot carries.
const RecentEvents = 32

// RecentEvent is one level change or action, as `memrelief status` lists it.
type RecentEvent struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"` // report.Kind
	Cgroup  string    `json:"cgroup"`
	Action  string    `json:"action,omitempty"`
	Result  string    `json:"result,omitempty"`
	Message string    `json:"message"`
}

// Query returns a snapshot taken by the engine's loop between ticks, so
// other goroutines (D-Bus, metrics) never read its state while it
// changes. It fails when ctx ends first or the engine is not running.
func (e *Engine) Query(ctx context.Context) (Snapshot, error) {
	reply := make(chan Snapshot, 1)
	select {
	case e.queries <- reply:
	case <-ctx.Done():
		return Snapshot{}, ctx.Err()
	}
	select {
	case s := <-reply:
		return s, nil
	case <-ctx.Done():
		return Snapshot{}, ctx.Err()
	}
}

// snapshot builds a Snapshot; only the loop's goroutine calls it.
func (e *Engine) snapshot() Snapshot {
	s := Snapshot{Time: e.cfg.Now(), Status: e.Status(), PolicySource: e.pol.Source, DryRun: e.dryRun(),
		Rejected: e.rejected, LastTick: e.lastTick, Mode: string(e.cfg.Layout.Mode), Cgroups: make([]CgroupStatus, 0, len(e.watched))}
	if orig, set, ok := e.knobs.Managed(action.SysctlKnob{Rel: action.VFSCachePressureSysctl}.Spec().ID()); ok {
		s.VFSOriginal, s.VFSCurrent, s.VFSManaged = int(orig), int(set), true
	}
	if e.node != nil {
		n := e.cgroupStatus(e.node)
		s.Node = &n
	} else if e.nodeTr != nil {
		s.Node = &CgroupStatus{Cgroup: "/", Level: "normal"}
		if e.nodeNow.hasMem {
			s.Node.CurrentBytes = e.nodeNow.mem.MemTotal - e.nodeNow.mem.MemAvailable
		}
	}
	if s.Node != nil {
		s.Node.Trend = e.trendStatus(e.nodeTr)
	}
	for _, w := range e.watched {
		s.Cgroups = append(s.Cgroups, e.cgroupStatus(w))
	}
	sort.Slice(s.Cgroups, func(i, j int) bool { return s.Cgroups[i].Cgroup < s.Cgroups[j].Cgroup })
	s.Recent = append(make([]RecentEvent, 0, len(e.recent)), e.recent...)
	e.eachTrend(func(t *trend) {
		s.HistorySeries++
		s.HistoryBytes += t.s.MemoryBytes()
	})
	return s
}

// remember keeps the events an operator asks "what did it do lately?" about.
func (e *Engine) remember(ev report.Event) {
	switch ev.Kind {
	case report.LevelChanged, report.ActionTaken, report.ActionUndone, report.Yielded, report.PolicyRejected:
	default:
		return
	}
	if len(e.recent) == RecentEvents {
		copy(e.recent, e.recent[1:])
		e.recent = e.recent[:RecentEvents-1]
	}
	e.recent = append(e.recent, RecentEvent{Time: ev.Time, Kind: string(ev.Kind), Cgroup: ev.Fields[report.FieldCgroup],
		Action: ev.Fields[report.FieldAction], Result: ev.Fields[report.FieldResult], Message: ev.Message})
}

func (e *Engine) cgroupStatus(w *watched) CgroupStatus {
	c := CgroupStatus{Cgroup: "/" + w.cg, Unit: w.unit, Pod: w.pod, Rule: w.rule.Name, Level: e.levelName(w, w.st.Level)}
	if w == e.node {
		c.Cgroup = "/"
	}
	if w.st.Level != Normal {
		c.LevelSince = w.st.EnteredAt
	}
	if w.cur.hasMem && !w.cur.isNode {
		c.CurrentBytes = w.cur.mem.Current
		c.HighBytes, c.MaxBytes = limits(&w.cur.mem)
	} else if w.cur.isNode && w.cur.node != nil && w.cur.node.hasMem {
		c.CurrentBytes = w.cur.node.mem.MemTotal - w.cur.node.mem.MemAvailable
	}
	c.SlabReclaimableBytes, c.HasSlab = w.cur.slab()
	if !w.cur.isNode && w.cur.hasMem {
		c.KernelMemoryBytes, c.HasKernel = w.cur.mem.Stat.Get(cgroupfs.Kernel)
		if w.cur.kmemAsSlab {
			// v1 has no slab per cgroup: what slab() gave is kernel memory,
			// reported as such, not as slab.
			c.SlabReclaimableBytes, c.HasSlab = 0, false
		}
	}
	if p, ok := w.cur.pressure(); ok {
		c.PSISomeAvg10, c.PSISomeTotalUsec, c.HasPSI = p.Some.Avg10, p.Some.TotalUsec, true
		if p.HasFull {
			c.PSIFullAvg10, c.PSIFullTotalUsec = p.Full.Avg10, p.Full.TotalUsec
		}
	}
	if w != e.node {
		c.Trend = e.trendStatus(w.tr)
	}
	for _, m := range w.members {
		k := ContainerStatus{Name: m.name, Cgroup: "/" + m.cg, Pod: m.pod, CurrentBytes: m.mem.Current, Trend: e.trendStatus(m.tr)}
		k.HighBytes, k.MaxBytes = limits(&m.mem)
		c.Containers = append(c.Containers, k)
	}
	sort.Slice(c.Containers, func(i, j int) bool { return c.Containers[i].Cgroup < c.Containers[j].Cgroup })
	return c
}

func (e *Engine) trendStatus(t *trend) *TrendStatus {
	if t == nil || !t.hasEst {
		return nil
	}
	return judge(t.est, t.cls, t.fc, t.oom, float64(e.pol.History.MinGrowth), e.pol.History.Horizon.Std())
}

// HistoryView is what explain charts: the finest points of a series and
// its trend, and those of the containers of a pod.
type HistoryView struct {
	Cgroup string          `json:"cgroup"`
	Name   string          `json:"name,omitempty"` // container name
	Step   time.Duration   `json:"step_ns"`
	Points []history.Point `json:"points"`
	Trend  *TrendStatus    `json:"trend,omitempty"`
	// Containers are the pod's containers, when cgroup is a watched pod.
	Containers []HistoryView `json:"containers,omitempty"`
}

// ErrNoHistory is returned by History for a cgroup memrelief keeps no
// history of.
var ErrNoHistory = errors.New("no history kept for this cgroup")

// History returns the finest-tier history of cgroup ("/" for the node)
// since from, asked of the loop like Query.
func (e *Engine) History(ctx context.Context, cgroup string, from time.Time) (HistoryView, error) {
	type answer struct {
		v   HistoryView
		err error
	}
	reply := make(chan answer, 1)
	f := func() {
		v, err := e.historyView(cgroup, from)
		reply <- answer{v, err}
	}
	select {
	case e.calls <- f:
	case <-ctx.Done():
		return HistoryView{}, ctx.Err()
	}
	select {
	case a := <-reply:
		return a.v, a.err
	case <-ctx.Done():
		return HistoryView{}, ctx.Err()
	}
}

func (e *Engine) historyView(cgroup string, from time.Time) (HistoryView, error) {
	if e.hist == nil {
		return HistoryView{}, errors.New("history is off (history.enabled = false)")
	}
	now := e.cfg.Now()
	view := func(cg, name string, t *trend) HistoryView {
		v := HistoryView{Cgroup: cg, Name: name, Trend: e.trendStatus(t), Step: e.hist.tiers[0].Step}
		if t != nil {
			v.Points = t.s.Points(0, from, now.Add(time.Second), nil)
		}
		return v
	}
	cg := "/" + strings.Trim(cgroup, "/")
	if cg == "/" {
		return view("/", "", e.nodeTr), nil
	}
	w, ok := e.watched[cg[1:]]
	if !ok {
		for _, pw := range e.watched {
			if m, ok := pw.members[cg[1:]]; ok {
				return view(cg, m.name, m.tr), nil
			}
		}
		return HistoryView{}, fmt.Errorf("%s: %w", cg, ErrNoHistory)
	}
	v := view(cg, "", w.tr)
	for _, m := range w.members {
		v.Containers = append(v.Containers, view("/"+m.cg, m.name, m.tr))
	}
	sort.Slice(v.Containers, func(i, j int) bool { return v.Containers[i].Cgroup < v.Containers[j].Cgroup })
	return v, nil
}
