package policy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/memrelief/memrelief/configs"
	"github.com/memrelief/memrelief/internal/paths"
)

// EmbeddedName is the Source of the policy compiled into the binary.
const EmbeddedName = "(embedded)/default.toml"

// File is where the operator's policy lives under the /etc root.
func File(r paths.Roots) string { return filepath.Join(r.Etc, "memrelief", "policy.toml") }

// Default parses the embedded default policy.
func Default() (*Policy, error) { return Parse(EmbeddedName, configs.Default()) }

// Load reads and parses one policy file. A read error is returned wrapped;
// problems in the policy, a file larger than MaxFileBytes included, come
// back as Errors.
func Load(file string) (*Policy, error) {
	data, err := ReadFile(file)
	if isSizeError(err) {
		return nil, Errors{{File: file, Msg: err.Error()}}
	}
	if err != nil {
		return nil, fmt.Errorf("read policy %s: %w", file, err)
	}
	return Parse(file, data)
}

// LoadHost loads File(r), or the embedded default when that file does not
// exist. The returned string says which one was used.
func LoadHost(r paths.Roots) (*Policy, string, error) {
	f := File(r)
	if _, err := os.Stat(f); errors.Is(err, os.ErrNotExist) {
		p, err := Default()
		return p, EmbeddedName, err
	}
	p, err := Load(f)
	return p, f, err
}

// Parse decodes and validates a policy. name is used in error messages and
// as Policy.Source. It returns a complete policy, or nil and an Errors with
// every problem found (nothing else: Parse does no I/O). A document larger
// than MaxFileBytes is refused unparsed.
func Parse(name string, data []byte) (*Policy, error) {
	if len(data) > MaxFileBytes {
		return nil, sizeErrors(name, len(data))
	}
	var raw rawPolicy
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		return nil, Errors{decodeError(name, data, err)}
	}
	c := &conv{file: name, at: locate(string(data))}
	seen := map[string]bool{}
	for _, k := range md.Undecoded() {
		key := k.String()
		if seen[key] {
			continue
		}
		seen[key] = true
		c.unknown(key)
	}
	p := c.policy(&raw)
	if len(c.errs) > 0 {
		return nil, c.errs.sorted()
	}
	p.Source = name
	return p, nil
}

var legacyErrRE = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// decodeError turns a decoder error into an Error with the best place the
// decoder gave. The line and column come from the byte offset of the
// offending input: the decoder's own line has already moved past an
// unexpected newline (a table name missing its ']' on line 3 was placed
// on line 4), while the offset points at the newline itself, that is at
// the end of the line where the ']' belongs.
func decodeError(name string, data []byte, err error) Error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		line, col := pe.Position.Line, pe.Position.Col
		if at := pe.Position.Start; at >= 0 && at <= len(data) && line > 0 {
			// A quoted key defined twice is placed inside its quotes.
			if at > 0 && (data[at-1] == '"' || data[at-1] == '\'') && strings.Contains(pe.Message, "already been defined") {
				at--
			}
			line, col = 1+bytes.Count(data[:at], []byte{'\n'}), at-bytes.LastIndexByte(data[:at], '\n')
		}
		return Error{File: name, Line: line, Col: col, Key: pe.LastKey, Msg: pe.Message}
	}
	// Type mismatches of whole tables ("rule = 3") come as plain errors
	// carrying the line in their text.
	if m := legacyErrRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Error{File: name, Line: line, Key: m[2], Msg: m[3]}
	}
	return Error{File: name, Msg: err.Error()}
}

// val holds one leaf as the decoder saw it. Leaves are typed by conv rather
// than by the decoder, because the decoder stops at the first type error
// and places it by unindexed key; conv reports them all, each at its line.
type val struct {
	v   any
	set bool
}

// UnmarshalTOML implements toml.Unmarshaler.
func (x *val) UnmarshalTOML(v any) error {
	x.v, x.set = v, true
	return nil
}

type rawPolicy struct {
	Daemon       rawDaemon  `toml:"daemon"`
	History      rawHistory `toml:"history"`
	ExcludeUnits val        `toml:"exclude_units"`
	ExcludePaths val        `toml:"exclude_paths"`
	Node         *rawRule   `toml:"node"`
	Rule         []rawRule  `toml:"rule"`
}

type rawDaemon struct {
	Interval      val `toml:"interval"`
	DryRun        val `toml:"dry_run"`
	StateDir      val `toml:"state_dir"`
	LogLevel      val `toml:"log_level"`
	Sinks         val `toml:"sinks"`
	ReclaimBudget val `toml:"reclaim_budget"`
	MaxCgroups    val `toml:"max_cgroups"`
}

type rawHistory struct {
	Enabled     val `toml:"enabled"`
	Dir         val `toml:"dir"`
	Resolution  val `toml:"resolution"`
	SaveEvery   val `toml:"save_every"`
	MinGrowth   val `toml:"min_growth"`
	RemindEvery val `toml:"remind_every"`
	Horizon     val `toml:"horizon"`
	Containers  val `toml:"containers"`
}

type rawRule struct {
	Name         val         `toml:"name"`
	Units        val         `toml:"units"`
	Paths        val         `toml:"paths"`
	ExcludeUnits val         `toml:"exclude_units"`
	ExcludePaths val         `toml:"exclude_paths"`
	PSITrigger   *rawTrigger `toml:"psi_trigger"`
	Level        []rawLevel  `toml:"level"`
}

type rawTrigger struct {
	Kind   val `toml:"kind"`
	Stall  val `toml:"stall"`
	Window val `toml:"window"`
}

type rawLevel struct {
	Name     val         `toml:"name"`
	Enter    rawConds    `toml:"enter"`
	Exit     rawConds    `toml:"exit"`
	Dwell    val         `toml:"dwell"`
	Cooldown val         `toml:"cooldown"`
	Action   []rawAction `toml:"action"`
}

type rawConds struct {
	All val `toml:"all"`
	Any val `toml:"any"`
}

type rawAction struct {
	Type            val `toml:"type"`
	Amount          val `toml:"amount"`
	Of              val `toml:"of"`
	Batch           val `toml:"batch"`
	BudgetPerMinute val `toml:"budget_per_minute"`
	Swappiness      val `toml:"swappiness"`
	Timeout         val `toml:"timeout"`
	Target          val `toml:"target"`
	Step            val `toml:"step"`
	Property        val `toml:"property"`
	Value           val `toml:"value"`
	Command         val `toml:"command"`
	Shell           val `toml:"shell"`
}

// conv converts the raw document into a Policy, collecting every problem.
type conv struct {
	file string
	at   map[string]position
	// written maps a key as the decoder names it (no array indices) to
	// the indexed keys of at it stands for; built on the first unknown
	// key, so that finding every place of each one is not a scan of at.
	written map[string][]string
	errs    Errors
	// failed holds keys already reported, so a value that could not be
	// read is not reported again by validation as missing or zero.
	failed map[string]bool
}

func (c *conv) pos(key string) position {
	for k, ok := key, true; ok; k, ok = parent(k) {
		if p, found := c.at[k]; found {
			return p
		}
	}
	return position{}
}

func (c *conv) origin(key string) Origin { return Origin{File: c.file, Line: c.pos(key).line} }

func (c *conv) errf(key, format string, a ...any) {
	if c.failed == nil {
		c.failed = map[string]bool{}
	}
	c.failed[key] = true
	p := c.pos(key)
	c.errs = append(c.errs, Error{File: c.file, Line: p.line, Col: p.col, Key: key, Msg: fmt.Sprintf(format, a...)})
}

// unknown reports an undecoded key at every place it is written.
func (c *conv) unknown(key string) {
	if c.written == nil {
		c.written = make(map[string][]string, len(c.at))
		for k := range c.at {
			u := unindexed(k)
			c.written[u] = append(c.written[u], k)
		}
	}
	found := c.written[key]
	// at is a map: without a sort, two keys written at one place (a
	// [[table]] and its element) would be reported in random order.
	slices.Sort(found)
	if len(found) == 0 {
		c.errs = append(c.errs, Error{File: c.file, Key: key, Msg: "unknown key"})
		return
	}
	for _, k := range found {
		c.errf(k, "unknown key")
	}
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date or time"
}

func (c *conv) str(key string, v val, def string) string {
	if !v.set {
		return def
	}
	s, ok := v.v.(string)
	if !ok {
		c.errf(key, "want a string, got %s", tomlType(v.v))
		return def
	}
	return s
}

func (c *conv) boolean(key string, v val, def bool) bool {
	if !v.set {
		return def
	}
	b, ok := v.v.(bool)
	if !ok {
		c.errf(key, "want true or false, got %s", tomlType(v.v))
		return def
	}
	return b
}

func (c *conv) integer(key string, v val, def int) int {
	if !v.set {
		return def
	}
	n, ok := v.v.(int64)
	if !ok || n != int64(int(n)) {
		c.errf(key, "want an integer, got %s", tomlType(v.v))
		return def
	}
	return int(n)
}

func (c *conv) strs(key string, v val) []string {
	if !v.set {
		return nil
	}
	arr, ok := v.v.([]any)
	if !ok {
		c.errf(key, "want an array of strings, got %s", tomlType(v.v))
		return nil
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			c.errf(key+"["+strconv.Itoa(i)+"]", "want a string, got %s", tomlType(e))
			continue
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil // "x = []" and no x mean the same, and print the same
	}
	return out
}

func (c *conv) size(key string, v val, def Size) Size {
	return text(c, key, v, def, `a size such as "512M"`, ParseSize)
}

func (c *conv) duration(key string, v val, def Duration) Duration {
	return text(c, key, v, def, `a duration such as "30s"`, ParseDuration)
}

func (c *conv) rate(key string, v val, def Rate) Rate {
	return text(c, key, v, def, `a rate such as "1M/day"`, ParseRate)
}

// text converts a value written as a string in its own spelling (sizes,
// durations, rates): def when it is not set, and def with an error at key
// when it is not a string (want says what is) or parse refuses it.
func text[T any](c *conv, key string, v val, def T, want string, parse func(string) (T, error)) T {
	if !v.set {
		return def
	}
	s, ok := v.v.(string)
	if !ok {
		c.errf(key, "want %s, got %s", want, tomlType(v.v))
		return def
	}
	x, err := parse(s)
	if err != nil {
		c.errf(key, "%v", err)
		return def
	}
	return x
}

func (c *conv) policy(raw *rawPolicy) *Policy {
	p := &Policy{
		Daemon:       c.daemon(&raw.Daemon),
		History:      c.history(&raw.History),
		ExcludeUnits: c.globs("exclude_units", raw.ExcludeUnits, true),
		ExcludePaths: c.globs("exclude_paths", raw.ExcludePaths, false),
	}
	if raw.Node != nil {
		p.Node = c.rule("node", raw.Node, true)
	}
	first := map[string]string{}
	for i := range raw.Rule {
		key := "rule[" + strconv.Itoa(i) + "]"
		r := c.rule(key, &raw.Rule[i], false)
		if r.Name != "" {
			if prev, dup := first[r.Name]; dup {
				c.errf(key+".name", "duplicate rule name %q (first at line %d)", r.Name, c.pos(prev).line)
			} else {
				first[r.Name] = key
			}
		}
		p.Rules = append(p.Rules, *r)
	}
	c.checkBudget(p)
	return p
}

func (c *conv) daemon(raw *rawDaemon) Daemon {
	d := defaultDaemon()
	d.Interval = c.duration("daemon.interval", raw.Interval, d.Interval)
	d.DryRun = c.boolean("daemon.dry_run", raw.DryRun, d.DryRun)
	d.StateDir = c.str("daemon.state_dir", raw.StateDir, d.StateDir)
	d.LogLevel = c.str("daemon.log_level", raw.LogLevel, d.LogLevel)
	if raw.Sinks.set {
		d.Sinks = c.strs("daemon.sinks", raw.Sinks)
	}
	d.ReclaimBudget = c.size("daemon.reclaim_budget", raw.ReclaimBudget, d.ReclaimBudget)
	d.MaxCgroups = c.integer("daemon.max_cgroups", raw.MaxCgroups, d.MaxCgroups)
	for _, pr := range validateDaemon(&d) {
		if k := "daemon." + pr.key; !c.failed[k] {
			c.errf(k, "%s", pr.msg)
		}
	}
	return d
}

func (c *conv) history(raw *rawHistory) History {
	h := defaultHistory()
	h.Enabled = c.boolean("history.enabled", raw.Enabled, h.Enabled)
	h.Dir = c.str("history.dir", raw.Dir, h.Dir)
	if raw.Resolution.set {
		h.Resolutions = nil
		for i, s := range c.strs("history.resolution", raw.Resolution) {
			r, err := ParseResolution(s)
			if err != nil {
				c.errf("history.resolution["+strconv.Itoa(i)+"]", "%v", err)
				continue
			}
			h.Resolutions = append(h.Resolutions, r)
		}
	}
	h.SaveEvery = c.duration("history.save_every", raw.SaveEvery, h.SaveEvery)
	h.MinGrowth = c.rate("history.min_growth", raw.MinGrowth, h.MinGrowth)
	h.RemindEvery = c.duration("history.remind_every", raw.RemindEvery, h.RemindEvery)
	h.Horizon = c.duration("history.horizon", raw.Horizon, h.Horizon)
	h.Containers = c.boolean("history.containers", raw.Containers, h.Containers)
	for _, pr := range validateHistory(&h) {
		if k := "history." + pr.key; !c.failed[k] {
			c.errf(k, "%s", pr.msg)
		}
	}
	return h
}

func (c *conv) globs(key string, v val, unit bool) []string {
	gs := c.strs(key, v)
	for i, g := range gs {
		if msg := checkGlob(g, unit); msg != "" {
			c.errf(key+"["+strconv.Itoa(i)+"]", "%s", msg)
		}
	}
	return gs
}

func (c *conv) rule(key string, raw *rawRule, node bool) *Rule {
	r := &Rule{At: c.origin(key)}
	if node {
		r.Name = NodeRule
		for _, f := range []struct {
			name string
			v    val
		}{{"name", raw.Name}, {"units", raw.Units}, {"paths", raw.Paths}, {"exclude_units", raw.ExcludeUnits}, {"exclude_paths", raw.ExcludePaths}} {
			if f.v.set {
				c.errf(key+"."+f.name, "does not apply to the node rule")
			}
		}
	} else {
		r.Name = c.str(key+".name", raw.Name, "")
		r.Units = c.globs(key+".units", raw.Units, true)
		r.Paths = c.globs(key+".paths", raw.Paths, false)
		r.ExcludeUnits = c.globs(key+".exclude_units", raw.ExcludeUnits, true)
		r.ExcludePaths = c.globs(key+".exclude_paths", raw.ExcludePaths, false)
	}
	if t := raw.PSITrigger; t != nil {
		tk := key + ".psi_trigger"
		d := defaultTrigger()
		r.PSITrigger = &PSITrigger{
			Kind:   c.str(tk+".kind", t.Kind, d.Kind),
			Stall:  c.duration(tk+".stall", t.Stall, d.Stall),
			Window: c.duration(tk+".window", t.Window, d.Window),
		}
	}
	for i := range raw.Level {
		lk := key + ".level[" + strconv.Itoa(i) + "]"
		r.Levels = append(r.Levels, c.level(lk, &raw.Level[i], node))
	}
	for _, pr := range validateRule(r, node) {
		if k := join(key, pr.key); !c.failed[k] {
			c.errf(k, "%s", pr.msg)
		}
	}
	return r
}

func (c *conv) level(key string, raw *rawLevel, node bool) Level {
	l := Level{
		Name:     c.str(key+".name", raw.Name, ""),
		Enter:    c.conds(key+".enter", raw.Enter),
		Exit:     c.conds(key+".exit", raw.Exit),
		Dwell:    c.duration(key+".dwell", raw.Dwell, DefaultDwell),
		Cooldown: c.duration(key+".cooldown", raw.Cooldown, DefaultCooldown),
		At:       c.origin(key),
	}
	for i := range raw.Action {
		ak := key + ".action[" + strconv.Itoa(i) + "]"
		if a, ok := c.action(ak, &raw.Action[i]); ok {
			l.Actions = append(l.Actions, a)
		} else {
			// Keep indices aligned with the file so later checks point at
			// the right action.
			l.Actions = append(l.Actions, Action{Type: ActEvent, At: c.origin(ak)})
		}
	}
	return l
}

func (c *conv) conds(key string, raw rawConds) Conditions {
	var cs Conditions
	for _, part := range []struct {
		name string
		v    val
		dst  *[]Condition
	}{{"all", raw.All, &cs.All}, {"any", raw.Any, &cs.Any}} {
		for i, s := range c.strs(key+"."+part.name, part.v) {
			ck := key + "." + part.name + "[" + strconv.Itoa(i) + "]"
			cond, err := ParseCondition(s)
			if err != nil {
				c.errf(ck, "%v", err)
				// A placeholder keeps indices aligned; it is never used
				// because the policy is rejected.
				cond = Condition{Metric: "", Op: OpGE}
			}
			cond.At = c.origin(ck)
			*part.dst = append(*part.dst, cond)
		}
	}
	return cs
}

// actionKeys lists which keys apply to each action type.
func actionKeys(t ActionType) (keys []string, ok bool) {
	switch t {
	case ActEvent, ActDropCaches:
		return nil, true
	case ActReclaim:
		return []string{"amount", "of", "batch", "budget_per_minute", "swappiness", "timeout"}, true
	case ActVFSCachePressure:
		return []string{"target", "step"}, true
	case ActUnitProperty:
		return []string{"property", "value"}, true
	case ActExec:
		return []string{"command", "timeout", "shell"}, true
	}
	return nil, false
}

const actionTypes = "event, reclaim, vfs_cache_pressure, unit_property, exec or drop_caches"

func (c *conv) action(key string, raw *rawAction) (Action, bool) {
	a := Action{At: c.origin(key)}
	if !raw.Type.set {
		c.errf(key+".type", "missing; want %s", actionTypes)
		return a, false
	}
	a.Type = ActionType(c.str(key+".type", raw.Type, ""))
	allowed, ok := actionKeys(a.Type)
	if !ok {
		c.errf(key+".type", "unknown action %q (want %s)", a.Type, actionTypes)
		return a, false
	}
	for _, f := range []struct {
		name string
		v    val
	}{
		{"amount", raw.Amount}, {"of", raw.Of}, {"batch", raw.Batch}, {"budget_per_minute", raw.BudgetPerMinute},
		{"swappiness", raw.Swappiness}, {"timeout", raw.Timeout}, {"target", raw.Target}, {"step", raw.Step},
		{"property", raw.Property}, {"value", raw.Value}, {"command", raw.Command}, {"shell", raw.Shell},
	} {
		if f.v.set && !contains(allowed, f.name) {
			c.errf(key+"."+f.name, "does not apply to a %s action", a.Type)
		}
	}
	switch a.Type {
	case ActReclaim:
		rc := defaultReclaim()
		if s, isStr := raw.Amount.v.(string); raw.Amount.set && !isStr {
			c.errf(key+".amount", "want a string, got %s", tomlType(raw.Amount.v))
		} else if raw.Amount.set {
			if pct, err := ParsePercent(s); err == nil {
				rc.Amount.Percent = pct
				rc.Amount.Of = c.str(key+".of", raw.Of, "")
				if rc.Amount.Of == "" {
					c.errf(key+".of", "missing; a percentage amount needs of = %q or %q", OfSlabReclaimable, OfMemoryCurrent)
					c.failed[key+".amount"] = true
				}
			} else if sz, err := ParseSize(s); err == nil {
				rc.Amount.Bytes = sz
				if raw.Of.set {
					c.errf(key+".of", "only applies to a percentage amount")
				}
			} else {
				c.errf(key+".amount", "amount %q: want a size (\"64M\") or a percentage (\"25%%\")", s)
			}
		}
		rc.Batch = c.size(key+".batch", raw.Batch, rc.Batch)
		rc.BudgetPerMinute = c.size(key+".budget_per_minute", raw.BudgetPerMinute, rc.BudgetPerMinute)
		if raw.Batch.set {
			rc.BatchAt = c.origin(key + ".batch")
		}
		if raw.BudgetPerMinute.set {
			rc.BudgetAt = c.origin(key + ".budget_per_minute")
		}
		if raw.Swappiness.set {
			sw := c.integer(key+".swappiness", raw.Swappiness, 0)
			rc.Swappiness = &sw
		}
		rc.Timeout = c.duration(key+".timeout", raw.Timeout, rc.Timeout)
		if !raw.Amount.set {
			// Reported by validateRule as missing; mark it so.
			rc.Amount = Amount{}
		}
		a.Reclaim = &rc
	case ActVFSCachePressure:
		v := VFSCachePressure{Target: c.integer(key+".target", raw.Target, 0), Step: c.integer(key+".step", raw.Step, DefaultVFSStep)}
		a.VFSCachePressure = &v
	case ActUnitProperty:
		u := UnitProperty{Name: c.str(key+".property", raw.Property, ""), Value: c.str(key+".value", raw.Value, "")}
		a.UnitProperty = &u
	case ActExec:
		e := Exec{Timeout: c.duration(key+".timeout", raw.Timeout, DefaultExecTimeout), Shell: c.boolean(key+".shell", raw.Shell, false)}
		e.Command = c.strs(key+".command", raw.Command)
		a.Exec = &e
	}
	return a, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkBudget rejects a node-wide reclaim budget of zero when some level
// reclaims: such a policy promises remediation it can never deliver.
func (c *conv) checkBudget(p *Policy) {
	if p.Daemon.ReclaimBudget != 0 {
		return
	}
	for _, key := range reclaimKeys(p) {
		c.errf("daemon.reclaim_budget", "is 0 while %s reclaims; nothing could ever be reclaimed", key)
		return
	}
}

func reclaimKeys(p *Policy) []string {
	var keys []string
	add := func(prefix string, r *Rule) {
		for i, l := range r.Levels {
			for j, a := range l.Actions {
				if a.Type == ActReclaim {
					keys = append(keys, fmt.Sprintf("%s.level[%d].action[%d]", prefix, i, j))
				}
			}
		}
	}
	if p.Node != nil {
		add("node", p.Node)
	}
	for i := range p.Rules {
		add("rule["+strconv.Itoa(i)+"]", &p.Rules[i])
	}
	return keys
}
