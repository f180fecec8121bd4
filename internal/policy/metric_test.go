package policy

import (
	"reflect"
	"testing"
)

func TestConditionsHolds(t *testing.T) {
	c := func(s string) Condition {
		t.Helper()
		cond, err := ParseCondition(s)
		if err != nil {
			t.Fatal(err)
		}
		return cond
	}
	slab := c("slab_reclaimable >= 256M")
	share := c("slab_reclaimable_share >= 50%")
	psi := c("psi_some_avg10 > 10%")
	growth := c("slab_growth_rate >= 1M/s")
	for _, tt := range []struct {
		name    string
		cs      Conditions
		v       MapValues
		held    bool
		reasons []string
	}{
		{"all hold", Conditions{All: []Condition{slab, share}},
			MapValues{SlabReclaimable: 300 << 20, SlabReclaimableShare: 60}, true,
			[]string{"slab_reclaimable 300M >= 256M", "slab_reclaimable_share 60% >= 50%"}},
		{"one of all fails", Conditions{All: []Condition{slab, share}},
			MapValues{SlabReclaimable: 300 << 20, SlabReclaimableShare: 40}, false,
			[]string{"slab_reclaimable_share 40% not >= 50%"}},
		{"threshold is inclusive for >=", Conditions{All: []Condition{slab}},
			MapValues{SlabReclaimable: 256 << 20}, true, []string{"slab_reclaimable 256M >= 256M"}},
		{"strict > at the threshold", Conditions{All: []Condition{psi}},
			MapValues{PSISomeAvg10: 10}, false, []string{"psi_some_avg10 10% not > 10%"}},
		{"missing value never holds", Conditions{All: []Condition{psi}},
			MapValues{}, false, []string{"psi_some_avg10 unknown"}},
		{"missing value never holds in exit form", Conditions{All: []Condition{c("psi_some_avg10 < 5%")}},
			MapValues{}, false, []string{"psi_some_avg10 unknown"}},
		{"any: one is enough", Conditions{Any: []Condition{psi, growth}},
			MapValues{SlabGrowthRate: 2 << 20}, true, []string{"slab_growth_rate 2M/s >= 1M/s"}},
		{"any: none hold", Conditions{Any: []Condition{psi, growth}},
			MapValues{PSISomeAvg10: 1, SlabGrowthRate: 1}, false,
			[]string{"psi_some_avg10 1% not > 10%", "slab_growth_rate 84K/day not >= 1M/s"}},
		{"all and any together", Conditions{All: []Condition{slab}, Any: []Condition{psi, growth}},
			MapValues{SlabReclaimable: 1 << 30, PSISomeAvg10: 20}, true,
			[]string{"slab_reclaimable 1G >= 256M", "psi_some_avg10 20% > 10%"}},
		{"empty never holds", Conditions{}, MapValues{SlabReclaimable: 1 << 30}, false, []string{"no conditions"}},
	} {
		held, reasons := tt.cs.Holds(tt.v)
		if held != tt.held || !reflect.DeepEqual(reasons, tt.reasons) {
			t.Errorf("%s: got %v %q, want %v %q", tt.name, held, reasons, tt.held, tt.reasons)
		}
	}
}

func TestParseConditionRoundTrip(t *testing.T) {
	for _, s := range []string{
		"psi_some_avg10 >= 12.5%", "slab_reclaimable < 192M", "slab_growth_rate > 512K/s",
		"negative_dentries >= 1000000", "memory_current_share_high <= 95%", "node_sreclaimable > 4G",
	} {
		c, err := ParseCondition(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if c.String() != s {
			t.Errorf("ParseCondition(%q).String() = %q", s, c.String())
		}
	}
	for _, s := range []string{"", "slab_reclaimable", "slab_reclaimable >= ", "x >= 1", "negative_dentries >= 1.5", "slab_reclaimable = 1M"} {
		if _, err := ParseCondition(s); err == nil {
			t.Errorf("ParseCondition(%q) accepted", s)
		}
	}
}

func TestEveryMetricIsKnown(t *testing.T) {
	for _, m := range Metrics() {
		info, ok := m.Info()
		if !ok || info.Kind == 0 || info.Scope == 0 {
			t.Errorf("metric %s: info %+v, %v", m, info, ok)
		}
		if info.Kind == KindPercent && info.MaxPercent == 0 {
			t.Errorf("percentage metric %s has no bound", m)
		}
	}
	if _, ok := Metric("slab_trend").Info(); ok {
		t.Error("unknown metric reported as known")
	}
}
