// Package detect finds out what a host allows memrelief to do: its cgroup
// layout, the kernel's PSI and reclaim interfaces, the service manager and the
// cgroup driver of each Kubernetes component, and what among them disagrees.
//
// Run never fails on a host that lacks something: every feature is reported
// available or absent with the reason, so `memrelief detect` is the first
// command to run on a new host.
package detect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/driver"
	"github.com/memrelief/memrelief/internal/paths"
	"github.com/memrelief/memrelief/internal/procinfo"
	"github.com/memrelief/memrelief/internal/psi"
	"github.com/memrelief/memrelief/internal/systemd"
)

// Options says which host to look at and how far to go.
type Options struct {
	Roots  paths.Roots
	StatFS cgroupfs.StatFS
	// Live allows probes that only mean something on the running kernel:
	// registering a PSI trigger, and a zero-byte memory.reclaim write to
	// learn whether the kernel takes swappiness=. Off for fixture trees.
	Live bool
	// Manager is systemd's D-Bus API; nil means D-Bus is not used.
	Manager systemd.Manager
}

// Feature is one capability, available or not, with the reason.
type Feature struct {
	Available bool   `json:"available"`
	Detail    string `json:"detail"`
}

func yes(format string, a ...any) Feature { return Feature{true, fmt.Sprintf(format, a...)} }
func no(format string, a ...any) Feature  { return Feature{false, fmt.Sprintf(format, a...)} }

// Report is the result of Run. Its JSON form is stable: fields are added,
// never renamed.
type Report struct {
	Cgroup   Cgroup             `json:"cgroup"`
	Kernel   Kernel             `json:"kernel"`
	Systemd  Systemd            `json:"systemd"`
	Drivers  []driver.Component `json:"drivers"`
	Findings []driver.Finding   `json:"findings"`
}

// Cgroup describes the hierarchy.
type Cgroup struct {
	// Mode is "unified", "hybrid", "legacy", or "unknown" with Error set.
	Mode       string `json:"mode"`
	Root       string `json:"root"`
	MemoryDir  string `json:"memory_dir"`  // where memory.* files live; "" when the controller is absent
	UnifiedDir string `json:"unified_dir"` // the v2 tree (per-cgroup PSI); "" on legacy
	// Memory says where the memory controller lives.
	Memory Feature `json:"memory_controller"`
	// Delegation lists, on v2, whether memory is enabled in
	// cgroup.subtree_control of the root and of each top-level slice, which
	// is what gives their children memory.* files.
	Delegation []Delegation `json:"delegation,omitempty"`
	Evidence   []string     `json:"evidence"`
	Error      string       `json:"error,omitempty"`
}

// Delegation is one cgroup's subtree_control, for memory.
type Delegation struct {
	Cgroup        string `json:"cgroup"`
	MemoryEnabled bool   `json:"memory_enabled"`
}

// Kernel lists the kernel interfaces memrelief uses.
type Kernel struct {
	Release           string  `json:"release"`
	NodePSI           Feature `json:"node_psi"`
	CgroupPSI         Feature `json:"cgroup_psi"`
	PSITriggers       Feature `json:"psi_triggers"`
	MemoryReclaim     Feature `json:"memory_reclaim"`
	ReclaimSwappiness Feature `json:"memory_reclaim_swappiness"`
}

// Systemd describes the service manager.
type Systemd struct {
	PID1     bool    `json:"pid1"`
	PID1Comm string  `json:"pid1_comm"`
	Version  string  `json:"version"`
	DBus     Feature `json:"dbus"`
}

// Run inspects the host.
func Run(ctx context.Context, o Options) Report {
	var r Report
	layout, lerr := cgroupfs.DetectLayout(o.Roots.Cgroup, o.StatFS)
	r.Cgroup = cgroupReport(layout, lerr)
	sd := systemd.Probe(ctx, o.Roots, o.Manager)
	r.Systemd = Systemd{PID1: sd.PID1, PID1Comm: sd.PID1Comm, Version: sd.Version}
	switch {
	case sd.Bus:
		r.Systemd.DBus = yes("systemd %s answered on the system bus", sd.Version)
	case errors.Is(sd.BusErr, systemd.ErrNoBus):
		r.Systemd.DBus = no("not tried (fixture root or --no-dbus)")
	default:
		r.Systemd.DBus = no("%v", sd.BusErr)
	}
	r.Kernel = kernelReport(o, layout, lerr == nil)
	r.Drivers = driver.Detect(ctx, o.Roots, driver.Host{
		CgroupV2:    layout.Mode == cgroupfs.Unified,
		SystemdPID1: sd.PID1,
		MemoryDir:   layout.MemoryDir,
	})
	r.Findings = findings(r, sd)
	return r
}

func cgroupReport(l cgroupfs.Layout, err error) Cgroup {
	c := Cgroup{Mode: string(l.Mode), Root: l.Root, MemoryDir: l.MemoryDir, UnifiedDir: l.UnifiedDir, Evidence: l.Evidence}
	if err != nil {
		c.Mode, c.Error = "unknown", err.Error()
		c.Memory = no("cgroup hierarchy not found: %v", err)
		return c
	}
	if c.Evidence == nil {
		c.Evidence = []string{}
	}
	rd := cgroupfs.NewReader(l)
	switch {
	case l.MemoryDir == "":
		c.Memory = no("the v1 memory controller is not mounted at %s/memory", l.Root)
	case l.Mode == cgroupfs.Unified:
		ctrl, err := rd.Controllers("", "cgroup.controllers")
		switch {
		case err != nil:
			c.Memory = no("read %s/cgroup.controllers: %v", l.Root, err)
		case !slices.Contains(ctrl, "memory"):
			c.Memory = no("memory is not in %s/cgroup.controllers (%s): booted with cgroup_disable=memory?", l.Root, strings.Join(ctrl, " "))
		default:
			c.Memory = yes("v2 controller in %s", l.Root)
		}
		c.Delegation = delegation(rd)
	default:
		c.Memory = yes("v1 controller at %s", l.MemoryDir)
	}
	return c
}

// delegation checks the root and each top-level cgroup that has children.
func delegation(rd *cgroupfs.Reader) []Delegation {
	var out []Delegation
	check := func(cg string) {
		ctrl, err := rd.Controllers(cg, "cgroup.subtree_control")
		if err != nil {
			return
		}
		name := cg
		if name == "" {
			name = "/"
		}
		out = append(out, Delegation{Cgroup: name, MemoryEnabled: slices.Contains(ctrl, "memory")})
	}
	check("")
	top, _ := rd.Children("")
	for _, t := range top {
		if kids, err := rd.Children(t); err == nil && len(kids) > 0 {
			check(t)
		}
	}
	return out
}

func kernelReport(o Options, l cgroupfs.Layout, haveLayout bool) Kernel {
	var k Kernel
	release, err := procinfo.KernelRelease(o.Roots.Proc)
	if err != nil {
		k.Release = "unknown"
	} else {
		k.Release = release
	}
	nodePSI := filepath.Join(o.Roots.Proc, "pressure", "memory")
	if data, err := os.ReadFile(nodePSI); err != nil {
		k.NodePSI = no("%s: %v (kernel < 4.20, or booted with psi=0)", nodePSI, errors.Unwrap(err))
	} else if _, err := psi.Parse(data); err != nil {
		k.NodePSI = no("%s: %v", nodePSI, err)
	} else {
		k.NodePSI = yes("%s", nodePSI)
	}

	cgPSI := ""
	switch {
	case !haveLayout:
		k.CgroupPSI = no("no cgroup hierarchy")
	case l.UnifiedDir == "":
		k.CgroupPSI = no("legacy hierarchy: no v2 tree, so no memory.pressure per cgroup (node PSI and memory.pressure_level remain)")
	default:
		cgPSI = filepath.Join(l.UnifiedDir, "memory.pressure")
		if _, err := os.Stat(cgPSI); err != nil {
			k.CgroupPSI = no("%s is missing: kernel without per-cgroup PSI", cgPSI)
			cgPSI = ""
		} else {
			k.CgroupPSI = yes("memory.pressure in the v2 tree at %s", l.UnifiedDir)
		}
	}

	switch {
	case !k.NodePSI.Available:
		k.PSITriggers = no("no PSI")
	case !o.Live:
		k.PSITriggers = no("not probed: needs the live kernel (fixture root)")
	default:
		k.PSITriggers = probeTriggers(nodePSI, cgPSI)
	}

	k.MemoryReclaim, k.ReclaimSwappiness = reclaimReport(o, l, haveLayout, release)
	return k
}

func probeTriggers(nodePSI, cgPSI string) Feature {
	if err := psi.Probe(nodePSI); err != nil {
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
			return no("%v: kernels before 6.4 need CAP_SYS_RESOURCE; memrelief falls back to polling", err)
		}
		return no("%v: memrelief falls back to polling", err)
	}
	where := nodePSI
	if cgPSI != "" {
		if err := psi.Probe(cgPSI); err != nil {
			return yes("on %s; not on cgroups (%v): cgroups are polled", nodePSI, err)
		}
		where += " and " + cgPSI
	}
	return yes("registered and removed a trigger on %s", where)
}

func reclaimReport(o Options, l cgroupfs.Layout, haveLayout bool, release string) (reclaim, swappiness Feature) {
	if !haveLayout {
		return no("no cgroup hierarchy"), no("no memory.reclaim")
	}
	if l.Mode != cgroupfs.Unified {
		reason := "cgroup v1 has no memory.reclaim; remediation is limited to vm.vfs_cache_pressure and (opt-in) drop_caches"
		return no("%s", reason), no("no memory.reclaim")
	}
	file := filepath.Join(l.MemoryDir, "memory.reclaim")
	if _, err := os.Stat(file); err != nil {
		return no("%s is missing: kernel %s is older than 5.19", file, release), no("no memory.reclaim")
	}
	reclaim = yes("%s", file)
	if !o.Live {
		return reclaim, no("not probed: needs the live kernel (fixture root)")
	}
	// Asking for 0 bytes reclaims nothing, but the kernel parses the
	// arguments first: kernels without swappiness= reject the request with
	// EINVAL, newer ones accept it.
	err := os.WriteFile(file, []byte("0 swappiness=0"), 0)
	switch {
	case err == nil:
		swappiness = yes("a zero-byte request with swappiness=0 was accepted by %s", file)
	case errors.Is(err, unix.EINVAL):
		swappiness = no("kernel %s rejects swappiness= (EINVAL); reclaim requests go without it", release)
	default:
		swappiness = no("probe write to %s failed: %v", file, err)
	}
	return reclaim, swappiness
}
