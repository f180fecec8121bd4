package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/memrelief/memrelief/internal/dropin"
	"github.com/memrelief/memrelief/internal/policy"
)

func runCheck(ctx context.Context, c *cli, args []string) int {
	fs := newFlagSet("check", "memrelief check [--print] [--unit NAME [--cgroup PATH]] [FILE]\n"+
		"Validates FILE, or ROOT/etc/memrelief/policy.toml, or the embedded default when that is absent.")
	printTOML := fs.Bool("print", false, "print the effective policy as TOML (with --unit: the unit's effective rule)")
	unitName := fs.String("unit", "", "show the effective settings of this unit and where each came from")
	cgroupPath := fs.String("cgroup", "", "with --unit: the unit's cgroup path, for path globs and parent slices' drop-ins")
	h := hostFlags(fs)
	if code, ok := fs.parse(c, args); !ok {
		return code
	}
	if fs.NArg() > 1 {
		return fs.usageError(c, "check takes one FILE, not %d", fs.NArg())
	}
	roots := h.roots()

	var p *policy.Policy
	var err error
	if fs.NArg() == 1 {
		p, err = policy.Load(fs.Arg(0))
	} else {
		var which string
		p, which, err = policy.LoadHost(roots)
		if which == policy.EmbeddedName {
			fmt.Fprintf(c.stderr, "memrelief check: %s does not exist; checking the embedded default policy\n", policy.File(roots))
		} else {
			fmt.Fprintf(c.stderr, "memrelief check: checking %s\n", which)
		}
	}
	if err != nil {
		var errs policy.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				fmt.Fprintln(c.stderr, e.Error())
			}
			fmt.Fprintf(c.stderr, "memrelief check: %d %s; the policy is rejected\n", len(errs), plural(len(errs), "error", "errors"))
		} else {
			fmt.Fprintf(c.stderr, "memrelief check: %v\n", err)
		}
		return 1
	}

	if *unitName == "" {
		if *printTOML {
			if err := policy.Encode(c.stdout, p); err != nil {
				fmt.Fprintf(c.stderr, "memrelief check: %v\n", err)
				return 1
			}
			return 0
		}
		node := "no node rule"
		if p.Node != nil {
			node = "a node rule"
		}
		fmt.Fprintf(c.stdout, "%s: valid policy: %d %s and %s\n", p.Source, len(p.Rules), plural(len(p.Rules), "rule", "rules"), node)
		return 0
	}

	finder := dropin.Finder{Roots: roots}
	if h.live() && !*h.noDBus {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		bus, err := dropin.DialSystemd(dctx)
		cancel()
		if err == nil {
			defer bus.Close()
			finder.Bus = bus
		}
	}
	units := dropin.UnitsOnPath(*cgroupPath)
	if len(units) == 0 || units[len(units)-1] != *unitName {
		units = append(dropin.Ancestors(*unitName), *unitName)
	}
	chain, files, via, derrs, err := dropin.LoadChain(ctx, finder, units)
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief check: %v\n", err)
		return 1
	}
	eff, perrs := p.Effective(*unitName, *cgroupPath, chain)
	derrs = append(derrs, perrs...)
	for _, e := range derrs {
		fmt.Fprintf(c.stderr, "%s (override ignored)\n", e.Error())
	}
	if *printTOML {
		if eff.Rule == nil {
			fmt.Fprintf(c.stderr, "memrelief check: no rule applies to %s\n", *unitName)
		} else if err := policy.EncodeRule(c.stdout, p, eff.Rule); err != nil {
			fmt.Fprintf(c.stderr, "memrelief check: %v\n", err)
			return 1
		}
	} else {
		writeEffective(c.stdout, p, eff, units, files, via)
	}
	if len(derrs) > 0 {
		return 1
	}
	return 0
}

func writeEffective(w io.Writer, p *policy.Policy, e policy.Effective, units, files []string, via string) {
	fmt.Fprintf(w, "unit:      %s\n", e.Unit)
	if e.CgroupPath != "" {
		fmt.Fprintf(w, "cgroup:    %s\n", e.CgroupPath)
	}
	fmt.Fprintf(w, "policy:    %s\n", p.Source)
	fmt.Fprintf(w, "drop-ins:  of %s, found by %s\n", strings.Join(units, ", "), via)
	for _, f := range files {
		fmt.Fprintf(w, "           %s\n", f)
	}
	if len(files) == 0 {
		fmt.Fprintln(w, "           (none)")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tVALUE\tFROM")
	for _, s := range e.Settings {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Value, s.From)
	}
	tw.Flush()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
