package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"

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

	load := func() (*policy.Policy, string, error) { return policy.LoadHost(roots) }
	if fs.NArg() == 1 {
		load = func() (*policy.Policy, string, error) {
			p, err := policy.Load(fs.Arg(0))
			return p, fs.Arg(0), err
		}
	}
	p, which, err := loadUntilDone(ctx, load)
	if ctx.Err() != nil {
		return interrupted(c, ctx)
	}
	if fs.NArg() == 0 {
		if which == policy.EmbeddedName {
			fmt.Fprintf(c.stderr, "memrelief check: %s does not exist; checking the embedded default policy\n", policy.File(roots))
		} else {
			fmt.Fprintf(c.stderr, "memrelief check: checking %s\n", which)
		}
	}
	if err != nil {
		var errs policy.Errors
		if errors.As(err, &errs) {
			for _, e := range errs.Capped(policy.MaxShownErrors) {
				fmt.Fprintln(c.stderr, e.Error())
			}
			fmt.Fprintf(c.stderr, "memrelief check: %d %s; the policy is rejected\n", len(errs), plural(len(errs), "error", "errors"))
		} else {
			fmt.Fprintf(c.stderr, "memrelief check: %v\n", err)
		}
		return exitFailure
	}

	if *unitName == "" {
		if *printTOML {
			if err := policy.Encode(c.stdout, p); err != nil {
				fmt.Fprintf(c.stderr, "memrelief check: %v\n", err)
				return exitFailure
			}
			return exitOK
		}
		node := "no node rule"
		if p.Node != nil {
			node = "a node rule"
		}
		fmt.Fprintf(c.stdout, "%s: valid policy: %d %s and %s\n", p.Source, len(p.Rules), plural(len(p.Rules), "rule", "rules"), node)
		return exitOK
	}

	return checkUnit(ctx, c, h, p, *unitName, *cgroupPath, *printTOML)
}

// checkUnit shows the settings of unit under p and its drop-ins, and
// returns the exit code: 1 when a drop-in line was ignored or systemd has
// no such unit, else 0.
func checkUnit(ctx context.Context, c *cli, h *host, p *policy.Policy, unitName, cgroupPath string, printTOML bool) int {
	roots := h.roots()
	finder := dropin.Finder{Roots: roots}
	loadState := ""
	if h.live() && !*h.noDBus {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		bus, err := dropin.DialSystemd(dctx)
		if err == nil {
			defer bus.Close()
			finder.Bus = bus
			loadState = unitLoadState(dctx, unitName)
		}
		cancel()
	}
	units := dropin.UnitsOnPath(cgroupPath)
	if len(units) == 0 || units[len(units)-1] != unitName {
		units = append(dropin.Ancestors(unitName), unitName)
	}
	chain, files, via, derrs, err := dropin.LoadChain(ctx, finder, units)
	if ctx.Err() != nil {
		return interrupted(c, ctx)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief check: %v\n", err)
		return exitFailure
	}
	eff, perrs := p.Effective(unitName, cgroupPath, chain)
	derrs = append(derrs, perrs...)
	for _, e := range derrs {
		fmt.Fprintf(c.stderr, "%s (override ignored)\n", e.Error())
	}
	warnings, noUnit := unitFindings(unitName, units, files, via, loadState)
	for _, w := range warnings {
		fmt.Fprintf(c.stderr, "memrelief check: %s\n", w)
	}
	if printTOML {
		if eff.Rule == nil {
			fmt.Fprintf(c.stderr, "memrelief check: no rule applies to %s\n", unitName)
		} else if err := policy.EncodeRule(c.stdout, p, eff.Rule); err != nil {
			fmt.Fprintf(c.stderr, "memrelief check: %v\n", err)
			return exitFailure
		}
	} else {
		writeEffective(c.stdout, p, eff, units, files, via)
	}
	if len(derrs) > 0 || noUnit {
		return exitFailure
	}
	return exitOK
}

// unitLoadState is systemd's LoadState of unit ("loaded", "not-found",
// "masked", ...), or "" when systemd cannot be asked. Asking loads the
// unit's file if it has one, as systemctl show does.
func unitLoadState(ctx context.Context, unit string) string {
	conn, err := sddbus.NewSystemConnectionContext(ctx)
	if err != nil {
		return ""
	}
	defer conn.Close()
	p, err := conn.GetUnitPropertyContext(ctx, unit, "LoadState")
	if err != nil {
		return ""
	}
	s, _ := p.Value.Value().(string)
	return s
}

// unitFindings are check --unit's warnings about the unit itself. noUnit
// is set when systemd (loadState, "" when it was not asked) has no such
// unit: the settings shown then apply to nothing, and check fails. No
// drop-in found is only a warning, since most units have none; offline
// (--root, --no-dbus, no systemd) it is all that can be said of a unit
// that does not exist.
func unitFindings(unit string, units, files []string, via, loadState string) (warnings []string, noUnit bool) {
	if loadState == "not-found" {
		warnings = append(warnings, fmt.Sprintf("systemd has no unit %s (LoadState=not-found); the settings below would apply to a unit of that name", unit))
		noUnit = true
	}
	if len(files) == 0 {
		of := unit
		if len(units) > 1 {
			of += " or its slices (" + strings.Join(units[:len(units)-1], ", ") + ")"
		}
		warnings = append(warnings, fmt.Sprintf("no drop-in found for %s by %s; the policy alone applies", of, via))
	}
	return warnings, noUnit
}

// interrupted says check was stopped, and why, and returns exitInterrupted.
func interrupted(c *cli, ctx context.Context) int {
	fmt.Fprintf(c.stderr, "memrelief check: interrupted: %v\n", context.Cause(ctx))
	return exitInterrupted
}

// loadUntilDone runs load in a goroutine and returns its result, or
// ctx's error as soon as ctx ends: parsing a huge policy cannot be
// interrupted, so Ctrl-C (main's signal.NotifyContext) leaves it behind
// and check exits at once.
func loadUntilDone(ctx context.Context, load func() (*policy.Policy, string, error)) (*policy.Policy, string, error) {
	type result struct {
		p     *policy.Policy
		which string
		err   error
	}
	done := make(chan result, 1) // the goroutine never blocks, even when left behind
	go func() {
		p, which, err := load()
		done <- result{p, which, err}
	}()
	select {
	case r := <-done:
		return r.p, r.which, r.err
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
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
