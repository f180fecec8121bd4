package engine

import (
	"context"
	"sort"
	"time"

	"github.com/memrelief/memrelief/internal/policy"
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

	CurrentBytes         uint64  `json:"current_bytes"`
	SlabReclaimableBytes uint64  `json:"slab_reclaimable_bytes"`
	HasSlab              bool    `json:"has_slab"`
	PSISomeAvg10         float64 `json:"psi_some_avg10"`
	PSIFullAvg10         float64 `json:"psi_full_avg10"`
	HasPSI               bool    `json:"has_psi"`
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
	Mode     string        `json:"cgroup_mode"`
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
	s.VFSOriginal, s.VFSCurrent, s.VFSManaged = e.vfs.Managed()
	if e.node != nil {
		n := e.cgroupStatus(e.node)
		s.Node = &n
	}
	for _, w := range e.watched {
		s.Cgroups = append(s.Cgroups, e.cgroupStatus(w))
	}
	sort.Slice(s.Cgroups, func(i, j int) bool { return s.Cgroups[i].Cgroup < s.Cgroups[j].Cgroup })
	s.Recent = append(make([]RecentEvent, 0, len(e.recent)), e.recent...)
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
	} else if w.cur.isNode && w.cur.node != nil && w.cur.node.hasMem {
		c.CurrentBytes = w.cur.node.mem.MemTotal - w.cur.node.mem.MemAvailable
	}
	c.SlabReclaimableBytes, c.HasSlab = w.cur.slab()
	if v, ok := w.cur.Value(policy.PSISomeAvg10); ok {
		c.PSISomeAvg10, c.HasPSI = v, true
		c.PSIFullAvg10, _ = w.cur.Value(policy.PSIFullAvg10)
	}
	return c
}
