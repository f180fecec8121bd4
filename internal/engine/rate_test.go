package engine

import (
	"testing"
	"time"

	"github.com/memrelief/memrelief/configs"
	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/policy"
)

const mib = 1 << 20

func TestSlabRate(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var r slabRate
	if _, ok := r.observe(10*mib, at(0)); ok {
		t.Fatal("a rate from one sample")
	}
	if v, ok := r.observe(14*mib, at(2000)); !ok || v != 2*mib {
		t.Fatalf("rate %v, %v; want 2 MiB/s", v, ok)
	}
	// A wake-up sample right after a tick: too short a span to measure,
	// the last rate holds and the baseline stays.
	if v, ok := r.observe(14*mib+1000, at(2100)); !ok || v != 2*mib {
		t.Fatalf("rate over 100 ms %v, %v; want the last 2 MiB/s", v, ok)
	}
	if v, _ := r.observe(18*mib, at(4000)); v != 2*mib {
		t.Fatalf("rate after a short sample %v; want 2 MiB/s over the whole 2 s", v)
	}
	// A reclaim starts; samples meanwhile see its drop half done.
	r.reclaiming = true
	if v, _ := r.observe(5*mib, at(6000)); v != 2*mib {
		t.Fatalf("rate while reclaiming %v; want the last 2 MiB/s held", v)
	}
	// It took 16 MiB out in 3 s.
	r.reclaimed(16*mib, 3*time.Second)
	if r.reclaiming {
		t.Fatal("still reclaiming after the result")
	}
	// 4 s..9 s is 5 s, 3 of them reclaiming: the workload's 2 MiB/s over
	// the other 2 s leaves 18 + 4 - 16 = 6 MiB.
	if v, ok := r.observe(6*mib, at(9000)); !ok || v != 2*mib {
		t.Fatalf("rate across a reclaim %v, %v; want the workload's 2 MiB/s, not the net drop", v, ok)
	}
	// The credit is spent once.
	if v, _ := r.observe(4*mib, at(11000)); v != -1*mib {
		t.Fatalf("rate after %v; want the real fall of 1 MiB/s", v)
	}
	// A reclaim that filled nearly the whole span: the last rate holds, the
	// baseline moves on past it.
	r.reclaiming = true
	r.reclaimed(2*mib, 1800*time.Millisecond)
	if v, _ := r.observe(3*mib, at(13000)); v != -1*mib {
		t.Fatalf("rate over a span spent reclaiming %v; want the last held", v)
	}
	if v, _ := r.observe(5*mib, at(15000)); v != 1*mib {
		t.Fatalf("rate after %v; want 1 MiB/s from the moved baseline", v)
	}
}

// TestDefaultStormHoldsThroughItsReclaim replays the packaged default's
// storm level on the figures of a guest run: a pod making 2 MB/s of
// dentries, a reclaim that takes 74M down to nothing over 4.5 s, freeing as it goes. The reclaim's
// own drop must not end the storm (it did: "left level storm:
// slab_growth_rate -1.1M/s"), or the storm goes unchecked until the slab
// climbs back past 64M.
func TestDefaultStormHoldsThroughItsReclaim(t *testing.T) {
	pol, err := policy.Parse("default.toml", configs.Default())
	if err != nil {
		t.Fatal(err)
	}
	var rule *policy.Rule
	for i := range pol.Rules {
		if pol.Rules[i].Name == "pods" {
			rule = &pol.Rules[i]
		}
	}
	if rule == nil {
		t.Fatal("the default has no pods rule")
	}
	storm := -1
	for i, l := range rule.Levels {
		if l.Name == "storm" {
			storm = i
		}
	}
	if storm < 0 {
		t.Fatal("the default's pods rule has no storm level")
	}
	t0 := time.Date(2026, 12, 2, 5, 14, 11, 0, time.UTC)
	var (
		r       slabRate
		st      = NewState()
		slab    = float64(0)
		freed   = float64(0)
		reclaim = 0 // seconds left of a running reclaim
		runs    = 0
	)
	const grow = 2e6 // bytes a second, the guest's generator
	for sec := 0; sec <= 90; sec++ {
		slab += grow
		if reclaim > 0 {
			// The write frees as it goes: ticks meanwhile see the slab
			// fall at ~16 MB/s.
			f := min(slab, 16e6)
			slab -= f
			freed += f
			if reclaim--; reclaim == 0 {
				r.reclaimed(uint64(freed), 4500*time.Millisecond)
				freed = 0
			}
		}
		if sec%2 != 0 {
			continue // the default samples every 2 s
		}
		s := sample{hasMem: true, statFresh: true, node: &nodeSample{}, mem: cgroupfs.Memory{Current: uint64(slab) + 8*mib, Max: cgroupfs.Unlimited}}
		s.mem.Stat.Set(cgroupfs.SlabReclaimable, uint64(slab))
		s.rate, s.hasRate = r.observe(uint64(slab), t0.Add(time.Duration(sec)*time.Second))
		var d Decision
		st, d = Step(rule, st, &s, t0.Add(time.Duration(sec)*time.Second))
		if d.To != storm && runs > 0 {
			t.Fatalf("at %d s the pod left the storm (level %d, %v) while it still grows at 2 MB/s", sec, d.To, d.Reasons)
		}
		for _, a := range d.Run {
			if a.Type == policy.ActReclaim && reclaim == 0 {
				runs++
				r.reclaiming = true
				reclaim = 5
			}
		}
	}
	if runs < 3 {
		t.Fatalf("%d reclaims in the 90 s storm; want one per cooldown once it started", runs)
	}
}
