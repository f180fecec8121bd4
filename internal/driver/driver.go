// Package driver finds out which cgroup driver (systemd or cgroupfs) each
// Kubernetes node component on the host uses, and which driver the cgroup tree
// itself shows, with the evidence behind every answer.
//
// It reads only files: the process table (to find running daemons and the
// configuration files named on their command lines), the kubelet's
// KubeletConfiguration, containerd's config.toml (1.x and 2.x layouts),
// CRI-O's crio.conf and drop-ins, Docker's daemon.json, and the top of the
// cgroup hierarchy. It never talks to a daemon. Every root comes from a
// paths.Roots, so the same code runs on fixture trees and on the host.
//
// A missing component is not an error: its Component says Installed=false and
// why. A malformed configuration is not fatal either: its Component carries the
// error (naming file, line and key) in Err and whatever could still be told.
package driver

import (
	"context"
	"encoding/json"

	"github.com/memrelief/memrelief/internal/paths"
)

// Driver is a cgroup driver name as the components spell it.
type Driver string

// The drivers. Both appears only in the result of DetectTree.
const (
	Unknown  Driver = ""
	Systemd  Driver = "systemd"
	Cgroupfs Driver = "cgroupfs"
	// Both: the tree holds kubepods.slice and kubepods side by side, so pods
	// were started under both drivers at some point.
	Both Driver = "both"
)

// Component names, as they appear in Component.Name.
const (
	NameKubelet    = "kubelet"
	NameContainerd = "containerd"
	NameCRIO       = "crio"
	NameDocker     = "docker"
	NameTree       = "cgroup-tree"
)

// Component is what is known about one component's cgroup driver.
type Component struct {
	// Name is one of the Name* constants.
	Name string `json:"name"`
	// Installed says whether the component is present on the host (running,
	// configured, or its binary exists); for the tree, whether any
	// Kubernetes pod cgroups exist.
	Installed bool `json:"installed"`
	// Why says what Installed rests on, e.g. "running as pid 812" or "no
	// process in /proc, no /etc/containerd/config.toml, no binary in /usr/bin
	// or /usr/local/bin".
	Why string `json:"why"`
	// PID of the running daemon, 0 when none was found.
	PID int `json:"pid,omitempty"`
	// Driver the component uses; Unknown when it cannot be told (not
	// installed, installed but not configured and not running, or the
	// configuration that decides it is unreadable).
	Driver Driver `json:"driver"`
	// Defaulted is true when Driver is the component's built-in default
	// because nothing sets it.
	Defaulted bool `json:"defaulted"`
	// Source is the host path of the file (or "pid N cmdline") that decided
	// Driver, empty when Driver is a default with no file at all, and for
	// the tree (its Evidence names the directory inspected).
	Source string `json:"source,omitempty"`
	// Evidence is one line a person can check, e.g.
	// "SystemdCgroup = true in /etc/containerd/config.toml line 42".
	Evidence string `json:"evidence"`
	// RuntimeEndpoint is the CRI socket the kubelet talks to, when its
	// configuration or command line names one (kubelet only).
	RuntimeEndpoint string `json:"runtime_endpoint,omitempty"`
	// Err is a problem met on the way: a malformed configuration, an
	// unreadable file, a path that cannot be resolved under the roots. It is
	// reported, never fatal; Driver may still be known from other sources.
	Err error `json:"-"`
}

// MarshalJSON adds Err as "error" (a string, omitted when nil), since an
// error value has no JSON form of its own.
func (c Component) MarshalJSON() ([]byte, error) {
	type plain Component
	v := struct {
		plain
		Error string `json:"error,omitempty"`
	}{plain: plain(c)}
	if c.Err != nil {
		v.Error = c.Err.Error()
	}
	return json.Marshal(v)
}

// Host carries the facts about the host that change what the components do by
// default. The caller has them from its own detection.
type Host struct {
	// CgroupV2 is true on a unified (v2-only) hierarchy. Docker defaults to
	// the systemd driver there when systemd is the init system.
	CgroupV2 bool
	// SystemdPID1 is true when systemd is PID 1 (the host was booted with
	// systemd).
	SystemdPID1 bool
	// MemoryDir is the directory of the hierarchy the memory controller lives
	// in: Roots.Cgroup on v2, Roots.Cgroup/memory on v1 and hybrid. Empty
	// skips the tree check.
	MemoryDir string
}

// Detect runs every detector and returns their results in a fixed order:
// kubelet, containerd, crio, docker, cgroup-tree. It always returns five
// components; problems are inside them. A cancelled ctx stops the process
// scan early, and the components then say the process table was not read.
func Detect(ctx context.Context, roots paths.Roots, host Host) []Component {
	procs := scanProcesses(ctx, roots.Proc)
	out := []Component{
		detectKubelet(roots, procs),
		detectContainerd(roots, procs),
		detectCRIO(roots, procs),
		detectDocker(roots, procs, host),
	}
	if host.MemoryDir != "" {
		out = append(out, DetectTree(host.MemoryDir))
	} else {
		out = append(out, Component{Name: NameTree, Why: "no memory hierarchy given"})
	}
	return out
}
