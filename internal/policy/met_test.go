package policy

import (
	"math/rand/v2"
	"testing"
)

// Met must agree with Holds on every input; Holds is the tested reference.
func TestMetAgreesWithHolds(t *testing.T) {
	mk := func(s string) Condition {
		c, err := ParseCondition(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	sets := []Conditions{
		{},
		{All: []Condition{mk("slab_reclaimable >= 256M")}},
		{Any: []Condition{mk("psi_some_avg10 > 10%"), mk("psi_full_avg10 > 5%")}},
		{All: []Condition{mk("slab_reclaimable >= 256M"), mk("slab_reclaimable_share >= 50%")}, Any: []Condition{mk("psi_some_avg60 <= 1%"), mk("negative_dentries > 1000")}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	metrics := []Metric{SlabReclaimable, SlabReclaimableShare, PSISomeAvg10, PSIFullAvg10, PSISomeAvg60, NegativeDentries}
	scale := map[Metric]float64{SlabReclaimable: 512 << 20, SlabReclaimableShare: 100, PSISomeAvg10: 20, PSIFullAvg10: 10, PSISomeAvg60: 2, NegativeDentries: 2000}
	for i := range 20000 {
		v := MapValues{}
		for _, m := range metrics {
			if rng.IntN(5) > 0 { // sometimes unknown
				v[m] = rng.Float64() * scale[m]
			}
		}
		for j, cs := range sets {
			held, _ := cs.Holds(v)
			if got := cs.Met(v); got != held {
				t.Fatalf("case %d set %d values %v: Met %v, Holds %v", i, j, v, got, held)
			}
		}
	}
}

func TestFigureRoundsMeasuredValues(t *testing.T) {
	for _, tt := range []struct {
		m    Metric
		v    float64
		want string
	}{
		{SlabReclaimable, 179958000, "172M"},
		{SlabReclaimable, 1 << 30, "1G"},
		{SlabReclaimable, 512, "512B"},
		{SlabReclaimableShare, 55.26, "55.3%"},
		{SlabReclaimableShare, 60, "60%"},
		{SlabGrowthRate, 11534336.5, "11M/s"},
		{SlabGrowthRate, -3 << 20, "-3M/s"},
		{NegativeDentries, 400670, "400670"},
	} {
		if got := figure(tt.m, tt.v); got != tt.want {
			t.Errorf("figure(%s, %v) = %q, want %q", tt.m, tt.v, got, tt.want)
		}
	}
}
