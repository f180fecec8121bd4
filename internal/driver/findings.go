package driver

import (
	"fmt"
	"strings"
)

// Severity of a Finding.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Finding codes; stable, for scripts and alerting.
const (
	CodeConfigError            = "driver-detection-error"
	CodeTreeBothDrivers        = "kubepods-both-drivers"
	CodeKubeletRuntimeMismatch = "kubelet-runtime-driver-mismatch"
	CodeDiffersFromTree        = "driver-differs-from-tree"
	CodeCgroupfsOnSystemd      = "cgroupfs-driver-on-systemd-host"
)

// Finding is one problem worth an operator's attention.
type Finding struct {
	Severity string `json:"severity"` // SeverityInfo, SeverityWarning or SeverityCritical
	Code     string `json:"code"`     // one of the Code* constants
	Message  string `json:"message"`  // one line
}

// Disagreements compares the components of one Detect call and returns the
// findings, in a stable order (an empty slice when all is well):
//   - a component whose configuration could not be read (warning);
//   - kubepods.slice and kubepods side by side (warning);
//   - the kubelet and the runtime it talks to set different drivers
//     (warning: kubelets before 1.31 refuse to run pods; newer ones take the
//     driver from a runtime that reports it, containerd >= 2.0 or a recent
//     CRI-O, and ignore their own setting);
//   - the kubelet or its runtime set a driver other than the one the pod
//     cgroups show (warning: changed since the pods started, or not the
//     configuration in use);
//   - a cgroupfs driver on a host whose PID 1 is systemd, so two managers
//     write one tree (warning).
//
// The kubelet's runtime is taken from its runtime endpoint; with none
// named, containerd (the kubelet's default endpoint) when installed.
func Disagreements(cs []Component, host Host) []Finding {
	out := []Finding{}
	by := map[string]Component{}
	for _, c := range cs {
		by[c.Name] = c
	}
	for _, c := range cs {
		if c.Err != nil {
			out = append(out, Finding{SeverityWarning, CodeConfigError,
				fmt.Sprintf("%s: %s", c.Name, oneLine(c.Err.Error()))})
		}
	}
	tree := by[NameTree]
	if tree.Driver == Both {
		out = append(out, Finding{SeverityWarning, CodeTreeBothDrivers,
			tree.Evidence + ": pods were started under two drivers (driver changed without draining the node?); stale cgroups of the old driver may remain"})
	}

	kubelet := by[NameKubelet]
	runtime, ok := kubeletRuntime(kubelet, by)
	if kubelet.Installed && kubelet.Driver != Unknown && ok && runtime.Driver != Unknown && runtime.Driver != kubelet.Driver {
		out = append(out, Finding{SeverityWarning, CodeKubeletRuntimeMismatch,
			fmt.Sprintf("kubelet uses %s (%s) but %s uses %s (%s): kubelets before 1.31 fail to run pods; newer ones follow a runtime that reports its driver",
				kubelet.Driver, kubelet.Evidence, runtime.Name, runtime.Driver, runtime.Evidence)})
	}
	if tree.Driver == Systemd || tree.Driver == Cgroupfs {
		for _, c := range []Component{kubelet, runtime} {
			if c.Name == "" || !c.Installed || c.Driver == Unknown || c.Driver == tree.Driver {
				continue
			}
			out = append(out, Finding{SeverityWarning, CodeDiffersFromTree,
				fmt.Sprintf("%s is set to %s (%s) but the pod cgroups show %s (%s): the setting changed since the pods started, or it is not the configuration in use",
					c.Name, c.Driver, c.Evidence, tree.Driver, tree.Evidence)})
		}
	}
	if host.SystemdPID1 {
		var who []string
		for _, c := range cs {
			if !c.Installed {
				continue
			}
			if c.Driver == Cgroupfs || (c.Name == NameTree && c.Driver == Both) {
				who = append(who, c.Name)
			}
		}
		if len(who) > 0 {
			out = append(out, Finding{SeverityWarning, CodeCgroupfsOnSystemd,
				fmt.Sprintf("cgroupfs driver on a host whose PID 1 is systemd (%s): two managers write one cgroup tree; the systemd driver is recommended",
					strings.Join(who, ", "))})
		}
	}
	return out
}

// kubeletRuntime picks the installed runtime the kubelet talks to.
func kubeletRuntime(kubelet Component, by map[string]Component) (Component, bool) {
	ep := kubelet.RuntimeEndpoint
	var name string
	switch {
	case strings.Contains(ep, "containerd"):
		name = NameContainerd
	case strings.Contains(ep, "crio"):
		name = NameCRIO
	case strings.Contains(ep, "cri-dockerd"), strings.Contains(ep, "dockershim"):
		name = NameDocker
	case ep == "":
		name = NameContainerd
	default:
		return Component{}, false
	}
	c, ok := by[name]
	if !ok || !c.Installed {
		return Component{}, false
	}
	return c, true
}

// oneLine folds a joined multi-line error into one line.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }
