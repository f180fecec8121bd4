package engine

import (
	"strconv"
	"time"

	"github.com/memrelief/memrelief/internal/policy"
)

// Normal is the level index of a cgroup at no level.
const Normal = -1

// MaxLevels is how many levels of a rule the engine tracks; the policy
// refuses rules with more.
const MaxLevels = policy.MaxLevels

// State is what the decision layer remembers about one cgroup between
// ticks. The zero value is not ready: use NewState.
type State struct {
	// Level is the index of the current level in the rule, Normal when none.
	Level int
	// EnteredAt is when Level was entered.
	EnteredAt time.Time
	// enterSince[i] is when level i's enter conditions started to hold
	// without a break; zero while they do not hold. An array, not a slice,
	// so State copies by value and Step allocates nothing for it.
	enterSince [MaxLevels]time.Time
	// exitSince is when the current level's exit conditions started to
	// hold without a break; zero while they do not.
	exitSince time.Time
	// LastAction is when the current level's actions last ran.
	LastAction time.Time
	// Ineffective counts consecutive reclaims at this level that freed
	// nothing; Backoff multiplies the cooldown after reclaims fail at the
	// top level, where there is nothing to escalate to.
	Ineffective int
	Backoff     int
	// escalatedFrom is the level whose ineffective reclaims raised the cgroup
	// to Level, Normal when the figures put it there. An escalated level
	// is left on the exit conditions of the level it escalated from: its own
	// may already hold (the figures never reached it), which would drop the
	// cgroup back at once and cycle.
	escalatedFrom int
}

// NewState returns the state of a cgroup first seen.
func NewState() State { return State{Level: Normal, Backoff: 1, escalatedFrom: Normal} }

// Decision is what Step concluded for one tick.
type Decision struct {
	From, To int
	// Reasons name the figures behind a level change (or behind holding
	// the level when actions repeat).
	Reasons []string
	// Run lists the actions to carry out now: the new level's actions on a
	// change upward, or the current level's on a repeat after its cooldown.
	Run []policy.Action
	// Escalated is true when the change was caused by ineffective
	// reclaim, not by the figures.
	Escalated bool
}

// Changed reports whether the level changed.
func (d Decision) Changed() bool { return d.From != d.To }

// IneffectiveLimit is how many reclaims in a row may free nothing before the
// engine escalates (or, at the top level, backs off).
const IneffectiveLimit = 2

// maxBackoff bounds how far the cooldown stretches after failed reclaims.
const maxBackoff = 8

// Step decides one tick for one cgroup: rule is the cgroup's rule, v its
// figures now. It is pure: same inputs, same outputs, no I/O.
//
// A level is entered when its enter conditions have held for its dwell
// time; of several, the highest wins. The current level is left when its
// exit conditions have held for its dwell time, to the highest lower level
// whose exit conditions do not hold (still in trouble by that level's
// measure), or to Normal. Levels' actions run on entry and then at most once
// per cooldown while the level holds.
func Step(rule *policy.Rule, st State, v policy.Values, now time.Time) (State, Decision) {
	n := min(len(rule.Levels), MaxLevels)
	if st.Level >= n {
		st.Level = n - 1 // the rule lost levels in a reload
	}
	d := Decision{From: st.Level, To: st.Level}

	// Track how long each level's enter conditions have held.
	// Met, not Holds: reasons are built only when something happens.
	target := st.Level
	for i := range n {
		if !rule.Levels[i].Enter.Met(v) {
			st.enterSince[i] = time.Time{}
			continue
		}
		if st.enterSince[i].IsZero() {
			st.enterSince[i] = now
		}
		if i > target && now.Sub(st.enterSince[i]) >= rule.Levels[i].Dwell.Std() {
			target = i
		}
	}
	if target > st.Level {
		_, reasons := rule.Levels[target].Enter.Holds(v)
		return st.enter(rule, target, now, reasons, d)
	}

	if st.Level == Normal {
		return st, d
	}
	cur := &rule.Levels[st.Level]
	exit := cur.Exit
	if st.escalatedFrom != Normal && st.escalatedFrom < st.Level {
		exit = rule.Levels[st.escalatedFrom].Exit
	}
	if !exit.Met(v) {
		st.exitSince = time.Time{}
	} else {
		if st.exitSince.IsZero() {
			st.exitSince = now
		}
		if now.Sub(st.exitSince) >= cur.Dwell.Std() {
			to := Normal
			for j := st.Level - 1; j >= 0; j-- {
				if !rule.Levels[j].Exit.Met(v) {
					to = j
					break
				}
			}
			// The lower level waits a cooldown before acting: what the
			// higher level did is still taking effect.
			st.Level, st.EnteredAt, st.exitSince = to, now, time.Time{}
			st.LastAction, st.Ineffective, st.Backoff = now, 0, 1
			st.escalatedFrom = Normal
			_, d.Reasons = exit.Holds(v)
			d.To = to
			return st, d
		}
	}

	// Holding the level: repeat its actions once the cooldown has passed.
	cooldown := cur.Cooldown.Std() * time.Duration(st.Backoff)
	if cooldown > 0 && now.Sub(st.LastAction) >= cooldown {
		st.LastAction = now
		d.Run = cur.Actions
		_, d.Reasons = cur.Enter.Holds(v)
	}
	return st, d
}

func (st State) enter(rule *policy.Rule, level int, now time.Time, reasons []string, d Decision) (State, Decision) {
	st.escalatedFrom = Normal
	st.Level, st.EnteredAt, st.exitSince = level, now, time.Time{}
	st.LastAction, st.Ineffective, st.Backoff = now, 0, 1
	d.To, d.Reasons, d.Run = level, reasons, rule.Levels[level].Actions
	return st, d
}

// Feedback records the outcome of a reclaim at the current level. After
// IneffectiveLimit reclaims in a row that freed nothing, it escalates to
// the next level (whose actions the returned decision runs), or at the top
// level doubles the cooldown up to maxBackoff times, so a reclaim that does
// not work is never repeated blindly. An effective reclaim resets both.
func Feedback(rule *policy.Rule, st State, effective bool, now time.Time) (State, Decision) {
	d := Decision{From: st.Level, To: st.Level}
	if st.Level == Normal {
		return st, d
	}
	if effective {
		st.Ineffective, st.Backoff = 0, 1
		return st, d
	}
	st.Ineffective++
	if st.Ineffective < IneffectiveLimit {
		return st, d
	}
	if st.Level+1 < min(len(rule.Levels), MaxLevels) {
		from := st.Level
		if st.escalatedFrom != Normal {
			from = st.escalatedFrom // escalating again: the original trouble still decides
		}
		st, d = st.enter(rule, st.Level+1, now, []string{"reclaim freed nothing " + strconv.Itoa(IneffectiveLimit) + " times in a row"}, d)
		st.escalatedFrom = from
		d.Escalated = true
		return st, d
	}
	st.Ineffective = 0
	st.Backoff = min(st.Backoff*2, maxBackoff)
	return st, d
}
