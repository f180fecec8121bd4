package policy

import (
	"math"
	"math/rand/v2"
	"testing"
)

// conditionParser returns ParseCondition for literals that must parse.
func conditionParser(t *testing.T) func(string) Condition {
	return func(s string) Condition {
		t.Helper()
		c, err := ParseCondition(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

// Met must agree with Holds on every input; Holds is the tested reference.
func TestMetAgreesWithHolds(t *testing.T) {
	mk := conditionParser(t)
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

// rangeValues bounds each metric of a MapValues by [v-spread, v+spread]:
// the values a tick could have measured.
// Metrics in unknown are known to be unknown: an empty interval.
type rangeValues struct {
	v       MapValues
	spread  map[Metric]float64
	unknown map[Metric]bool
}

func (r rangeValues) Range(m Metric) (float64, float64, bool) {
	if r.unknown[m] {
		return math.Inf(1), math.Inf(-1), true
	}
	x, ok := r.v[m]
	if !ok {
		return 0, 0, false
	}
	return x - r.spread[m], x + r.spread[m], true
}

// Possible must be true whenever Met could be for some figures in the
// ranges (it guards reads the engine skips), and false when the bound
// rules a set out.
func TestPossibleNeverRulesOutWhatMetAccepts(t *testing.T) {
	mk := conditionParser(t)
	sets := []Conditions{
		{},
		{All: []Condition{mk("slab_reclaimable >= 256M")}},
		{All: []Condition{mk("slab_reclaimable > 256M"), mk("slab_reclaimable_share <= 50%")}},
		{Any: []Condition{mk("psi_some_avg10 > 10%"), mk("psi_full_avg10 < 5%")}},
		{All: []Condition{mk("slab_reclaimable >= 32M"), mk("slab_reclaimable_share >= 40%")}, Any: []Condition{mk("memory_current_share_max >= 60%"), mk("slab_reclaimable >= 256M")}},
	}
	metrics := []Metric{SlabReclaimable, SlabReclaimableShare, PSISomeAvg10, PSIFullAvg10, CurrentShareOfMax}
	scale := map[Metric]float64{SlabReclaimable: 512 << 20, SlabReclaimableShare: 100, PSISomeAvg10: 20, PSIFullAvg10: 10, CurrentShareOfMax: 100}
	rng := rand.New(rand.NewPCG(3, 4))
	ruledOut := 0
	for i := range 20000 {
		r := rangeValues{v: MapValues{}, spread: map[Metric]float64{}, unknown: map[Metric]bool{}}
		for _, m := range metrics {
			switch rng.IntN(8) {
			case 0: // unbounded
			case 1:
				r.unknown[m] = true
			default:
				r.v[m] = rng.Float64() * scale[m]
				r.spread[m] = rng.Float64() * scale[m] / 4
			}
		}
		for j, cs := range sets {
			possible := cs.Possible(r)
			if !possible {
				ruledOut++
			}
			// Figures anywhere in the ranges, the ends included.
			for k := range 8 {
				v := MapValues{}
				for m, x := range r.v {
					switch k {
					case 0:
						v[m] = x - r.spread[m]
					case 1:
						v[m] = x + r.spread[m]
					default:
						v[m] = x + (2*rng.Float64()-1)*r.spread[m]
					}
				}
				for _, m := range metrics {
					if _, ok := r.v[m]; !ok && !r.unknown[m] && rng.IntN(2) == 0 {
						v[m] = rng.Float64() * scale[m] // unbounded: anything
					}
				}
				if cs.Met(v) && !possible {
					t.Fatalf("case %d set %d: Possible false for ranges %v±%v, but Met holds on %v", i, j, r.v, r.spread, v)
				}
			}
		}
	}
	if ruledOut == 0 {
		t.Fatal("Possible never ruled a set out: the bound is not used")
	}
}
