package engine

import (
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/policy"
)

func cond(t *testing.T, s string) policy.Condition {
	t.Helper()
	c, err := policy.ParseCondition(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testRule: elevated at 100M of slab (exit below 50M), high at 1G (exit
// below 500M), dwell 10 s, cooldown 30 s.
func testRule(t *testing.T) *policy.Rule {
	t.Helper()
	lvl := func(name, enter, exit string) policy.Level {
		return policy.Level{
			Name:     name,
			Enter:    policy.Conditions{All: []policy.Condition{cond(t, enter)}},
			Exit:     policy.Conditions{All: []policy.Condition{cond(t, exit)}},
			Dwell:    policy.Duration(10 * time.Second),
			Cooldown: policy.Duration(30 * time.Second),
			Actions:  []policy.Action{{Type: policy.ActEvent}, {Type: policy.ActReclaim, Reclaim: &policy.Reclaim{}}},
		}
	}
	return &policy.Rule{Name: "r", Levels: []policy.Level{
		lvl("elevated", "slab_reclaimable >= 100M", "slab_reclaimable < 50M"),
		lvl("high", "slab_reclaimable >= 1G", "slab_reclaimable < 500M"),
	}}
}

func slab(mib float64) policy.Values {
	return policy.MapValues{policy.SlabReclaimable: mib * (1 << 20)}
}

var t0 = time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// step is one row of a state machine table: at second sec the figures are
// v; afterwards the level is want and the decision ran nRun actions.
type step struct {
	sec   int
	slab  float64 // MiB; -1 for unknown
	level int
	nRun  int
}

func runSteps(t *testing.T, rule *policy.Rule, steps []step) State {
	t.Helper()
	st := NewState()
	for i, s := range steps {
		v := slab(s.slab)
		if s.slab < 0 {
			v = policy.MapValues{}
		}
		var d Decision
		st, d = Step(rule, st, v, at(s.sec))
		if st.Level != s.level || len(d.Run) != s.nRun {
			t.Fatalf("step %d (t=%ds, slab %vM): level %d, ran %d actions; want level %d, %d actions (reasons %q)",
				i, s.sec, s.slab, st.Level, len(d.Run), s.level, s.nRun, d.Reasons)
		}
		if d.Changed() && len(d.Reasons) == 0 {
			t.Fatalf("step %d: level change without reasons", i)
		}
	}
	return st
}

func TestStepStateMachine(t *testing.T) {
	rule := testRule(t)
	tests := []struct {
		name  string
		steps []step
	}{
		{"enter only after dwell", []step{
			{0, 200, Normal, 0}, {5, 200, Normal, 0}, {10, 200, 0, 2},
		}},
		{"dwell restarts when the condition breaks", []step{
			{0, 200, Normal, 0}, {5, 20, Normal, 0}, {10, 200, Normal, 0}, {19, 200, Normal, 0}, {20, 200, 0, 2},
		}},
		{"unknown figure never enters", []step{
			{0, -1, Normal, 0}, {100, -1, Normal, 0},
		}},
		{"hysteresis: between exit and enter stays", []step{
			{0, 200, Normal, 0}, {10, 200, 0, 2}, {15, 70, 0, 0}, {25, 70, 0, 0}, {35, 70, 0, 0},
		}},
		{"exit after dwell below the exit threshold", []step{
			{0, 200, Normal, 0}, {10, 200, 0, 2}, {12, 40, 0, 0}, {21, 40, 0, 0}, {22, 40, Normal, 0},
		}},
		{"cooldown paces repeats while the level holds", []step{
			{0, 200, Normal, 0}, {10, 200, 0, 2}, {20, 200, 0, 0}, {39, 200, 0, 0}, {40, 200, 0, 2}, {50, 200, 0, 0}, {70, 200, 0, 2},
		}},
		{"jump straight to the highest level that held for its dwell", []step{
			{0, 2000, Normal, 0}, {10, 2000, 1, 2},
		}},
		{"escalate from elevated to high", []step{
			{0, 200, Normal, 0}, {10, 200, 0, 2}, {11, 2000, 0, 0}, {21, 2000, 1, 2},
		}},
		{"leave high to elevated while still above elevated's exit", []step{
			{0, 2000, Normal, 0}, {10, 2000, 1, 2}, {11, 300, 1, 0}, {21, 300, 0, 0}, {22, 300, 0, 0},
		}},
		{"leave high straight to normal when below every exit", []step{
			{0, 2000, Normal, 0}, {10, 2000, 1, 2}, {11, 10, 1, 0}, {21, 10, Normal, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runSteps(t, rule, tt.steps) })
	}
}

func TestStepNoFlapping(t *testing.T) {
	rule := testRule(t)
	st := NewState()
	changes := 0
	// Slab oscillating around the enter threshold every 2 s never holds
	// long enough to enter; around the exit threshold, never long enough to
	// leave.
	for sec := 0; sec < 600; sec += 2 {
		v := 90.0
		if sec%4 == 0 {
			v = 110
		}
		var d Decision
		st, d = Step(rule, st, slab(v), at(sec))
		if d.Changed() {
			changes++
		}
	}
	if changes != 0 {
		t.Fatalf("%d level changes while slab oscillated around the enter threshold", changes)
	}
}

func TestFeedbackEscalatesThenBacksOff(t *testing.T) {
	rule := testRule(t)
	st := runSteps(t, rule, []step{{0, 200, Normal, 0}, {10, 200, 0, 2}})

	st, d := Feedback(rule, st, false, at(11))
	if d.Changed() || st.Ineffective != 1 {
		t.Fatalf("one ineffective reclaim changed the level: %+v", d)
	}
	st, d = Feedback(rule, st, false, at(41))
	if !d.Changed() || d.To != 1 || !d.Escalated || len(d.Run) != 2 {
		t.Fatalf("two ineffective reclaims did not escalate: %+v", d)
	}
	// At the top level there is nothing to escalate to: back off.
	st, _ = Feedback(rule, st, false, at(42))
	st, d = Feedback(rule, st, false, at(43))
	if d.Changed() || st.Backoff != 2 {
		t.Fatalf("at the top level: decision %+v, backoff %d; want backoff 2", d, st.Backoff)
	}
	// With backoff 2 the 30 s cooldown becomes 60 s.
	st, d = Step(rule, st, slab(2000), at(41+59))
	if len(d.Run) != 0 {
		t.Fatal("repeated before the stretched cooldown")
	}
	st, d = Step(rule, st, slab(2000), at(41+60))
	if len(d.Run) != 2 {
		t.Fatal("did not repeat after the stretched cooldown")
	}
	st, _ = Feedback(rule, st, true, at(102))
	if st.Backoff != 1 || st.Ineffective != 0 {
		t.Fatalf("an effective reclaim did not reset: %+v", st)
	}
	for range 10 {
		st, _ = Feedback(rule, st, false, at(103))
	}
	if st.Backoff != maxBackoff {
		t.Fatalf("backoff %d, want capped at %d", st.Backoff, maxBackoff)
	}
}

func TestStepRuleLostLevels(t *testing.T) {
	rule := testRule(t)
	st := runSteps(t, rule, []step{{0, 2000, Normal, 0}, {10, 2000, 1, 2}})
	smaller := &policy.Rule{Name: "r", Levels: rule.Levels[:1]}
	st, _ = Step(smaller, st, slab(2000), at(11))
	if st.Level != 0 {
		t.Fatalf("level %d after the rule shrank to one level", st.Level)
	}
}

func BenchmarkStep(b *testing.B) {
	c1, _ := policy.ParseCondition("slab_reclaimable >= 256M")
	c2, _ := policy.ParseCondition("slab_reclaimable_share >= 50%")
	rule := &policy.Rule{Levels: []policy.Level{{
		Enter: policy.Conditions{All: []policy.Condition{c1, c2}},
		Exit:  policy.Conditions{Any: []policy.Condition{c1, c2}},
		Dwell: policy.Duration(time.Minute), Cooldown: policy.Duration(time.Minute),
	}}}
	v := policy.MapValues{policy.SlabReclaimable: 1 << 20, policy.SlabReclaimableShare: 10}
	st := NewState()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		st, _ = Step(rule, st, v, t0.Add(time.Duration(i)*time.Second))
	}
}

// An escalated level is held while the level it escalated from is still in
// trouble, though the escalated level's own exit condition holds.
func TestEscalatedLevelHoldsUntilTheOriginalTroubleClears(t *testing.T) {
	rule := testRule(t)
	st := runSteps(t, rule, []step{{0, 200, Normal, 0}, {10, 200, 0, 2}})
	st, _ = Feedback(rule, st, false, at(11))
	st, d := Feedback(rule, st, false, at(41))
	if st.Level != 1 || !d.Escalated {
		t.Fatalf("not escalated: %+v", d)
	}
	// 200M is below high's exit (500M) but above elevated's (50M).
	for sec := 42; sec < 120; sec += 2 {
		st, d = Step(rule, st, slab(200), at(sec))
		if st.Level != 1 {
			t.Fatalf("t=%ds: dropped to level %d while elevated's trouble persists (%q)", sec, st.Level, d.Reasons)
		}
	}
	st, _ = Step(rule, st, slab(40), at(120))
	st, d = Step(rule, st, slab(40), at(130))
	if st.Level != Normal || !d.Changed() {
		t.Fatalf("level %d after the original trouble cleared", st.Level)
	}
	// The next climb is by the figures again: high's own exit applies.
	st = runSteps(t, rule, []step{{200, 2000, Normal, 0}, {210, 2000, 1, 2}, {211, 400, 1, 0}, {221, 400, 0, 0}})
	_ = st
}
