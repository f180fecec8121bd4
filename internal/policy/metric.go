package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/memrelief/memrelief/internal/human"
)

// Metric names one figure a condition compares. The engine supplies the
// figures through Values; the names are also the spelling in the policy
// file.
type Metric string

// The metrics a policy may use. Percentages are in percent (25 means 25%),
// sizes in bytes, rates in bytes per second, counts as plain numbers.
const (
	// Pressure stall information of the cgroup (or of the node in the
	// node rule): share of wall time some/all tasks stalled on memory.
	PSISomeAvg10 Metric = "psi_some_avg10"
	PSISomeAvg60 Metric = "psi_some_avg60"
	PSIFullAvg10 Metric = "psi_full_avg10"
	PSIFullAvg60 Metric = "psi_full_avg60"
	// PSIStall counts the events of the rule's kernel PSI trigger
	// (psi_trigger: tasks stalled Stall within Window) for the cgroup, or
	// the node, over the last StallMemory. It is evaluated the moment the
	// kernel reports a stall, not at the next tick, and is unknown where no
	// trigger is armed.
	PSIStall Metric = "psi_stall"

	// SlabReclaimable is memory.stat slab_reclaimable in bytes.
	SlabReclaimable Metric = "slab_reclaimable"
	// KernelMemory is all kernel memory of the cgroup in bytes: memory.stat
	// "kernel" on v2, memory.kmem.usage_in_bytes on v1, where it is the only
	// per-cgroup figure of slab there is.
	KernelMemory Metric = "kernel_memory"
	// SlabReclaimableShare is slab_reclaimable as a percentage of
	// memory.current.
	SlabReclaimableShare Metric = "slab_reclaimable_share"
	// SlabGrowthRate is the growth of slab_reclaimable in bytes per second
	// between two samples (negative when it shrinks), with what memrelief's
	// own reclaims freed counted back: the rate the workload makes slab at,
	// so a level that exits on it is not ended by its own reclaim.
	SlabGrowthRate Metric = "slab_growth_rate"
	// CurrentShareOfHigh and CurrentShareOfMax are memory.current as a
	// percentage of memory.high and memory.max. The engine leaves them
	// out (missing, so never held) where the limit is "max".
	CurrentShareOfHigh Metric = "memory_current_share_high"
	CurrentShareOfMax  Metric = "memory_current_share_max"

	// NodeSReclaimable is /proc/meminfo SReclaimable in bytes.
	NodeSReclaimable Metric = "node_sreclaimable"
	// NegativeDentries is nr_negative from /proc/sys/fs/dentry-state.
	NegativeDentries Metric = "negative_dentries"

	// Trends are the long-term growth of a figure in bytes per second: the
	// robust floor trend of the cgroup's history (see internal/history),
	// unaffected by the sawtooth of reclaim. They are unknown until the
	// history holds enough points for an estimate of at least medium
	// quality, so no condition holds on a guess. In the node rule they are
	// the node's: memory in use (MemTotal-MemAvailable) and its parts.
	MemoryTrend            Metric = "memory_trend"
	AnonTrend              Metric = "anon_trend"
	FileTrend              Metric = "file_trend"
	SlabReclaimableTrend   Metric = "slab_reclaimable_trend"
	SlabUnreclaimableTrend Metric = "slab_unreclaimable_trend"
	KernelTrend            Metric = "kernel_trend"

	// TimeToMemoryHigh and TimeToMemoryMax forecast, at the present trend,
	// when the cgroup's memory.current reaches memory.high and memory.max:
	// 0 when it is there already, Never when it does not grow or has no
	// such limit. NodeTimeToOOM is when the node's MemAvailable reaches 0.
	TimeToMemoryHigh Metric = "time_to_memory_high"
	TimeToMemoryMax  Metric = "time_to_memory_max"
	NodeTimeToOOM    Metric = "node_time_to_oom"
)

// StallMemory is how long a trigger event counts in psi_stall: leaving a
// level entered on a stall takes this long without one, so one burst of
// pressure makes one episode, not one per trigger window.
const StallMemory = time.Minute

// Never is the value, in seconds, of a forecast that never arrives (no
// growth, or no limit): a hundred years, far past any threshold, so
// "time_to_memory_max > 14d" holds once a leak stops.
const Never = 100 * 365 * 86400.0

// Kind says how a metric's threshold is spelled and compared.
type Kind int

// Metric kinds.
const (
	KindPercent  Kind = iota + 1 // "25%"
	KindBytes                    // "512M"
	KindRate                     // "1M/s"
	KindCount                    // "100000"
	KindDuration                 // "7d", in seconds
)

// Scope says which rules may use a metric.
type Scope int

// Metric scopes.
const (
	ScopeCgroup Scope = 1 << iota // figures of one cgroup
	ScopeNode                     // figures of the whole node
)

// MetricInfo describes a known metric.
type MetricInfo struct {
	Kind  Kind
	Scope Scope
	// MaxPercent bounds percentage thresholds; 0 for non-percentages.
	MaxPercent float64
}

// Info describes m; ok is false for a name memrelief does not know. New
// metrics (trends, for example) are added here and in Metrics.
func (m Metric) Info() (info MetricInfo, ok bool) {
	switch m {
	case PSISomeAvg10, PSISomeAvg60, PSIFullAvg10, PSIFullAvg60:
		return MetricInfo{KindPercent, ScopeCgroup | ScopeNode, 100}, true
	case PSIStall:
		return MetricInfo{Kind: KindCount, Scope: ScopeCgroup | ScopeNode}, true
	case SlabReclaimable, KernelMemory:
		return MetricInfo{Kind: KindBytes, Scope: ScopeCgroup}, true
	case SlabReclaimableShare, CurrentShareOfMax:
		return MetricInfo{KindPercent, ScopeCgroup, 100}, true
	case CurrentShareOfHigh:
		// memory.current overshoots memory.high while the kernel throttles,
		// so shares above 100% are real.
		return MetricInfo{KindPercent, ScopeCgroup, 1000}, true
	case SlabGrowthRate:
		return MetricInfo{Kind: KindRate, Scope: ScopeCgroup}, true
	case NodeSReclaimable:
		return MetricInfo{Kind: KindBytes, Scope: ScopeCgroup | ScopeNode}, true
	case NegativeDentries:
		return MetricInfo{Kind: KindCount, Scope: ScopeCgroup | ScopeNode}, true
	case MemoryTrend, AnonTrend, FileTrend, SlabReclaimableTrend, SlabUnreclaimableTrend, KernelTrend:
		return MetricInfo{Kind: KindRate, Scope: ScopeCgroup | ScopeNode}, true
	case TimeToMemoryHigh, TimeToMemoryMax:
		return MetricInfo{Kind: KindDuration, Scope: ScopeCgroup}, true
	case NodeTimeToOOM:
		return MetricInfo{Kind: KindDuration, Scope: ScopeCgroup | ScopeNode}, true
	}
	return MetricInfo{}, false
}

// Metrics lists every known metric, in documentation order.
func Metrics() []Metric {
	return []Metric{
		PSISomeAvg10, PSISomeAvg60, PSIFullAvg10, PSIFullAvg60, PSIStall,
		SlabReclaimable, SlabReclaimableShare, SlabGrowthRate, KernelMemory,
		CurrentShareOfHigh, CurrentShareOfMax,
		NodeSReclaimable, NegativeDentries,
		MemoryTrend, AnonTrend, FileTrend, SlabReclaimableTrend, SlabUnreclaimableTrend, KernelTrend,
		TimeToMemoryHigh, TimeToMemoryMax, NodeTimeToOOM,
	}
}

// Values supplies the figures of one cgroup (or of the node) at one tick.
// ok is false when a figure is unknown (no PSI on this host, no limit set,
// first sample of a rate): such a figure never satisfies a condition.
type Values interface {
	Value(m Metric) (v float64, ok bool)
}

// MapValues is a Values backed by a map, for tests and simple callers.
type MapValues map[Metric]float64

// Value implements Values.
func (m MapValues) Value(k Metric) (float64, bool) {
	v, ok := m[k]
	return v, ok
}

var _ Values = MapValues(nil)

// Op is a comparison.
type Op string

// Comparisons.
const (
	OpGT Op = ">"
	OpGE Op = ">="
	OpLT Op = "<"
	OpLE Op = "<="
)

// Upward reports whether the op is satisfied by large values.
func (o Op) Upward() bool { return o == OpGT || o == OpGE }

func (o Op) holds(v, threshold float64) bool {
	switch o {
	case OpGT:
		return v > threshold
	case OpGE:
		return v >= threshold
	case OpLT:
		return v < threshold
	case OpLE:
		return v <= threshold
	}
	return false
}

// Condition compares one metric with a threshold, written in the policy as
// "METRIC OP VALUE", for example "slab_reclaimable >= 256M".
type Condition struct {
	Metric Metric
	Op     Op
	// Threshold is in the metric's unit: percent, bytes, bytes/s or count.
	Threshold float64
	At        Origin
}

// ParseCondition parses "METRIC OP VALUE".
func ParseCondition(s string) (Condition, error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return Condition{}, fmt.Errorf("condition %q: want \"METRIC OP VALUE\", for example \"slab_reclaimable >= 256M\"", s)
	}
	m := Metric(f[0])
	info, ok := m.Info()
	if !ok {
		return Condition{}, fmt.Errorf("condition %q: unknown metric %q (known: %s)", s, f[0], metricList())
	}
	op := Op(f[1])
	switch op {
	case OpGT, OpGE, OpLT, OpLE:
	default:
		return Condition{}, fmt.Errorf("condition %q: unknown comparison %q (want >, >=, < or <=)", s, f[1])
	}
	th, err := parseThreshold(info.Kind, f[2])
	if err != nil {
		return Condition{}, fmt.Errorf("condition %q: %s %w", s, m, err)
	}
	return Condition{Metric: m, Op: op, Threshold: th}, nil
}

func metricList() string {
	names := make([]string, 0, len(Metrics()))
	for _, m := range Metrics() {
		names = append(names, string(m))
	}
	return strings.Join(names, ", ")
}

// ParseThreshold reads a threshold for m spelled the way m's kind wants:
// "25%", "256M", "1M/s", "7d" or a whole number.
func ParseThreshold(m Metric, s string) (float64, error) {
	info, ok := m.Info()
	if !ok {
		return 0, fmt.Errorf("unknown metric %q (known: %s)", m, metricList())
	}
	v, err := parseThreshold(info.Kind, s)
	if err != nil {
		return 0, fmt.Errorf("%s %w", m, err)
	}
	return v, nil
}

// parseThreshold reads a threshold spelled the way the metric's kind wants.
// The error completes "METRIC ...".
func parseThreshold(k Kind, s string) (float64, error) {
	switch k {
	case KindPercent:
		p, err := ParsePercent(s)
		if err != nil {
			return 0, fmt.Errorf("takes a percentage: %w", err)
		}
		return float64(p), nil
	case KindBytes:
		v, err := ParseSize(s)
		if err != nil {
			return 0, fmt.Errorf("takes a size: %w", err)
		}
		return float64(v), nil
	case KindRate:
		v, err := ParseRate(s)
		if err != nil {
			return 0, fmt.Errorf("takes a rate: %w", err)
		}
		return float64(v), nil
	case KindDuration:
		d, err := ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("takes a duration: %w", err)
		}
		return d.Std().Seconds(), nil
	case KindCount:
		v, err := strconv.ParseUint(s, 10, 53)
		if err != nil {
			return 0, fmt.Errorf("takes a whole number: %q is not one", s)
		}
		return float64(v), nil
	}
	return 0, fmt.Errorf("has no threshold kind")
}

// FormatValue spells v the way m's thresholds are written.
func FormatValue(m Metric, v float64) string {
	info, _ := m.Info()
	switch info.Kind {
	case KindPercent:
		return Percent(v).String()
	case KindBytes:
		if v >= 0 && v == float64(uint64(v)) {
			return Size(v).String()
		}
	case KindRate:
		if v >= 0 {
			return Rate(v).String()
		}
		return strconv.FormatFloat(v, 'f', 0, 64) + "B/s"
	case KindDuration:
		if v >= Never {
			return "never"
		}
		if v >= 0 {
			return Duration(math.Round(v * 1e9)).String()
		}
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// String gives the policy spelling, which ParseCondition reads back.
func (c Condition) String() string {
	return string(c.Metric) + " " + string(c.Op) + " " + FormatValue(c.Metric, c.Threshold)
}

// Holds reports whether the figure in v satisfies c, and a reason that
// names the figure and the threshold. A missing figure never holds.
func (c Condition) Holds(v Values) (bool, string) {
	x, ok := v.Value(c.Metric)
	if !ok {
		return false, string(c.Metric) + " unknown"
	}
	if c.Op.holds(x, c.Threshold) {
		return true, string(c.Metric) + " " + figure(c.Metric, x) + " " + string(c.Op) + " " + FormatValue(c.Metric, c.Threshold)
	}
	return false, string(c.Metric) + " " + figure(c.Metric, x) + " not " + string(c.Op) + " " + FormatValue(c.Metric, c.Threshold)
}

// figure spells a measured value for a person: the policy spelling when it
// is short (round sizes, whole percentages), else rounded, since measured
// bytes are rarely round and "179958000B" reads worse than "172M".
func figure(m Metric, v float64) string {
	exact := FormatValue(m, v)
	info, _ := m.Info()
	switch info.Kind {
	case KindPercent:
		return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0") + "%"
	case KindDuration:
		if v >= Never {
			return "never"
		}
		return human.Duration(time.Duration(v * float64(time.Second)))
	case KindRate:
		// A round threshold-like figure reads best as written ("11M/s");
		// a measured one is rounded in the unit that suits it.
		if a := Rate(math.Abs(v)).String(); strings.HasSuffix(a, "/s") && !strings.HasSuffix(a, "B/s") {
			if v < 0 {
				return "-" + a
			}
			return a
		}
		return human.Rate(v)
	case KindBytes:
		sign := ""
		if v < 0 {
			sign = "-"
		}
		abs := FormatValue(m, math.Abs(v))
		if !strings.HasSuffix(abs, "B") || math.Abs(v) < 1024 {
			return sign + abs
		}
		return sign + human.Bytes(uint64(math.Abs(v)))
	}
	return exact
}

// Conditions combines conditions: every one of All and, when Any is not
// empty, at least one of Any. Empty Conditions never hold, so a level
// without conditions cannot be entered by accident.
type Conditions struct {
	All []Condition
	Any []Condition
}

// Empty reports whether there are no conditions at all.
func (cs Conditions) Empty() bool { return len(cs.All) == 0 && len(cs.Any) == 0 }

// Holds evaluates the conditions against one tick's figures. It does no I/O
// and keeps no state. When held, reasons name the figures that satisfied
// the conditions; when not, they name the figures that failed (or were
// unknown), so either outcome can be logged as it is.
func (cs Conditions) Holds(v Values) (held bool, reasons []string) {
	if cs.Empty() {
		return false, []string{"no conditions"}
	}
	var ok, failed []string
	for _, c := range cs.All {
		h, r := c.Holds(v)
		if h {
			ok = append(ok, r)
		} else {
			failed = append(failed, r)
		}
	}
	if len(cs.Any) > 0 {
		var anyOK, anyFailed []string
		for _, c := range cs.Any {
			h, r := c.Holds(v)
			if h {
				anyOK = append(anyOK, r)
			} else {
				anyFailed = append(anyFailed, r)
			}
		}
		if len(anyOK) == 0 {
			failed = append(failed, anyFailed...)
		}
		ok = append(ok, anyOK...)
	}
	if len(failed) > 0 {
		return false, failed
	}
	return true, ok
}

// Metrics lists the metrics the conditions read, each once, in order.
func (cs Conditions) Metrics() []Metric {
	var out []Metric
	seen := map[Metric]bool{}
	for _, c := range append(append([]Condition(nil), cs.All...), cs.Any...) {
		if !seen[c.Metric] {
			seen[c.Metric] = true
			out = append(out, c.Metric)
		}
	}
	return out
}

// Met reports whether the conditions hold, exactly as Holds does, without
// building reasons: the engine evaluates every cgroup on every tick and
// asks for reasons only when something changes.
func (cs Conditions) Met(v Values) bool {
	if cs.Empty() {
		return false
	}
	for _, c := range cs.All {
		if !c.met(v) {
			return false
		}
	}
	if len(cs.Any) == 0 {
		return true
	}
	for _, c := range cs.Any {
		if c.met(v) {
			return true
		}
	}
	return false
}

func (c Condition) met(v Values) bool {
	x, ok := v.Value(c.Metric)
	return ok && c.Op.holds(x, c.Threshold)
}

// Ranges bounds figures that were not measured: Range gives an interval
// the metric's value is certain to lie in, ok false where nothing bounds
// it (any value is possible). A figure known to be unknown, which no
// condition holds on, is an empty interval (lo > hi).
type Ranges interface {
	Range(m Metric) (lo, hi float64, ok bool)
}

// Possible reports whether the conditions could hold for some figures
// within r: false only when they certainly do not. The engine asks it to
// skip reading what a tick cannot need: no slab figure can meet
// "slab_reclaimable >= 32M" in a cgroup whose whole charge is below 32M.
func (cs Conditions) Possible(r Ranges) bool {
	if cs.Empty() {
		return false
	}
	for _, c := range cs.All {
		if !c.possible(r) {
			return false
		}
	}
	if len(cs.Any) == 0 {
		return true
	}
	for _, c := range cs.Any {
		if c.possible(r) {
			return true
		}
	}
	return false
}

func (c Condition) possible(r Ranges) bool {
	lo, hi, ok := r.Range(c.Metric)
	if !ok {
		return true
	}
	switch c.Op {
	case OpGT:
		return hi > c.Threshold
	case OpGE:
		return hi >= c.Threshold
	case OpLT:
		return lo < c.Threshold
	case OpLE:
		return lo <= c.Threshold
	}
	return true
}
