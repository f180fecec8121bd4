package policy

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// problem is a semantic error at a key relative to the thing validated.
type problem struct{ key, msg string }

func validateDaemon(d *Daemon) []problem {
	var ps []problem
	if d.Interval < Duration(100*time.Millisecond) || d.Interval > Duration(10*time.Minute) {
		ps = append(ps, problem{"interval", fmt.Sprintf("interval %s out of range 100ms..10m", d.Interval)})
	}
	switch d.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		ps = append(ps, problem{"log_level", fmt.Sprintf("unknown log level %q (want debug, info, warn or error)", d.LogLevel)})
	}
	for i, s := range d.Sinks {
		switch s {
		case "journal", "stderr", "dbus", "metrics":
		default:
			ps = append(ps, problem{"sinks[" + strconv.Itoa(i) + "]", fmt.Sprintf("unknown sink %q (want journal, stderr, dbus or metrics)", s)})
		}
	}
	if d.MaxCgroups < 1 || d.MaxCgroups > 100000 {
		ps = append(ps, problem{"max_cgroups", fmt.Sprintf("max_cgroups %d out of range 1..100000", d.MaxCgroups)})
	}
	if msg := checkOwnDir(d.StateDir, stateDirParents(), "/run/memrelief"); msg != "" {
		ps = append(ps, problem{"state_dir", "state_dir " + msg})
	}
	return ps
}

// The directories memrelief's own directories may be made in. state_dir
// is volatile on purpose (it restores sysctls after a crash of the
// daemon, never after a reboot), so it lives on /run; history.dir is
// pruned (memrelief deletes *.hist and *.tmp files older than the longest
// history tier there), so it must be a directory of memrelief's own below
// the places for state and caches, never /etc, /usr or a home.
func stateDirParents() []string   { return []string{"/run", "/var/run"} }
func historyDirParents() []string { return []string{"/var/lib", "/var/cache", "/run", "/var/run"} }

// checkOwnDir returns why dir may not be one of memrelief's own
// directories, or "": it must be absolute, clean (no "..", ".", "//" or
// trailing "/"), free of control characters, and strictly below one of
// parents ("/run/memrelief", not "/run" or "/"). example is named in
// the message.
func checkOwnDir(dir string, parents []string, example string) string {
	want := "a directory of memrelief's own below " + strings.Join(parents[:len(parents)-1], ", ") + " or " + parents[len(parents)-1]
	switch {
	case hasControl(dir, ""):
		return fmt.Sprintf("%q contains a control character; want %s", dir, want)
	case !strings.HasPrefix(dir, "/"):
		return fmt.Sprintf("%q must be an absolute path; want %s", dir, want)
	case path.Clean(dir) != dir:
		return fmt.Sprintf("%q is not a clean path (write it %q); want %s", dir, path.Clean(dir), want)
	}
	for _, p := range parents {
		if strings.HasPrefix(dir, p+"/") {
			return ""
		}
	}
	return fmt.Sprintf("%q: memrelief writes there (and deletes old files from history.dir), so want %s, for example %q", dir, want, example)
}

// hasControl reports whether s holds a control character (below 0x20, or
// DEL) other than those in allowed.
func hasControl(s, allowed string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 || c == 0x7f) && strings.IndexByte(allowed, c) < 0 {
			return true
		}
	}
	return false
}

// MaxResolutions and MaxHistoryPoints bound a history so no policy can
// make the daemon's memory grow without limit.
const (
	MaxResolutions   = 4
	MaxHistoryPoints = 4096
)

func validateHistory(h *History) []problem {
	var ps []problem
	if msg := checkOwnDir(h.Dir, historyDirParents(), DefaultHistoryDir); msg != "" {
		ps = append(ps, problem{"dir", "dir " + msg})
	}
	if len(h.Resolutions) == 0 || len(h.Resolutions) > MaxResolutions {
		ps = append(ps, problem{"resolution", fmt.Sprintf("want 1 to %d resolutions, got %d", MaxResolutions, len(h.Resolutions))})
	}
	for i, r := range h.Resolutions {
		key := "resolution[" + strconv.Itoa(i) + "]"
		switch {
		case r.Step < Duration(time.Second) || r.Step%Duration(time.Second) != 0:
			ps = append(ps, problem{key, fmt.Sprintf("%s: step must be a whole number of seconds, at least 1s", r)})
		case r.Span%r.Step != 0:
			ps = append(ps, problem{key, fmt.Sprintf("%s: span is not a whole number of steps", r)})
		case r.Points() < 12 || r.Points() > MaxHistoryPoints:
			ps = append(ps, problem{key, fmt.Sprintf("%s holds %d points; want 12 to %d (fewer give no trend, more cost memory)", r, r.Points(), MaxHistoryPoints)})
		case i > 0 && (r.Step <= h.Resolutions[i-1].Step || r.Span <= h.Resolutions[i-1].Span):
			ps = append(ps, problem{key, fmt.Sprintf("%s must be coarser and longer than %s before it", r, h.Resolutions[i-1])})
		}
	}
	if h.SaveEvery < Duration(10*time.Second) || h.SaveEvery > Duration(day) {
		ps = append(ps, problem{"save_every", fmt.Sprintf("save_every %s out of range 10s..1d", h.SaveEvery)})
	}
	if h.MinGrowth <= 0 {
		ps = append(ps, problem{"min_growth", "min_growth must be above 0, or every flat series would be reported as growing"})
	}
	if h.RemindEvery < Duration(time.Minute) {
		ps = append(ps, problem{"remind_every", fmt.Sprintf("remind_every %s is below 1m; a steady leak would flood the journal", h.RemindEvery)})
	}
	if h.Horizon < Duration(time.Hour) {
		ps = append(ps, problem{"horizon", fmt.Sprintf("horizon %s is below 1h", h.Horizon)})
	}
	return ps
}

// checkGlob returns why g is not a usable glob, or "".
func checkGlob(g string, unit bool) string {
	if g == "" {
		return "empty glob"
	}
	if _, err := path.Match(g, ""); err != nil {
		return fmt.Sprintf("malformed glob %q: %v", g, err)
	}
	if unit && strings.Contains(g, "/") {
		return fmt.Sprintf("unit glob %q contains \"/\"; cgroup path globs go in paths", g)
	}
	return ""
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// validateRule checks one typed rule. It is used on rules from the policy
// file and again on rules a drop-in has overridden, so an override cannot
// produce a rule the file could not.
func validateRule(r *Rule, node bool) []problem {
	var ps []problem
	add := func(key, format string, a ...any) { ps = append(ps, problem{key, fmt.Sprintf(format, a...)}) }
	if !node {
		switch {
		case r.Name == "":
			add("name", "missing; every rule needs a name so a reload can undo what it changed")
		case r.Name == NodeRule:
			add("name", "%q is reserved for the [node] rule", NodeRule)
		case !validName(r.Name):
			add("name", "rule name %q: use lower-case letters, digits, \"-\" and \"_\"", r.Name)
		}
	}
	if t := r.PSITrigger; t != nil {
		if t.Kind != "some" && t.Kind != "full" {
			add("psi_trigger.kind", "unknown kind %q (want \"some\" or \"full\")", t.Kind)
		}
		if t.Window < Duration(500*time.Millisecond) || t.Window > Duration(10*time.Second) {
			add("psi_trigger.window", "window %s out of range: the kernel accepts 500ms to 10s", t.Window)
		} else if t.Stall == 0 || t.Stall >= t.Window {
			add("psi_trigger.stall", "stall %s must be above 0 and below window %s", t.Stall, t.Window)
		}
	}
	if r.PSITrigger == nil && r.uses(PSIStall) {
		add("psi_trigger", "missing; %s counts the events of the rule's kernel PSI trigger, so the rule needs [psi_trigger]", PSIStall)
	}
	if len(r.Levels) == 0 {
		add("level", "missing; a rule needs at least one level")
	}
	if len(r.Levels) > MaxLevels {
		add("level", "%d levels; a rule has at most %d", len(r.Levels), MaxLevels)
	}
	names := map[string]bool{}
	for i := range r.Levels {
		l := &r.Levels[i]
		lk := "level[" + strconv.Itoa(i) + "]"
		switch {
		case l.Name == "":
			add(lk+".name", "missing; every level needs a name")
		case !validName(l.Name):
			add(lk+".name", "level name %q: use lower-case letters, digits, \"-\" and \"_\"", l.Name)
		case names[l.Name]:
			add(lk+".name", "duplicate level name %q", l.Name)
		}
		names[l.Name] = true
		ps = append(ps, validateLevel(r, i, node)...)
	}
	return ps
}

func condKey(lk, side string, cs Conditions, c int) string {
	if c < len(cs.All) {
		return lk + "." + side + ".all[" + strconv.Itoa(c) + "]"
	}
	return lk + "." + side + ".any[" + strconv.Itoa(c-len(cs.All)) + "]"
}

func allConds(cs Conditions) []Condition {
	return append(append([]Condition(nil), cs.All...), cs.Any...)
}

func validateLevel(r *Rule, i int, node bool) []problem {
	var ps []problem
	add := func(key, format string, a ...any) { ps = append(ps, problem{key, fmt.Sprintf(format, a...)}) }
	l := &r.Levels[i]
	lk := "level[" + strconv.Itoa(i) + "]"
	if l.Enter.Empty() {
		add(lk+".enter", "missing; a level needs enter conditions")
	}
	if l.Exit.Empty() {
		add(lk+".exit", "missing; a level needs exit conditions so it can be left (hysteresis)")
	}
	enter, exit := allConds(l.Enter), allConds(l.Exit)
	for _, side := range []struct {
		name  string
		cs    Conditions
		conds []Condition
	}{{"enter", l.Enter, enter}, {"exit", l.Exit, exit}} {
		for j, c := range side.conds {
			info, ok := c.Metric.Info()
			if !ok {
				continue // a parse error already said why
			}
			k := condKey(lk, side.name, side.cs, j)
			if node && info.Scope&ScopeNode == 0 {
				add(k, "%s is a per-cgroup figure; the node rule cannot use it", c.Metric)
			}
			if info.Kind == KindPercent && c.Threshold > info.MaxPercent {
				add(k, "%s threshold %s is over %s", c.Metric, Percent(c.Threshold), Percent(info.MaxPercent))
			}
		}
	}
	// Hysteresis: the exit threshold must sit on the far side of the enter
	// threshold, or the level flaps on every tick near the line.
	for j, x := range exit {
		if _, ok := x.Metric.Info(); !ok {
			continue
		}
		k := condKey(lk, "exit", l.Exit, j)
		for _, e := range enter {
			if e.Metric != x.Metric {
				continue
			}
			switch {
			case e.Op.Upward() && x.Op.Upward():
				add(k, "exit condition %q must use < or <= to undo enter condition %q", x, e)
			case !e.Op.Upward() && !x.Op.Upward():
				add(k, "exit condition %q must use > or >= to undo enter condition %q", x, e)
			case e.Op.Upward() && x.Threshold >= e.Threshold:
				add(k, "exit threshold %s is not below enter threshold %s; the level would flap", FormatValue(x.Metric, x.Threshold), FormatValue(e.Metric, e.Threshold))
			case !e.Op.Upward() && x.Threshold <= e.Threshold:
				add(k, "exit threshold %s is not above enter threshold %s; the level would flap", FormatValue(x.Metric, x.Threshold), FormatValue(e.Metric, e.Threshold))
			default:
				continue
			}
			break
		}
	}
	// Order: a later level is more severe, so on each metric it shares
	// with the nearest earlier level its enter threshold lies further out.
	for j, e := range enter {
		if _, ok := e.Metric.Info(); !ok {
			continue
		}
		k := condKey(lk, "enter", l.Enter, j)
	prev:
		for p := i - 1; p >= 0; p-- {
			for _, f := range allConds(r.Levels[p].Enter) {
				if f.Metric != e.Metric || f.Op.Upward() != e.Op.Upward() {
					continue
				}
				if e.Op.Upward() && e.Threshold <= f.Threshold {
					add(k, "threshold %s is not above %s of the less severe level %q; levels go from least to most severe", FormatValue(e.Metric, e.Threshold), FormatValue(f.Metric, f.Threshold), r.Levels[p].Name)
				} else if !e.Op.Upward() && e.Threshold >= f.Threshold {
					add(k, "threshold %s is not below %s of the less severe level %q; levels go from least to most severe", FormatValue(e.Metric, e.Threshold), FormatValue(f.Metric, f.Threshold), r.Levels[p].Name)
				}
				break prev
			}
		}
	}
	for a := range l.Actions {
		ps = append(ps, validateAction(l, lk+".action["+strconv.Itoa(a)+"]", &l.Actions[a], node)...)
	}
	return ps
}

// unitPropertyNames are the properties unit_property knows: memory knobs
// systemd applies to the unit's cgroup at run time. Two of them it refuses
// to set (refusedUnitProperty).
func unitPropertyNames() []string {
	return []string{"MemoryHigh", "MemoryMax", "MemoryLow", "MemoryMin", "MemorySwapMax"}
}

// refusedUnitProperty says why unit_property will not set name, or "".
// memrelief promises never to kill, and these two hand the kernel a reason
// to OOM-kill: MemoryMax the unit itself when it reaches the limit,
// MemoryMin other processes when the protected memory cannot be found
// elsewhere. MemoryHigh and MemoryLow do the same jobs by throttling,
// reclaiming and best-effort protection, without that reason.
func refusedUnitProperty(name string) string {
	switch name {
	case "MemoryMax":
		return "MemoryMax is refused: a unit that reaches it is OOM-killed by the kernel, and memrelief never kills; use MemoryHigh, which throttles and reclaims instead"
	case "MemoryMin":
		return "MemoryMin is refused: memory it protects is never reclaimed, so the kernel OOM-kills other processes when the rest of the node runs out, and memrelief never kills; use MemoryLow, which protects as far as the node can afford"
	}
	return ""
}

// Floors of a MemoryHigh that unit_property sets: below them a unit is
// throttled to a standstill, which is a typo ("1B", "0.5%"), not a policy.
const (
	minMemoryHigh        = Size(16 << 20)
	minMemoryHighPercent = Percent(1)
)

// actionCheck is what an action's validator sees: the level it belongs
// to, its key ("level[0].action[1]") and whether it is in the node rule;
// problems are collected at keys below the action's.
type actionCheck struct {
	level *Level
	key   string
	node  bool
	ps    []problem
}

func (c *actionCheck) add(field, format string, args ...any) {
	c.ps = append(c.ps, problem{c.key + "." + field, fmt.Sprintf(format, args...)})
}

// actionValidators is the table validateAction dispatches on, one
// validator per action type; a function rather than a package variable,
// so nothing can change it. TestEveryActionTypeHasAValidator holds it to
// the ActionType constants.
// ActionTypes lists every action type the policy knows, sorted: the one
// list the engine's and the metrics' exhaustiveness tests and label bounds
// are checked against.
func ActionTypes() []ActionType {
	out := make([]ActionType, 0, 8)
	for t := range actionValidators() {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

func actionValidators() map[ActionType]func(*actionCheck, *Action) {
	return map[ActionType]func(*actionCheck, *Action){
		ActEvent:            func(*actionCheck, *Action) {}, // nothing to set
		ActReclaim:          validateReclaim,
		ActVFSCachePressure: validateVFSCachePressure,
		ActUnitProperty:     validateUnitProperty,
		ActDropCaches:       validateDropCaches,
		ActExec:             validateExec,
	}
}

func validateAction(l *Level, ak string, a *Action, node bool) []problem {
	c := &actionCheck{level: l, key: ak, node: node}
	v, ok := actionValidators()[a.Type]
	if !ok {
		// Decoding refuses unknown types; this guards a type added
		// without a validator, or an Action built in code.
		c.add("type", "unknown action %q (want %s)", a.Type, actionTypes)
		return c.ps
	}
	v(c, a)
	return c.ps
}

func validateDropCaches(c *actionCheck, _ *Action) {
	if !c.node {
		c.add("type", "drop_caches is node-wide; only the node rule may use it")
	} else if c.level.Cooldown < Duration(5*time.Minute) {
		c.add("type", "drop_caches needs a level cooldown of at least 5m (it empties every cache on the node), got %s", c.level.Cooldown)
	}
}

func validateUnitProperty(c *actionCheck, a *Action) {
	if c.node {
		c.add("type", "unit_property needs a systemd unit; the node rule has none")
	}
	u := a.UnitProperty
	if u == nil {
		return
	}
	if !contains(unitPropertyNames(), u.Name) {
		if u.Name == "" {
			c.add("property", "missing; want one of %s", strings.Join(unitPropertyNames(), ", "))
		} else {
			c.add("property", "unsupported property %q (want one of %s)", u.Name, strings.Join(unitPropertyNames(), ", "))
		}
	}
	if msg := refusedUnitProperty(u.Name); msg != "" {
		c.add("property", "%s", msg)
	}
	if msg := checkPropertyValue(u.Value); msg != "" {
		c.add("value", "%s", msg)
	} else if u.Name == "MemoryHigh" {
		if msg := checkMemoryHighFloor(u.Value); msg != "" {
			c.add("value", "%s", msg)
		}
	}
}

// checkMemoryHighFloor refuses a MemoryHigh below minMemoryHigh or
// minMemoryHighPercent; v has passed checkPropertyValue.
func checkMemoryHighFloor(v string) string {
	if p, err := ParsePercent(v); err == nil {
		if p < minMemoryHighPercent {
			return fmt.Sprintf("MemoryHigh %s is below %s of RAM; it would throttle the unit to a standstill", p, minMemoryHighPercent)
		}
		return ""
	}
	if sz, err := ParseSize(v); err == nil && sz < minMemoryHigh {
		return fmt.Sprintf("MemoryHigh %s is below %s; it would throttle the unit to a standstill", sz, minMemoryHigh)
	}
	return ""
}

func validateReclaim(c *actionCheck, a *Action) {
	rc := a.Reclaim
	if rc == nil {
		return
	}
	switch {
	case !rc.Amount.IsPercent() && rc.Amount.Bytes == 0:
		c.add("amount", "missing or 0; reclaim needs an amount (\"64M\" or \"25%%\")")
	case rc.Amount.IsPercent() && rc.Amount.Of != OfSlabReclaimable && rc.Amount.Of != OfMemoryCurrent:
		c.add("of", "unknown base %q (want %q or %q)", rc.Amount.Of, OfSlabReclaimable, OfMemoryCurrent)
	case rc.Amount.IsPercent() && rc.Amount.Percent > 100:
		c.add("amount", "amount %s is over 100%%", rc.Amount.Percent)
	case rc.Amount.IsPercent() && rc.Amount.Percent == 0:
		c.add("amount", "amount 0%% would reclaim nothing")
	}
	switch {
	case rc.Batch == 0:
		c.add("batch", "batch is 0; nothing would be reclaimed")
	case rc.BudgetPerMinute == 0:
		c.add("budget_per_minute", "budget is 0 with reclaim on; nothing could ever be reclaimed")
	case rc.BudgetPerMinute < rc.Batch:
		c.add("budget_per_minute", "budget %s per minute is below one batch of %s", rc.BudgetPerMinute, rc.Batch)
	}
	if rc.Swappiness != nil && (*rc.Swappiness < 0 || *rc.Swappiness > 200) {
		c.add("swappiness", "swappiness %d out of range 0..200", *rc.Swappiness)
	}
	if rc.Timeout == 0 || rc.Timeout > Duration(time.Minute) {
		c.add("timeout", "timeout %s out of range: above 0 and at most 1m", rc.Timeout)
	}
}

func validateVFSCachePressure(c *actionCheck, a *Action) {
	v := a.VFSCachePressure
	if v == nil {
		return
	}
	if v.Target == 0 {
		c.add("target", "missing; vfs_cache_pressure needs a target above 100")
	} else if v.Target <= 100 || v.Target > 10000 {
		c.add("target", "target %d out of range: above 100 (the kernel default) and at most 10000", v.Target)
	}
	if v.Step < 1 {
		c.add("step", "step %d must be at least 1", v.Step)
	}
}

func validateExec(c *actionCheck, a *Action) {
	e := a.Exec
	if e == nil {
		return
	}
	switch {
	case len(e.Command) == 0:
		c.add("command", "missing; exec needs command = [\"/path/to/program\", \"arg\", ...]")
	case e.Shell && len(e.Command) != 1:
		c.add("command", "with shell = true, command must be one string (the shell command line)")
	case !e.Shell && !strings.HasPrefix(e.Command[0], "/"):
		c.add("command", "command[0] %q must be an absolute path (or set shell = true)", e.Command[0])
	}
	// execve cannot pass a NUL (the argument would end there, silently),
	// a control character in a program path is never meant, and the
	// others (escape sequences) would reach the journal and terminals
	// through the event that names the command. Tabs and newlines are
	// fine in an argument or a shell command line.
	for i, arg := range e.Command {
		allowed := "\t\n"
		if i == 0 && !e.Shell {
			allowed = ""
		}
		if hasControl(arg, allowed) {
			what := "argument"
			if i == 0 {
				what = "program path"
				if e.Shell {
					what = "shell command line"
				}
			}
			c.add("command["+strconv.Itoa(i)+"]", "%s %q contains a control character (NUL, escape, ...); memrelief will not run it", what, arg)
		}
	}
	if e.Timeout == 0 || e.Timeout > Duration(10*time.Minute) {
		c.add("timeout", "timeout %s out of range: above 0 and at most 10m", e.Timeout)
	}
}

// checkPropertyValue accepts what systemd accepts for memory properties
// that memrelief is willing to set: a size, a percentage of RAM, infinity.
func checkPropertyValue(v string) string {
	if v == "" {
		return "missing; want a size (\"2G\"), a percentage (\"80%\") or \"infinity\""
	}
	if v == "infinity" {
		return ""
	}
	if p, err := ParsePercent(v); err == nil {
		if p > 100 {
			return fmt.Sprintf("value %s is over 100%%", p)
		}
		return ""
	}
	if _, err := ParseSize(v); err == nil {
		return ""
	}
	return fmt.Sprintf("value %q: want a size (\"2G\"), a percentage (\"80%%\") or \"infinity\"", v)
}
