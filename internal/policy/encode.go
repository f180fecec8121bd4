package policy

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Encode writes p as a policy file with every default spelled out. Parsing
// the output gives the same policy (apart from Source and origins), which
// is what `memrelief check --print` relies on.
func Encode(w io.Writer, p *Policy) error {
	e := &encoder{}
	e.line("# effective policy from %s, defaults filled in", p.Source)
	e.strings("exclude_units", p.ExcludeUnits)
	e.strings("exclude_paths", p.ExcludePaths)
	d := p.Daemon
	e.line("")
	e.line("[daemon]")
	e.kv("interval", quote(d.Interval.String()))
	e.kv("dry_run", strconv.FormatBool(d.DryRun))
	e.kv("state_dir", quote(d.StateDir))
	e.kv("log_level", quote(d.LogLevel))
	e.kv("sinks", quoteList(d.Sinks))
	e.kv("reclaim_budget", quote(d.ReclaimBudget.String()))
	e.kv("max_cgroups", strconv.Itoa(d.MaxCgroups))
	h := p.History
	e.line("")
	e.line("[history]")
	e.kv("enabled", strconv.FormatBool(h.Enabled))
	e.kv("dir", quote(h.Dir))
	res := make([]string, 0, len(h.Resolutions))
	for _, r := range h.Resolutions {
		res = append(res, r.String())
	}
	e.kv("resolution", quoteList(res))
	e.kv("save_every", quote(h.SaveEvery.String()))
	e.kv("min_growth", quote(h.MinGrowth.String()))
	e.kv("remind_every", quote(h.RemindEvery.String()))
	e.kv("horizon", quote(h.Horizon.String()))
	e.kv("containers", strconv.FormatBool(h.Containers))
	if p.Node != nil {
		e.line("")
		e.line("[node]")
		e.rule("node", p.Node)
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		e.line("")
		e.line("[[rule]]")
		e.kv("name", quote(r.Name))
		e.strings("units", r.Units)
		e.strings("paths", r.Paths)
		e.strings("exclude_units", r.ExcludeUnits)
		e.strings("exclude_paths", r.ExcludePaths)
		e.rule("rule", r)
	}
	_, err := io.WriteString(w, e.b.String())
	return err
}

// EncodeRule writes one rule as a complete policy that holds only that
// rule (as a profile, so it matches nothing by itself) under the given
// daemon settings, for showing a unit's effective rule.
func EncodeRule(w io.Writer, p *Policy, r *Rule) error {
	q := &Policy{Source: p.Source, Daemon: p.Daemon, History: p.History}
	c := *r
	c.Units, c.Paths, c.ExcludeUnits, c.ExcludePaths = nil, nil, nil, nil
	q.Rules = []Rule{c}
	return Encode(w, q)
}

type encoder struct{ b strings.Builder }

func (e *encoder) line(format string, a ...any) {
	fmt.Fprintf(&e.b, format, a...)
	e.b.WriteByte('\n')
}

func (e *encoder) kv(k, v string) { e.line("%s = %s", k, v) }

func (e *encoder) strings(k string, v []string) {
	if len(v) > 0 {
		e.kv(k, quoteList(v))
	}
}

func (e *encoder) conds(prefix string, cs Conditions) {
	for _, part := range []struct {
		name  string
		conds []Condition
	}{{"all", cs.All}, {"any", cs.Any}} {
		if len(part.conds) == 0 {
			continue
		}
		s := make([]string, len(part.conds))
		for i, c := range part.conds {
			s[i] = c.String()
		}
		e.kv(prefix+"."+part.name, quoteList(s))
	}
}

func (e *encoder) rule(table string, r *Rule) {
	if t := r.PSITrigger; t != nil {
		e.line("")
		e.line("[%s.psi_trigger]", table)
		e.kv("kind", quote(t.Kind))
		e.kv("stall", quote(t.Stall.String()))
		e.kv("window", quote(t.Window.String()))
	}
	for _, l := range r.Levels {
		e.line("")
		e.line("[[%s.level]]", table)
		e.kv("name", quote(l.Name))
		e.conds("enter", l.Enter)
		e.conds("exit", l.Exit)
		e.kv("dwell", quote(l.Dwell.String()))
		e.kv("cooldown", quote(l.Cooldown.String()))
		for _, a := range l.Actions {
			e.line("")
			e.line("[[%s.level.action]]", table)
			e.kv("type", quote(string(a.Type)))
			switch {
			case a.Reclaim != nil:
				rc := a.Reclaim
				e.kv("amount", quote(rc.Amount.String()))
				if rc.Amount.IsPercent() {
					e.kv("of", quote(rc.Amount.Of))
				}
				e.kv("batch", quote(rc.Batch.String()))
				e.kv("budget_per_minute", quote(rc.BudgetPerMinute.String()))
				if rc.Swappiness != nil {
					e.kv("swappiness", strconv.Itoa(*rc.Swappiness))
				}
				e.kv("timeout", quote(rc.Timeout.String()))
			case a.VFSCachePressure != nil:
				e.kv("target", strconv.Itoa(a.VFSCachePressure.Target))
				e.kv("step", strconv.Itoa(a.VFSCachePressure.Step))
			case a.UnitProperty != nil:
				e.kv("property", quote(a.UnitProperty.Name))
				e.kv("value", quote(a.UnitProperty.Value))
			case a.Exec != nil:
				e.kv("command", quoteList(a.Exec.Command))
				e.kv("timeout", quote(a.Exec.Timeout.String()))
				e.kv("shell", strconv.FormatBool(a.Exec.Shell))
			}
		}
	}
}

// quote writes a TOML basic string. Go's strconv.Quote is close but emits
// escapes TOML lacks (\a, \v, \x..).
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func quoteList(v []string) string {
	q := make([]string, len(v))
	for i, s := range v {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
