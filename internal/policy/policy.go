// Package policy is memrelief's policy: what to watch, when a cgroup is in
// trouble, and what to do about it.
//
// A policy is a TOML file (the embedded default, or /etc/memrelief/policy.toml)
// decoded by Parse, which fills in defaults and validates everything at once:
// the caller gets either a complete, valid *Policy or an Errors listing every
// problem with its file, line and column. Parsing never touches a policy in
// force, so a daemon can validate a candidate on reload and keep the old one
// when the candidate fails.
//
// Evaluation is pure: Conditions.Holds and Policy.RuleFor take values and
// return values, with no I/O, so the engine can call them every tick.
// Per-unit overrides (from systemd drop-ins, read by package dropin) are
// applied by Policy.Effective, which also says where each value came from.
package policy

// Policy is a validated policy. Treat it as read-only: Effective and the
// engine share it between goroutines.
type Policy struct {
	// Source names the file the policy came from, or "(embedded)/default.toml".
	Source string
	Daemon Daemon
	// History is what the daemon remembers of each watched cgroup, for
	// growth trends and forecasts.
	History History
	// ExcludeUnits and ExcludePaths keep cgroups away from every rule,
	// whatever the rules say (memrelief's own unit, for example).
	ExcludeUnits []string
	ExcludePaths []string
	// Node is the rule for the node as a whole; nil when the policy has none.
	Node *Rule
	// Rules match cgroups in order; the first match wins (see RuleFor).
	Rules []Rule
}

// Daemon holds settings of the daemon itself.
type Daemon struct {
	Interval Duration // sampling interval
	DryRun   bool     // decide and report, write nothing
	StateDir string   // where state that must survive a crash lives
	LogLevel string   // debug, info, warn or error
	Sinks    []string // event sinks: journal, stderr, dbus, metrics
	// ReclaimBudget caps memory.reclaim requests across all cgroups per
	// minute.
	ReclaimBudget Size
	// MaxCgroups bounds the cgroups watched: anyone who can create cgroups
	// could otherwise make the daemon's memory grow. Cgroups past it are
	// left out, named in an event.
	MaxCgroups int
}

// History configures the per-cgroup history behind trends and forecasts
// (the *_trend and time_to_* metrics, growth events, status and explain).
type History struct {
	Enabled bool
	// Dir keeps the history across restarts and upgrades.
	Dir string
	// Resolutions are the tiers of each series, finest first: one point
	// per Step for Span.
	Resolutions []Resolution
	// SaveEvery is how often each series is written to Dir.
	SaveEvery Duration
	// MinGrowth is the smallest trend worth an event.
	MinGrowth Rate
	// RemindEvery is how often a steady leak is reported again.
	RemindEvery Duration
	// Horizon: a forecast further out than this raises no event.
	Horizon Duration
	// Containers keeps series for the containers of watched pods too, so
	// the container that grows is named, not just its pod.
	Containers bool
}

// Resolution is one tier of a history: a point every Step for Span,
// written "STEP/SPAN" ("5m/6h").
type Resolution struct {
	Step, Span Duration
}

// Points is how many points the tier holds.
func (r Resolution) Points() int {
	if r.Step <= 0 {
		return 0
	}
	return int(r.Span / r.Step)
}

// String gives the policy spelling.
func (r Resolution) String() string { return r.Step.String() + "/" + r.Span.String() }

// Rule says how to treat the cgroups it matches. A rule with no Units and
// no Paths matches nothing by itself: it is a profile that a unit's
// drop-in chooses with Rule=NAME.
type Rule struct {
	// Name identifies the rule across reloads, so the engine can undo what
	// a rule that disappeared had changed. "node" for the node rule.
	Name         string
	Units        []string // unit name globs, "kubepods-burstable-pod*.slice"
	Paths        []string // cgroup path globs, "kubepods/burstable/pod*"
	ExcludeUnits []string
	ExcludePaths []string
	// PSITrigger asks for kernel PSI triggers on the cgroup's
	// memory.pressure, so pressure is seen within Window rather than at
	// the next tick. Nil: poll.
	PSITrigger *PSITrigger
	// Levels are ordered from least to most severe.
	Levels []Level
	At     Origin
}

// PSITrigger is a kernel PSI trigger: wake when tasks stalled for Stall
// within any Window.
type PSITrigger struct {
	Kind   string // "some" or "full"
	Stall  Duration
	Window Duration
}

// MaxLevels is how many levels a rule may have. Escalation in more steps
// than this is not graduated any more, and the engine keeps per-level state
// in fixed arrays of this size.
const MaxLevels = 8

// Level is one step of escalation. It is entered when Enter has held for
// Dwell and left when Exit has held for Dwell; its actions repeat at most
// once per Cooldown.
type Level struct {
	Name     string
	Enter    Conditions
	Exit     Conditions
	Dwell    Duration
	Cooldown Duration
	Actions  []Action
	At       Origin
}

// ActionType names what an action does.
type ActionType string

// Action types.
const (
	ActEvent            ActionType = "event"
	ActReclaim          ActionType = "reclaim"
	ActVFSCachePressure ActionType = "vfs_cache_pressure"
	ActUnitProperty     ActionType = "unit_property"
	ActExec             ActionType = "exec"
	ActDropCaches       ActionType = "drop_caches"
)

// Action is one thing a level does. Exactly the field that matches Type is
// set (none for event and drop_caches).
type Action struct {
	Type             ActionType
	Reclaim          *Reclaim
	VFSCachePressure *VFSCachePressure
	UnitProperty     *UnitProperty
	Exec             *Exec
	At               Origin
}

// Amount is how much to reclaim: Bytes, or Percent of the figure named by
// Of (SlabReclaimable or "memory_current").
type Amount struct {
	Bytes   Size
	Percent Percent
	Of      string // "" for Bytes, else "slab_reclaimable" or "memory_current"
}

// Amount bases.
const (
	OfSlabReclaimable = "slab_reclaimable"
	OfMemoryCurrent   = "memory_current"
)

// IsPercent reports whether the amount is relative.
func (a Amount) IsPercent() bool { return a.Of != "" }

// String gives the policy spelling.
func (a Amount) String() string {
	if a.IsPercent() {
		return a.Percent.String()
	}
	return a.Bytes.String()
}

// Reclaim writes memory.reclaim in batches.
type Reclaim struct {
	Amount Amount
	Batch  Size // largest single memory.reclaim request
	// BudgetPerMinute caps what this action requests from one cgroup per
	// minute; the node-wide cap is Daemon.ReclaimBudget.
	BudgetPerMinute Size
	// Swappiness, when set, is passed as memory.reclaim's swappiness=
	// where the kernel supports it (0 asks not to swap).
	Swappiness *int
	Timeout    Duration // bound on one memory.reclaim write
	// BatchAt and BudgetAt say where Batch and BudgetPerMinute were set;
	// the zero Origin means the built-in default.
	BatchAt, BudgetAt Origin
}

// VFSCachePressure raises vm.vfs_cache_pressure toward Target in steps of
// Step while the level holds, and restores the original afterwards.
type VFSCachePressure struct {
	Target int
	Step   int
}

// UnitProperty sets a systemd unit property (runtime only) while the level
// holds, for example MemoryHigh=80%.
type UnitProperty struct {
	Name  string
	Value string // systemd spelling: a size, a percentage, or "infinity"
}

// Exec runs a command on entering the level.
type Exec struct {
	Command []string // argv, or one shell command line when Shell
	Timeout Duration
	Shell   bool // run Command[0] with /bin/sh -c
}

// Level returns the rule's level called name.
func (r *Rule) Level(name string) (*Level, bool) {
	for i := range r.Levels {
		if r.Levels[i].Name == name {
			return &r.Levels[i], true
		}
	}
	return nil, false
}

// Rule returns the rule called name (including "node" for the node rule).
func (p *Policy) Rule(name string) (*Rule, bool) {
	if p.Node != nil && p.Node.Name == name {
		return p.Node, true
	}
	for i := range p.Rules {
		if p.Rules[i].Name == name {
			return &p.Rules[i], true
		}
	}
	return nil, false
}

// uses reports whether any level's conditions name m.
func (r *Rule) uses(m Metric) bool {
	for _, l := range r.Levels {
		for _, cs := range []Conditions{l.Enter, l.Exit} {
			for _, got := range cs.Metrics() {
				if got == m {
					return true
				}
			}
		}
	}
	return false
}

// HasPSI reports whether any level of the rule reads a PSI figure, which is
// when the engine needs pressure triggers or polling for its cgroups.
func (r *Rule) HasPSI() bool {
	for _, l := range r.Levels {
		for _, cs := range []Conditions{l.Enter, l.Exit} {
			for _, m := range cs.Metrics() {
				switch m {
				case PSISomeAvg10, PSISomeAvg60, PSIFullAvg10, PSIFullAvg60:
					return true
				}
			}
		}
	}
	return false
}
