package engine

import (
	"math"
	"time"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/procinfo"
	"github.com/memrelief/memrelief/internal/psi"
)

// nodeSample is the node's figures at one tick. /proc/meminfo and
// dentry-state are read every tick only when a condition reads them
// (nodeNeeds); otherwise every statEvery, for reports and history, and
// memFresh and dentryFresh say whether this tick read them.
type nodeSample struct {
	at                     time.Time
	mem                    procinfo.Meminfo
	hasMem, memFresh       bool
	memAt                  time.Time
	psi                    psi.Pressure
	hasPSI                 bool
	dentry                 procinfo.DentryState
	hasDentry, dentryFresh bool
	dentryAt               time.Time
}

// nodeNeeds says which node files a policy's conditions read.
type nodeNeeds struct{ meminfo, dentry bool }

func nodeNeedsOf(p *policy.Policy) nodeNeeds {
	var n nodeNeeds
	visit := func(r *policy.Rule, node bool) {
		for _, l := range r.Levels {
			for _, cs := range []policy.Conditions{l.Enter, l.Exit} {
				for _, m := range cs.Metrics() {
					switch {
					case m == policy.NodeSReclaimable:
						n.meminfo = true
					case m == policy.NegativeDentries:
						n.dentry = true
					case node && m != policy.NodeTimeToOOM && (statMetric(m) || m == policy.CurrentShareOfMax):
						n.meminfo = true // the node rule's slab and share come from meminfo
					}
				}
			}
		}
	}
	if p.Node != nil {
		visit(p.Node, true)
	}
	for i := range p.Rules {
		visit(&p.Rules[i], false)
	}
	return n
}

// sample is one cgroup's figures at one tick, and the Values its rule's
// conditions read. The node rule's sample has isNode set and takes its
// figures from node.
type sample struct {
	at     time.Time
	isNode bool
	mem    cgroupfs.Memory
	hasMem bool
	// statFresh is true when mem.Stat was read in this sample; statAt is
	// when it last was. Between reads mem.Stat keeps the last figures, for
	// reports, and the metrics drawn from it are unknown to conditions.
	statFresh bool
	statAt    time.Time
	// psiFresh is true when psi was read in this sample, psiAt is when it
	// last was: as for mem.Stat, the averages are unknown to conditions
	// between reads. trigger is the rule's kernel trigger, armed true once
	// it has watched the cgroup for policy.StallMemory.
	psi      psi.Pressure
	hasPSI   bool
	psiFresh bool
	psiAt    time.Time
	armed    bool
	trigger  *policy.PSITrigger
	rate     float64 // slab_reclaimable growth, bytes/s
	hasRate  bool
	// stalls counts kernel trigger events (psi_stall); hasStalls is false
	// where no trigger is armed.
	stalls    int
	hasStalls bool
	node      *nodeSample
	// kmemAsSlab is set on v1 hosts, whose memory controller reports no slab
	// per cgroup: slab_reclaimable is then read from kmem usage, all of the
	// cgroup's kernel memory, an upper bound of its reclaimable slab.
	kmemAsSlab bool
	// tr is the history of the cgroup (of the node in the node rule) and
	// nodeTr the node's, for trend metrics; nil when history is off.
	tr, nodeTr *trend
}

var _ policy.Values = (*sample)(nil)

// Value implements policy.Values. Figures the host did not give are
// unknown, never 0, so no condition holds on them.
func (s *sample) Value(m policy.Metric) (float64, bool) {
	switch m {
	case policy.PSISomeAvg10, policy.PSISomeAvg60, policy.PSIFullAvg10, policy.PSIFullAvg60:
		p, ok := s.pressure()
		if !ok || (!s.isNode && !s.psiFresh) {
			return 0, false
		}
		switch m {
		case policy.PSISomeAvg10:
			return p.Some.Avg10, true
		case policy.PSISomeAvg60:
			return p.Some.Avg60, true
		case policy.PSIFullAvg10:
			return p.Full.Avg10, p.HasFull
		default:
			return p.Full.Avg60, p.HasFull
		}
	case policy.PSIStall:
		return float64(s.stalls), s.hasStalls
	case policy.NodeSReclaimable:
		return float64(s.node.mem.SReclaimable), s.node.hasMem && s.node.memFresh
	case policy.NegativeDentries:
		return float64(s.node.dentry.NrNegative), s.node.hasDentry && s.node.dentryFresh && s.node.dentry.HasNegative
	case policy.NodeTimeToOOM:
		return s.nodeTr.value(m)
	case policy.MemoryTrend, policy.AnonTrend, policy.FileTrend, policy.SlabReclaimableTrend,
		policy.SlabUnreclaimableTrend, policy.KernelTrend, policy.TimeToMemoryHigh, policy.TimeToMemoryMax:
		return s.tr.value(m)
	}
	if s.isNode {
		return s.nodeCgroupMetric(m)
	}
	if !s.hasMem {
		return 0, false
	}
	if statMetric(m) && !s.statFresh {
		return 0, false
	}
	slab, hasSlab := s.cgroupSlab()
	switch m {
	case policy.SlabReclaimable:
		return float64(slab), hasSlab
	case policy.KernelMemory:
		k, ok := s.mem.Stat.Get(cgroupfs.Kernel)
		return float64(k), ok
	case policy.SlabReclaimableShare:
		if !hasSlab || s.mem.Current == 0 {
			return 0, false
		}
		return 100 * float64(slab) / float64(s.mem.Current), true
	case policy.SlabGrowthRate:
		return s.rate, s.hasRate
	case policy.CurrentShareOfHigh:
		if !s.mem.HasHigh || s.mem.High == cgroupfs.Unlimited || s.mem.High == 0 {
			return 0, false
		}
		return 100 * float64(s.mem.Current) / float64(s.mem.High), true
	case policy.CurrentShareOfMax:
		if s.mem.Max == cgroupfs.Unlimited || s.mem.Max == 0 {
			return 0, false
		}
		return 100 * float64(s.mem.Current) / float64(s.mem.Max), true
	}
	return 0, false
}

// statMetric reports whether a cgroup's metric is drawn from memory.stat.
func statMetric(m policy.Metric) bool {
	switch m {
	case policy.SlabReclaimable, policy.KernelMemory, policy.SlabReclaimableShare, policy.SlabGrowthRate:
		return true
	}
	return false
}

// Range implements policy.Ranges for a cgroup's sample whose memory.stat
// is not read yet this tick: its charge bounds every part of it (slab is
// charged to memory.current), and the figures it has are exact.
func (s *sample) Range(m policy.Metric) (lo, hi float64, ok bool) {
	if !s.isNode && s.hasMem && statMetric(m) {
		switch m {
		case policy.SlabGrowthRate:
			return 0, 0, false
		case policy.SlabReclaimableShare:
			return 0, 100, true
		}
		return 0, float64(s.mem.Current), true
	}
	if !s.isNode && psiAverage(m) && !s.psiFresh {
		lo, hi, ok := s.driftBound(m)
		if thi, tok := s.triggerBound(m); tok {
			if !ok {
				lo, hi = 0, thi
			}
			hi, ok = min(hi, thi), true
			lo = min(lo, hi) // two bounds that disagree must not read as "unknown"
		}
		return lo, hi, ok
	}
	x, ok := s.Value(m)
	if !ok {
		return math.Inf(1), math.Inf(-1), true // unknown: never holds
	}
	return x, x, true
}

func psiAverage(m policy.Metric) bool {
	switch m {
	case policy.PSISomeAvg10, policy.PSISomeAvg60, policy.PSIFullAvg10, policy.PSIFullAvg60:
		return true
	}
	return false
}

// triggerBound bounds a 10-second PSI average the kernel's trigger covers.
// The kernel signals when stall time in a window of the trigger reaches its
// threshold; with no signal for policy.StallMemory (a minute), each window
// held less, so the stall rate stayed below threshold/window, and avg10,
// an average over ~10 s, keeps e^-6 (0.25%) of anything older. Half as
// much again covers the kernel's estimate of a sliding window from the
// last one. A "some" trigger bounds full stalls too (they are some
// stalls); a "full" trigger only full ones; avg60 keeps too much of the
// past to be bounded by a minute.
func (s *sample) triggerBound(m policy.Metric) (float64, bool) {
	if !s.armed || s.trigger == nil || !s.hasStalls || s.stalls > 0 || s.trigger.Window <= 0 {
		return 0, false
	}
	switch {
	case m == policy.PSIFullAvg10:
	case m == policy.PSISomeAvg10 && s.trigger.Kind == string(psi.Some):
	default:
		return 0, false
	}
	return 1.5*100*float64(s.trigger.Stall)/float64(s.trigger.Window) + 0.25, true
}

// psiPeriod is how often the kernel recomputes the PSI averages
// (PSI_FREQ, 2 s and a jiffy).
const psiPeriod = 2 * time.Second

// driftBound bounds a PSI average from its last read: the kernel moves
// each average once a psiPeriod, as avg·k + share·(1−k) with
// k = exp(−period/window) and share the stall share of that period
// (periods with no task are decays, share 0). However the stalls went,
// after n periods the average lies in [v·kⁿ, 100 − (100 − v)·kⁿ]. n counts
// two periods more than fit in the time between the ticks: one because
// the read may have come just before an update, one because psiAt is when
// the tick began, not when this cgroup's file was read. The kernel's
// fixed-point k is a hair larger than the exact one, which only narrows
// its range; its rounding (up while rising) and the file's 0.01 are the
// margin added. A cgroup at avg60 0% cannot reach 90% in under 2 minutes,
// so memory.pressure need not be read every tick to know that.
func (s *sample) driftBound(m policy.Metric) (lo, hi float64, ok bool) {
	if !s.hasPSI || s.psiAt.IsZero() || s.at.Before(s.psiAt) {
		return 0, 0, false
	}
	var v float64
	window := 10 * time.Second
	switch m {
	case policy.PSISomeAvg10:
		v = s.psi.Some.Avg10
	case policy.PSISomeAvg60:
		v, window = s.psi.Some.Avg60, time.Minute
	case policy.PSIFullAvg10:
		v = s.psi.Full.Avg10
	case policy.PSIFullAvg60:
		v, window = s.psi.Full.Avg60, time.Minute
	}
	if (m == policy.PSIFullAvg10 || m == policy.PSIFullAvg60) && !s.psi.HasFull {
		return 0, 0, false
	}
	n := math.Floor(float64(s.at.Sub(s.psiAt))/float64(psiPeriod)) + 2
	k := math.Exp(-n * float64(psiPeriod) / float64(window))
	const margin = 0.03
	return max(0, v*k-margin), min(100, 100-(100-v)*k+margin), true
}

var _ policy.Ranges = (*sample)(nil)

// nodeCgroupMetric answers cgroup metrics for the node rule from
// /proc/meminfo, so a node rule may watch slab as a whole.
func (s *sample) nodeCgroupMetric(m policy.Metric) (float64, bool) {
	n := s.node
	if !n.hasMem || !n.memFresh {
		return 0, false
	}
	used := float64(n.mem.MemTotal - n.mem.MemAvailable)
	switch m {
	case policy.SlabReclaimable:
		return float64(n.mem.SReclaimable), true
	case policy.SlabReclaimableShare:
		if used <= 0 {
			return 0, false
		}
		return 100 * float64(n.mem.SReclaimable) / used, true
	case policy.SlabGrowthRate:
		return s.rate, s.hasRate
	case policy.CurrentShareOfMax:
		return 100 * used / float64(n.mem.MemTotal), n.mem.MemTotal > 0
	}
	return 0, false
}

// pressure is the cgroup's memory.pressure (the node's for the node rule),
// false when it was not read.
func (s *sample) pressure() (psi.Pressure, bool) {
	if s.isNode {
		return s.node.psi, s.node.hasPSI
	}
	return s.psi, s.hasPSI
}

// slab returns the figure the growth rate follows.
func (s *sample) slab() (uint64, bool) {
	if s.isNode {
		return s.node.mem.SReclaimable, s.node.hasMem
	}
	if !s.hasMem {
		return 0, false
	}
	return s.cgroupSlab()
}

func (s *sample) cgroupSlab() (uint64, bool) {
	if v, ok := s.mem.Stat.Get(cgroupfs.SlabReclaimable); ok || !s.kmemAsSlab {
		return v, ok
	}
	return s.mem.Stat.Get(cgroupfs.Kernel)
}
