// Package kube names Kubernetes pods and containers offline, without an API
// server: it parses the cgroup paths the kubelet and the container runtimes
// create (under either cgroup driver) into QoS class, pod UID, container ID
// and runtime, and it resolves pod UIDs and container IDs to namespaces, pod
// names and container names from the kubelet's log directories
// (/var/log/pods and /var/log/containers), which exist on every node
// whatever the runtime.
package kube

import (
	"errors"
	"fmt"
	"strings"

	"github.com/memrelief/memrelief/internal/driver"
)

// QoS is a pod's quality-of-service class, as the kubelet spells its cgroups.
type QoS string

// The QoS classes. Guaranteed pods have no QoS level of their own: their
// cgroups sit directly under kubepods.
const (
	Guaranteed QoS = "guaranteed"
	Burstable  QoS = "burstable"
	BestEffort QoS = "besteffort"
)

// Runtimes, as told by a container cgroup's name.
const (
	RuntimeContainerd = "containerd"
	RuntimeCRIO       = "crio"
	RuntimeDocker     = "docker"
)

// Ref is what a cgroup path says about the pod and container it belongs to.
// Fields below the level the path reaches are empty: the path of kubepods
// itself has only Driver, a QoS level adds QoS, a pod adds PodUID, a
// container adds ContainerID.
type Ref struct {
	// Driver is driver.Systemd or driver.Cgroupfs, from the naming scheme.
	Driver driver.Driver `json:"driver"`
	// QoS class; Guaranteed for pods directly under kubepods.
	QoS QoS `json:"qos,omitempty"`
	// PodUID in its API form, with dashes (the systemd driver escapes them
	// as underscores in unit names).
	PodUID string `json:"pod_uid,omitempty"`
	// ContainerID is the runtime's container ID (hex).
	ContainerID string `json:"container_id,omitempty"`
	// Runtime is RuntimeContainerd, RuntimeCRIO or RuntimeDocker when the
	// name tells; under cgroupfs containerd and Docker name container
	// cgroups by bare ID, so it is "" there.
	Runtime string `json:"runtime,omitempty"`
	// Conmon is true for CRI-O's conmon cgroup (crio-conmon-<id>), which
	// holds the container's monitor process, not the container.
	Conmon bool `json:"conmon,omitempty"`
}

// ErrNotKubernetes is returned by ParsePath for a path with no kubepods
// component: not a pod cgroup at all, as opposed to a malformed one.
var ErrNotKubernetes = errors.New("not a Kubernetes pod cgroup")

// maxIDLen bounds pod UIDs and container IDs; real ones are 32 to 64
// characters.
const maxIDLen = 128

// ParsePath parses a cgroup path relative to (or including) the hierarchy
// root, such as
//
//	/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e_2d.slice/cri-containerd-ab12.scope
//	/kubepods/besteffort/pod0f1e-2d/ab12
//
// The kubepods component may sit below other components (a v1 controller
// directory such as memory/, or a kubelet --cgroup-root: the systemd driver
// then names it <root>-kubepods.slice). Components below the container (a
// runtime's own sub-cgroups) are ignored. It returns ErrNotKubernetes when
// no component is kubepods, and an error naming the component for any name
// the kubelet and runtimes do not create. It never panics.
func ParsePath(p string) (Ref, error) {
	var parts []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			parts = append(parts, c)
		}
	}
	for i, c := range parts {
		switch {
		case c == "kubepods":
			return parseCgroupfs(parts[i+1:])
		case c == "kubepods.slice" || strings.HasSuffix(c, "-kubepods.slice"):
			return parseSystemd(strings.TrimSuffix(c, ".slice"), parts[i+1:])
		}
	}
	return Ref{}, fmt.Errorf("parse %q: %w", p, ErrNotKubernetes)
}

// parseSystemd parses what follows <prefix>.slice under the systemd driver.
func parseSystemd(prefix string, rest []string) (Ref, error) {
	r := Ref{Driver: driver.Systemd}
	if len(rest) == 0 {
		return r, nil
	}
	name, ok := strings.CutSuffix(rest[0], ".slice")
	if !ok {
		return r, fmt.Errorf("component %q under %s.slice: not a slice", rest[0], prefix)
	}
	podPrefix := prefix + "-"
	switch name {
	case prefix + "-burstable":
		r.QoS, podPrefix = Burstable, name+"-"
		rest = rest[1:]
	case prefix + "-besteffort":
		r.QoS, podPrefix = BestEffort, name+"-"
		rest = rest[1:]
	default:
		r.QoS = Guaranteed
	}
	if len(rest) == 0 {
		return r, nil
	}
	name, ok = strings.CutSuffix(rest[0], ".slice")
	if !ok {
		return r, fmt.Errorf("component %q: not a pod slice", rest[0])
	}
	escaped, ok := strings.CutPrefix(name, podPrefix+"pod")
	if !ok {
		return r, fmt.Errorf("component %q: not %spod<uid>.slice", rest[0], podPrefix)
	}
	if strings.Contains(escaped, "-") {
		return r, fmt.Errorf("component %q: pod UID %q has a dash, which the systemd driver escapes", rest[0], escaped)
	}
	uid := strings.ReplaceAll(escaped, "_", "-")
	if err := checkUID(uid); err != nil {
		return r, fmt.Errorf("component %q: %w", rest[0], err)
	}
	r.PodUID = uid
	if len(rest) == 1 {
		return r, nil
	}
	scope, ok := strings.CutSuffix(rest[1], ".scope")
	if !ok {
		return r, fmt.Errorf("component %q: not a container scope", rest[1])
	}
	for _, k := range []struct {
		prefix, runtime string
		conmon          bool
	}{
		{"cri-containerd-", RuntimeContainerd, false},
		{"crio-conmon-", RuntimeCRIO, true},
		{"crio-", RuntimeCRIO, false},
		{"docker-", RuntimeDocker, false},
	} {
		if id, ok := strings.CutPrefix(scope, k.prefix); ok {
			if err := checkContainerID(id); err != nil {
				return r, fmt.Errorf("component %q: %w", rest[1], err)
			}
			r.ContainerID, r.Runtime, r.Conmon = id, k.runtime, k.conmon
			return r, nil
		}
	}
	return r, fmt.Errorf("component %q: not cri-containerd-, crio-, crio-conmon- or docker-<id>.scope", rest[1])
}

// parseCgroupfs parses what follows kubepods under the cgroupfs driver.
func parseCgroupfs(rest []string) (Ref, error) {
	r := Ref{Driver: driver.Cgroupfs}
	if len(rest) == 0 {
		return r, nil
	}
	switch rest[0] {
	case "burstable":
		r.QoS, rest = Burstable, rest[1:]
	case "besteffort":
		r.QoS, rest = BestEffort, rest[1:]
	default:
		r.QoS = Guaranteed
	}
	if len(rest) == 0 {
		return r, nil
	}
	uid, ok := strings.CutPrefix(rest[0], "pod")
	if !ok {
		return r, fmt.Errorf("component %q: not pod<uid>", rest[0])
	}
	if err := checkUID(uid); err != nil {
		return r, fmt.Errorf("component %q: %w", rest[0], err)
	}
	r.PodUID = uid
	if len(rest) == 1 {
		return r, nil
	}
	id := rest[1]
	switch {
	case strings.HasPrefix(id, "crio-conmon-"):
		id, r.Runtime, r.Conmon = strings.TrimPrefix(id, "crio-conmon-"), RuntimeCRIO, true
	case strings.HasPrefix(id, "crio-"):
		id, r.Runtime = strings.TrimPrefix(id, "crio-"), RuntimeCRIO
	}
	if err := checkContainerID(id); err != nil {
		return r, fmt.Errorf("component %q: %w", rest[1], err)
	}
	r.ContainerID = id
	return r, nil
}

// checkUID accepts what pod UIDs look like: RFC 4122 UUIDs for API pods and
// 32 hex digits for static pods (a hash of the manifest), so letters, digits
// and dashes.
func checkUID(uid string) error {
	if uid == "" || len(uid) > maxIDLen {
		return fmt.Errorf("pod UID %q: empty or longer than %d", uid, maxIDLen)
	}
	for _, c := range uid {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
			return fmt.Errorf("pod UID %q: character %q", uid, c)
		}
	}
	return nil
}

// checkContainerID accepts lowercase hex, which is what containerd, CRI-O
// and Docker use (64 digits).
func checkContainerID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("container ID %q: empty or longer than %d", id, maxIDLen)
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("container ID %q: not lowercase hex", id)
		}
	}
	return nil
}
