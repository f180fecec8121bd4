package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Override is what one unit's drop-ins ([X-MemRelief] sections) say about
// that unit and the cgroups below it. Package dropin reads it; Effective
// applies it. Every value carries the file and line it came from.
type Override struct {
	Unit string

	Exclude   *bool
	ExcludeAt Origin

	// Rule chooses a named rule (or profile) instead of the first match.
	Rule   string
	RuleAt Origin

	// Thresholds replace the thresholds of a level's conditions on one
	// metric; later entries win over earlier ones for the same target.
	Thresholds []ThresholdOverride

	// ReclaimBudget and ReclaimBatch replace budget_per_minute and batch of
	// every reclaim action of the chosen rule.
	ReclaimBudget   *Size
	ReclaimBudgetAt Origin
	ReclaimBatch    *Size
	ReclaimBatchAt  Origin
}

// ThresholdOverride sets the threshold of every enter (or exit) condition
// on Metric in level Level.
type ThresholdOverride struct {
	Level  string
	Metric Metric
	Exit   bool
	Value  float64
	At     Origin
}

// Key names the override the way the drop-in spells it.
func (t ThresholdOverride) Key() string {
	if t.Exit {
		return "ExitThreshold"
	}
	return "EnterThreshold"
}

// Empty reports whether the override sets nothing.
func (o *Override) Empty() bool {
	return o.Exclude == nil && o.Rule == "" && len(o.Thresholds) == 0 && o.ReclaimBudget == nil && o.ReclaimBatch == nil
}

// Setting is one effective value and where it came from.
type Setting struct {
	Name  string
	Value string
	From  Origin
}

// Effective is how memrelief treats one cgroup once the policy and the
// drop-ins of its unit and of its ancestors are combined.
type Effective struct {
	Unit       string
	CgroupPath string
	Excluded   bool
	// Rule is a private copy with overrides applied; nil when the cgroup
	// is excluded or no rule applies. Its Name is the policy rule's, so the
	// engine's bookkeeping per rule is unaffected by overrides.
	Rule *Rule
	// Settings lists every effective value with its origin, in the order
	// `memrelief check --unit` prints them.
	Settings []Setting
}

// Effective combines the policy with overrides. chain holds the overrides
// of the cgroup's ancestors' units first and of its own unit last, so a
// unit's own drop-in wins over a parent slice's. It does no I/O.
//
// An override that does not fit the policy (an unknown rule or level, a
// threshold that breaks hysteresis or level order) is dropped and reported
// with its drop-in's file and line; everything else still applies.
func (p *Policy) Effective(unit, cgroupPath string, chain []Override) (Effective, Errors) {
	e := Effective{Unit: unit, CgroupPath: cgroupPath}
	var errs Errors
	bad := func(o Origin, key, format string, a ...any) {
		errs = append(errs, Error{File: o.File, Line: o.Line, Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	src := Origin{File: p.Source}

	excluded, excludedFrom := false, Origin{}
	if p.Excluded(unit, cgroupPath) {
		excluded, excludedFrom = true, src
	}
	ruleName, ruleFrom := "", Origin{}
	for _, o := range chain {
		if o.Exclude != nil {
			excluded, excludedFrom = *o.Exclude, o.ExcludeAt
		}
		if o.Rule != "" {
			if _, ok := p.Rule(o.Rule); !ok || o.Rule == NodeRule {
				bad(o.RuleAt, "Rule", "unknown rule %q (the policy has %s)", o.Rule, p.ruleNames())
			} else {
				ruleName, ruleFrom = o.Rule, o.RuleAt
			}
		}
	}
	e.Settings = append(e.Settings, Setting{"excluded", yesNo(excluded), excludedFrom})
	if excluded {
		e.Excluded = true
		return e, errs
	}

	var base *Rule
	if ruleName != "" {
		base, _ = p.Rule(ruleName)
	} else if r, ok := p.RuleFor(unit, cgroupPath); ok {
		base, ruleFrom = r, r.At
	}
	if base == nil {
		e.Settings = append(e.Settings, Setting{"rule", "none (no rule matches)", src})
		return e, errs
	}
	e.Settings = append(e.Settings, Setting{"rule", base.Name, ruleFrom})

	// Apply overrides; when the result fails validation, drop the most
	// recent override involved and try again, so one bad line costs only
	// itself.
	var ovs []applied
	for _, o := range chain {
		for _, t := range o.Thresholds {
			ovs = append(ovs, applied{threshold: &t, at: t.At, key: t.Key()})
		}
		if o.ReclaimBudget != nil {
			ovs = append(ovs, applied{budget: o.ReclaimBudget, at: o.ReclaimBudgetAt, key: "ReclaimBudget"})
		}
		if o.ReclaimBatch != nil {
			ovs = append(ovs, applied{batch: o.ReclaimBatch, at: o.ReclaimBatchAt, key: "ReclaimBatch"})
		}
	}
	var r *Rule
	for {
		var failed []int
		r, failed = applyAll(base, ovs)
		for _, i := range failed {
			t := ovs[i].threshold
			side := "enter"
			if t.Exit {
				side = "exit"
			}
			if _, ok := base.Level(t.Level); !ok {
				bad(ovs[i].at, ovs[i].key, "rule %q has no level %q", base.Name, t.Level)
			} else {
				bad(ovs[i].at, ovs[i].key, "level %q of rule %q has no %s condition on %s", t.Level, base.Name, side, t.Metric)
			}
		}
		ovs = without(ovs, failed)
		probs := validateRule(r, false)
		if len(probs) == 0 {
			break
		}
		i := blame(r, ovs, probs[0].key)
		if i < 0 {
			// Cannot happen for a valid base rule; refuse all overrides
			// rather than hand out an invalid rule.
			for _, o := range ovs {
				bad(o.at, o.key, "%s", probs[0].msg)
			}
			r, _ = applyAll(base, nil)
			break
		}
		bad(ovs[i].at, ovs[i].key, "%s", probs[0].msg)
		ovs = without(ovs, []int{i})
	}
	e.Rule = r
	e.Settings = append(e.Settings, ruleSettings(r)...)
	return e, errs.sorted()
}

type applied struct {
	threshold *ThresholdOverride
	budget    *Size
	batch     *Size
	at        Origin
	key       string
	touched   []string // condition keys it changed
}

func without(ovs []applied, drop []int) []applied {
	if len(drop) == 0 {
		return ovs
	}
	skip := map[int]bool{}
	for _, i := range drop {
		skip[i] = true
	}
	var out []applied
	for i, o := range ovs {
		if !skip[i] {
			out = append(out, o)
		}
	}
	return out
}

// applyAll returns a copy of base with ovs applied in order, and the
// overrides that matched nothing. It records in ovs which keys each
// override touched.
func applyAll(base *Rule, ovs []applied) (*Rule, []int) {
	r := cloneRule(base)
	var failed []int
	for i := range ovs {
		o := &ovs[i]
		o.touched = nil
		switch {
		case o.threshold != nil:
			t := o.threshold
			li := -1
			for j := range r.Levels {
				if r.Levels[j].Name == t.Level {
					li = j
				}
			}
			if li < 0 {
				failed = append(failed, i)
				continue
			}
			l := &r.Levels[li]
			cs, side := &l.Enter, "enter"
			if t.Exit {
				cs, side = &l.Exit, "exit"
			}
			for j := range cs.All {
				if cs.All[j].Metric == t.Metric {
					cs.All[j].Threshold, cs.All[j].At = t.Value, t.At
					o.touched = append(o.touched, condKey("level["+strconv.Itoa(li)+"]", side, *cs, j))
				}
			}
			for j := range cs.Any {
				if cs.Any[j].Metric == t.Metric {
					cs.Any[j].Threshold, cs.Any[j].At = t.Value, t.At
					o.touched = append(o.touched, condKey("level["+strconv.Itoa(li)+"]", side, *cs, len(cs.All)+j))
				}
			}
			if len(o.touched) == 0 {
				failed = append(failed, i)
			}
		case o.budget != nil || o.batch != nil:
			for li := range r.Levels {
				for ai, a := range r.Levels[li].Actions {
					if a.Reclaim == nil {
						continue
					}
					k := "level[" + strconv.Itoa(li) + "].action[" + strconv.Itoa(ai) + "]"
					if o.budget != nil {
						a.Reclaim.BudgetPerMinute, a.Reclaim.BudgetAt = *o.budget, o.at
						o.touched = append(o.touched, k+".budget_per_minute")
					} else {
						a.Reclaim.Batch, a.Reclaim.BatchAt = *o.batch, o.at
						o.touched = append(o.touched, k+".batch")
					}
				}
			}
		}
	}
	return r, failed
}

// blame picks the override to drop for a problem at key: the one that
// changed that very value, else one on the same metric in the same level,
// else on the same metric and side (enter/exit) in another level (level
// order), else any on that metric, else a reclaim override for an action
// problem. Among equals the most recent loses. -1 when none is involved.
func blame(r *Rule, ovs []applied, key string) int {
	lk := key
	if i := strings.Index(key, "]"); i >= 0 {
		lk = key[:i+1]
	}
	side := ""
	switch {
	case strings.Contains(key, ".enter."):
		side = "enter"
	case strings.Contains(key, ".exit."):
		side = "exit"
	}
	metric := conditionMetric(r, key)
	best, bestScore := -1, 0
	for i, o := range ovs {
		score := 0
		for _, t := range o.touched {
			s := 0
			switch {
			case t == key:
				s = 5
			case o.threshold != nil && o.threshold.Metric == metric && strings.HasPrefix(t, lk+"."):
				s = 4
			case o.threshold != nil && o.threshold.Metric == metric && strings.Contains(t, "."+side+"."):
				s = 3
			case o.threshold != nil && o.threshold.Metric == metric:
				s = 2
			case o.threshold == nil && strings.Contains(key, ".action["):
				s = 1
			}
			score = max(score, s)
		}
		if score > 0 && score >= bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// conditionMetric returns the metric of the condition at a key such as
// "level[1].exit.all[0]", or "".
func conditionMetric(r *Rule, key string) Metric {
	var li, ci int
	var side, kind string
	parts := strings.FieldsFunc(key, func(c rune) bool { return c == '[' || c == ']' || c == '.' })
	if len(parts) != 5 || parts[0] != "level" {
		return ""
	}
	var err error
	if li, err = strconv.Atoi(parts[1]); err != nil || li >= len(r.Levels) {
		return ""
	}
	side, kind = parts[2], parts[3]
	if ci, err = strconv.Atoi(parts[4]); err != nil {
		return ""
	}
	cs := r.Levels[li].Enter
	if side == "exit" {
		cs = r.Levels[li].Exit
	}
	list := cs.All
	if kind == "any" {
		list = cs.Any
	}
	if ci >= len(list) {
		return ""
	}
	return list[ci].Metric
}

func cloneRule(r *Rule) *Rule {
	c := *r
	c.Levels = make([]Level, len(r.Levels))
	for i, l := range r.Levels {
		l.Enter = Conditions{All: append([]Condition(nil), l.Enter.All...), Any: append([]Condition(nil), l.Enter.Any...)}
		l.Exit = Conditions{All: append([]Condition(nil), l.Exit.All...), Any: append([]Condition(nil), l.Exit.Any...)}
		l.Actions = append([]Action(nil), l.Actions...)
		for j, a := range l.Actions {
			if a.Reclaim != nil {
				rc := *a.Reclaim
				l.Actions[j].Reclaim = &rc
			}
		}
		c.Levels[i] = l
	}
	return &c
}

func ruleSettings(r *Rule) []Setting {
	var out []Setting
	for _, l := range r.Levels {
		for _, side := range []struct {
			name string
			cs   Conditions
		}{{"enter", l.Enter}, {"exit", l.Exit}} {
			for _, part := range []struct {
				name  string
				conds []Condition
			}{{"all", side.cs.All}, {"any", side.cs.Any}} {
				for _, c := range part.conds {
					out = append(out, Setting{"level " + l.Name + " " + side.name + "." + part.name, c.String(), c.At})
				}
			}
		}
		for _, a := range l.Actions {
			if a.Reclaim == nil {
				continue
			}
			out = append(out,
				Setting{"level " + l.Name + " reclaim budget_per_minute", a.Reclaim.BudgetPerMinute.String(), a.Reclaim.BudgetAt},
				Setting{"level " + l.Name + " reclaim batch", a.Reclaim.Batch.String(), a.Reclaim.BatchAt})
		}
	}
	return out
}

func (p *Policy) ruleNames() string {
	var names []string
	for _, r := range p.Rules {
		names = append(names, strconv.Quote(r.Name))
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "no rules"
	}
	return strings.Join(names, ", ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
