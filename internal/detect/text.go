package detect

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/memrelief/memrelief/internal/driver"
)

// WriteText writes the report for a person: one section per subject, the
// answer first and the evidence after it.
func (r Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(format string, a ...any) { fmt.Fprintf(tw, format+"\n", a...) }
	feature := func(name string, f Feature) {
		state := "absent"
		if f.Available {
			state = "available"
		}
		line("  %s\t%s\t%s", name, state, f.Detail)
	}

	line("cgroup")
	line("  mode\t%s\t%s", r.Cgroup.Mode, map[string]string{
		"unified": "cgroup v2 only",
		"hybrid":  "v1 controllers, plus a v2 tree for process tracking and PSI",
		"legacy":  "cgroup v1 only",
		"unknown": r.Cgroup.Error,
	}[r.Cgroup.Mode])
	feature("memory controller", r.Cgroup.Memory)
	if r.Cgroup.UnifiedDir != "" {
		line("  v2 tree\tpresent\t%s", r.Cgroup.UnifiedDir)
	}
	for _, d := range r.Cgroup.Delegation {
		state := "memory on"
		if !d.MemoryEnabled {
			state = "memory OFF"
		}
		line("  subtree_control\t%s\t%s", state, d.Cgroup)
	}
	for _, e := range r.Cgroup.Evidence {
		line("  evidence\t\t%s", e)
	}

	line("kernel")
	line("  release\t%s\t", r.Kernel.Release)
	feature("node PSI", r.Kernel.NodePSI)
	feature("cgroup PSI", r.Kernel.CgroupPSI)
	feature("PSI triggers", r.Kernel.PSITriggers)
	feature("memory.reclaim", r.Kernel.MemoryReclaim)
	feature("reclaim swappiness=", r.Kernel.ReclaimSwappiness)

	line("systemd")
	pid1 := "yes"
	if !r.Systemd.PID1 {
		pid1 = "no (PID 1 is " + orUnknown(r.Systemd.PID1Comm) + ")"
	}
	line("  PID 1\t%s\t", pid1)
	line("  version\t%s\t", orUnknown(r.Systemd.Version))
	feature("D-Bus", r.Systemd.DBus)

	line("cgroup drivers")
	for _, c := range r.Drivers {
		line("  %s\t%s\t%s", c.Name, driverState(c), driverDetail(c))
	}

	line("findings")
	if len(r.Findings) == 0 {
		line("  none\t\t")
	}
	for _, f := range r.Findings {
		line("  %s\t%s\t%s", f.Severity, f.Code, f.Message)
	}
	return tw.Flush()
}

func driverState(c driver.Component) string {
	switch {
	case !c.Installed && c.Name == driver.NameTree:
		return "no pods"
	case !c.Installed:
		return "not installed"
	case c.Driver == driver.Unknown:
		return "driver unknown"
	case c.Defaulted:
		return string(c.Driver) + " (default)"
	}
	return string(c.Driver)
}

func driverDetail(c driver.Component) string {
	parts := []string{}
	if c.Installed && c.Evidence != "" {
		parts = append(parts, c.Evidence)
	} else if c.Why != "" {
		parts = append(parts, c.Why)
	}
	if c.Err != nil {
		parts = append(parts, "error: "+c.Err.Error())
	}
	return strings.Join(parts, "; ")
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
