package detect

import (
	"fmt"
	"strings"

	"github.com/memrelief/memrelief/internal/driver"
	"github.com/memrelief/memrelief/internal/systemd"
)

// Finding codes of this package; driver.Disagreements adds its own.
const (
	CodeNoMemoryController  = "no-memory-controller"
	CodeMemoryNotDelegated  = "memory-not-delegated"
	CodeCgroupV1            = "cgroup-v1-end-of-life"
	CodeNoPSI               = "no-psi"
	CodeNoReclaim           = "no-memory-reclaim"
	CodeNoSystemd           = "no-systemd"
	CodeKubeletOnV1Deadline = "kubelet-on-cgroup-v1"
)

// systemd refuses to boot on cgroup v1 from this version on, by default.
const systemdDropsV1 = 256

func findings(r Report, sd systemd.Facts) []driver.Finding {
	var out []driver.Finding
	add := func(sev, code, format string, a ...any) {
		out = append(out, driver.Finding{Severity: sev, Code: code, Message: fmt.Sprintf(format, a...)})
	}
	if r.Cgroup.Mode != "unknown" && !r.Cgroup.Memory.Available {
		add(driver.SeverityCritical, CodeNoMemoryController, "no memory controller: %s; memrelief can watch the node only", r.Cgroup.Memory.Detail)
	}
	var notDelegated []string
	for _, d := range r.Cgroup.Delegation {
		if !d.MemoryEnabled {
			notDelegated = append(notDelegated, d.Cgroup)
		}
	}
	if len(notDelegated) > 0 {
		add(driver.SeverityWarning, CodeMemoryNotDelegated, "memory is not in cgroup.subtree_control of %s: their children have no memory.* files to watch", strings.Join(notDelegated, ", "))
	}
	if r.Cgroup.Mode == "hybrid" || r.Cgroup.Mode == "legacy" {
		sev := driver.SeverityInfo
		msg := fmt.Sprintf("cgroup %s mode: systemd >= %d refuses cgroup v1 by default and kubelet >= 1.35 fails on it; plan the move to the unified hierarchy", r.Cgroup.Mode, systemdDropsV1)
		if v := sd.MajorVersion(); v >= systemdDropsV1 {
			sev = driver.SeverityWarning
			msg = fmt.Sprintf("cgroup %s mode under systemd %d, which refuses cgroup v1 unless forced: the next boot may fail", r.Cgroup.Mode, v)
		}
		add(sev, CodeCgroupV1, "%s", msg)
		for _, c := range r.Drivers {
			if c.Name == driver.NameKubelet && c.Installed {
				add(driver.SeverityWarning, CodeKubeletOnV1Deadline, "kubelet runs on cgroup %s: kubelet >= 1.35 refuses cgroup v1 by default (failCgroupV1)", r.Cgroup.Mode)
			}
		}
	}
	if !r.Kernel.NodePSI.Available {
		add(driver.SeverityWarning, CodeNoPSI, "no PSI (%s): pressure conditions never fire; slab and usage conditions still work", r.Kernel.NodePSI.Detail)
	}
	if r.Cgroup.Mode == "unified" && !r.Kernel.MemoryReclaim.Available {
		add(driver.SeverityWarning, CodeNoReclaim, "%s: reclaim actions are unavailable", r.Kernel.MemoryReclaim.Detail)
	}
	if !sd.PID1 {
		comm := sd.PID1Comm
		if comm == "" {
			comm = "unknown"
		}
		add(driver.SeverityInfo, CodeNoSystemd, "PID 1 is %s, not systemd: unit-property actions and unit discovery are unavailable; memrelief works on cgroup paths", comm)
	}
	out = append(out, driver.Disagreements(r.Drivers, driver.Host{
		CgroupV2:    r.Cgroup.Mode == "unified",
		SystemdPID1: sd.PID1,
		MemoryDir:   r.Cgroup.MemoryDir,
	})...)
	if out == nil {
		out = []driver.Finding{}
	}
	return out
}
