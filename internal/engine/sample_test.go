package engine

import (
	"math"
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/history"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/procinfo"
	"github.com/memrelief/memrelief/internal/psi"
)

func TestSampleValues(t *testing.T) {
	node := &nodeSample{hasMem: true, memFresh: true, dentryFresh: true, mem: procinfo.Meminfo{MemTotal: 1000, MemAvailable: 600, SReclaimable: 80},
		hasPSI: true, psi: psi.Pressure{Some: psi.Record{Avg10: 3}, HasFull: true, Full: psi.Record{Avg10: 1}},
		hasDentry: true, dentry: procinfo.DentryState{NrNegative: 42, HasNegative: true}}
	v2 := sample{hasMem: true, statFresh: true, node: node, mem: cgroupfs.Memory{Current: 200, High: 400, HasHigh: true, Max: cgroupfs.Unlimited}}
	v2.mem.Stat.Set(cgroupfs.SlabReclaimable, 100)
	v2.mem.Stat.Set(cgroupfs.Kernel, 150)
	v1 := sample{hasMem: true, statFresh: true, node: node, kmemAsSlab: true, mem: cgroupfs.Memory{Current: 200, Max: 1000}}
	v1.mem.Stat.Set(cgroupfs.Kernel, 150)
	nodeS := sample{isNode: true, node: node}

	type want struct {
		v  float64
		ok bool
	}
	tests := []struct {
		name string
		s    *sample
		m    policy.Metric
		want want
	}{
		{"v2 slab", &v2, policy.SlabReclaimable, want{100, true}},
		{"v2 share", &v2, policy.SlabReclaimableShare, want{50, true}},
		{"v2 share of high", &v2, policy.CurrentShareOfHigh, want{50, true}},
		{"v2 unlimited max is unknown", &v2, policy.CurrentShareOfMax, want{0, false}},
		{"no cgroup PSI read", &v2, policy.PSISomeAvg10, want{0, false}},
		{"rate unknown on first sample", &v2, policy.SlabGrowthRate, want{0, false}},
		{"node figures in a cgroup rule", &v2, policy.NegativeDentries, want{42, true}},
		{"v1 slab from kmem", &v1, policy.SlabReclaimable, want{150, true}},
		{"v1 has no memory.high", &v1, policy.CurrentShareOfHigh, want{0, false}},
		{"v1 share of max", &v1, policy.CurrentShareOfMax, want{20, true}},
		{"node PSI", &nodeS, policy.PSIFullAvg10, want{1, true}},
		{"node slab", &nodeS, policy.SlabReclaimable, want{80, true}},
		{"node slab share of used", &nodeS, policy.SlabReclaimableShare, want{20, true}},
		{"node used share", &nodeS, policy.CurrentShareOfMax, want{40, true}},
	}
	for _, tt := range tests {
		v, ok := tt.s.Value(tt.m)
		if ok != tt.want.ok || (ok && v != tt.want.v) {
			t.Errorf("%s: Value(%s) = %v, %v; want %v, %v", tt.name, tt.m, v, ok, tt.want.v, tt.want.ok)
		}
	}
	missing := sample{node: &nodeSample{}}
	for _, m := range policy.Metrics() {
		if _, ok := missing.Value(m); ok {
			t.Errorf("%s known on a sample with nothing read", m)
		}
	}
}

// Every metric a policy may name is answered by a sample that has read
// everything: a metric added to the policy without a reader here fails.
func TestEveryPolicyMetricHasAReader(t *testing.T) {
	tr := &trend{hasEst: true, fc: history.CgroupForecast{High: history.Forecast{Reachable: true, In: time.Hour}, Max: history.Forecast{Reachable: true, In: 2 * time.Hour}},
		oom: history.Forecast{Reachable: true, In: 3 * time.Hour}}
	for c := range tr.est.C {
		tr.est.C[c] = history.Growth{Known: true, Quality: history.QualityHigh, BytesPerSec: 1000}
	}
	p := psi.Pressure{Some: psi.Record{Avg10: 3, Avg60: 2}, HasFull: true, Full: psi.Record{Avg10: 1, Avg60: 1}}
	node := &nodeSample{hasMem: true, memFresh: true, dentryFresh: true, mem: procinfo.Meminfo{MemTotal: 1000, MemAvailable: 600, SReclaimable: 80},
		hasPSI: true, psi: p, hasDentry: true, dentry: procinfo.DentryState{NrNegative: 42, HasNegative: true}}
	s := sample{hasMem: true, statFresh: true, node: node, hasPSI: true, psiFresh: true, psi: p, hasRate: true, rate: 5, tr: tr, nodeTr: tr, stalls: 1, hasStalls: true,
		mem: cgroupfs.Memory{Current: 200, High: 400, HasHigh: true, Max: 800}}
	s.mem.Stat.Set(cgroupfs.SlabReclaimable, 100)
	s.mem.Stat.Set(cgroupfs.Anon, 50)
	s.mem.Stat.Set(cgroupfs.Kernel, 150)
	for _, m := range policy.Metrics() {
		if _, ok := s.Value(m); !ok {
			t.Errorf("metric %s: no value from a sample that read everything", m)
		}
	}
}

// A kernel trigger bounds the 10-second averages it covers, once it has
// watched a minute without a stall; nothing else is bounded by it.
func TestSampleRangeUnderATrigger(t *testing.T) {
	some := &policy.PSITrigger{Kind: "some", Stall: policy.Duration(100 * time.Millisecond), Window: policy.Duration(time.Second)}
	full := &policy.PSITrigger{Kind: "full", Stall: policy.Duration(100 * time.Millisecond), Window: policy.Duration(time.Second)}
	quiet := func(tr *policy.PSITrigger) sample {
		return sample{hasMem: true, node: &nodeSample{}, armed: true, trigger: tr, hasStalls: true}
	}
	const bound = 1.5*10 + 0.25
	stalled := quiet(some)
	stalled.stalls = 1
	unarmed := quiet(some)
	unarmed.armed = false
	read := quiet(some)
	read.psiFresh, read.hasPSI, read.psi = true, true, psi.Pressure{Some: psi.Record{Avg10: 42}}
	for _, tt := range []struct {
		name   string
		s      sample
		m      policy.Metric
		hi     float64
		bounds bool
	}{
		{"some trigger, some avg10", quiet(some), policy.PSISomeAvg10, bound, true},
		{"some trigger, full avg10", quiet(some), policy.PSIFullAvg10, bound, true},
		{"some trigger, avg60", quiet(some), policy.PSISomeAvg60, 0, false},
		{"full trigger, some avg10", quiet(full), policy.PSISomeAvg10, 0, false},
		{"full trigger, full avg10", quiet(full), policy.PSIFullAvg10, bound, true},
		{"a stall in the last minute", stalled, policy.PSISomeAvg10, 0, false},
		{"no trigger armed for a minute", unarmed, policy.PSISomeAvg10, 0, false},
		{"read this tick: exact", read, policy.PSISomeAvg10, 42, true},
	} {
		lo, hi, ok := tt.s.Range(tt.m)
		if ok != tt.bounds || (ok && (hi != tt.hi || lo > hi)) {
			t.Errorf("%s: Range(%s) = [%v, %v], %v; want up to %v, %v", tt.name, tt.m, lo, hi, ok, tt.hi, tt.bounds)
		}
	}
}

// TestSampleRangeDriftsFromTheLastRead: between reads of memory.pressure a
// PSI average is bounded by how far the kernel's updates can have moved it
// since the last one, whatever the stalls were.
func TestSampleRangeDriftsFromTheLastRead(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	last := func(some10, some60 float64, full bool, after time.Duration) sample {
		p := psi.Pressure{Some: psi.Record{Avg10: some10, Avg60: some60}, HasFull: full}
		return sample{hasMem: true, node: &nodeSample{}, hasPSI: true, psi: p, psiAt: t0, at: t0.Add(after)}
	}
	some := &policy.PSITrigger{Kind: "some", Stall: policy.Duration(100 * time.Millisecond), Window: policy.Duration(time.Second)}
	triggered := last(10, 0, true, 2*time.Second)
	triggered.armed, triggered.trigger, triggered.hasStalls = true, some, true
	for _, tt := range []struct {
		name   string
		s      sample
		m      policy.Metric
		lo, hi float64 // expected to within 0.02
		bounds bool
	}{
		// Three updates may have come: 100 − 100·e^(−6/60), and 0.03 more.
		{"avg60 at 0, 2 s on", last(0, 0, true, 2*time.Second), policy.PSISomeAvg60, 0, 9.55, true},
		{"avg10 at 50, 2 s on", last(50, 0, true, 2*time.Second), policy.PSISomeAvg10, 27.41, 72.59, true},
		{"avg10 at 0, 19 s on: 90% out of reach", last(0, 0, true, 19*time.Second), policy.PSISomeAvg10, 0, 88.95, true},
		{"avg10 at 0, 20 s on: 90% in reach", last(0, 0, true, 20*time.Second), policy.PSISomeAvg10, 0, 90.96, true},
		{"full avg10 without a full line", last(0, 0, false, 2*time.Second), policy.PSIFullAvg10, 0, 0, false},
		{"read later than now (clock stepped back)", last(0, 0, true, -2*time.Second), policy.PSISomeAvg10, 0, 0, false},
		{"under a quiet trigger: the tighter bound", triggered, policy.PSISomeAvg10, 5.46, 15.25, true},
	} {
		lo, hi, ok := tt.s.Range(tt.m)
		if ok != tt.bounds || (ok && (math.Abs(lo-tt.lo) > 0.02 || math.Abs(hi-tt.hi) > 0.02)) {
			t.Errorf("%s: Range(%s) = [%.2f, %.2f], %v; want [%.2f, %.2f], %v", tt.name, tt.m, lo, hi, ok, tt.lo, tt.hi, tt.bounds)
		}
	}
}
