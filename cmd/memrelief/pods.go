package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/inspect"
	"github.com/memrelief/memrelief/internal/kube"
	"github.com/memrelief/memrelief/internal/paths"
)

// podResolver returns the host's offline pod index, read from the kubelet's
// log directories under roots.Log, as explain's PodResolver. It is never
// nil: when the index cannot be read, the resolver names no pods and a pod
// target fails with the reason.
func podResolver(roots paths.Roots) inspect.PodResolver {
	ix, err := kube.LoadIndex(roots)
	return &pods{ix: ix, err: err, logDir: roots.Log}
}

// pods adapts a kube.Index to inspect.PodResolver.
type pods struct {
	ix     *kube.Index
	err    error // why the index could not be loaded; ix is nil then
	logDir string
}

var _ inspect.PodResolver = (*pods)(nil)

// podSearchDepth reaches pod cgroups: kubepods/<qos>/pod (cgroupfs),
// kubepods.slice/kubepods-<qos>.slice/...pod.slice (systemd), and one more
// level for a kubelet --cgroup-root.
const podSearchDepth = 4

// CgroupOfPod finds the cgroup of pod namespace/name by walking the top of
// the memory hierarchy and parsing each path, which works under both drivers
// and every QoS class. A name can have several UIDs in the logs (a pod
// deleted and recreated); the one whose cgroup exists is the live one.
func (p *pods) CgroupOfPod(rd *cgroupfs.Reader, namespace, name string) (string, error) {
	if p.err != nil {
		return "", fmt.Errorf("pod index: %w", p.err)
	}
	cands := p.ix.ByName(namespace, name)
	if len(cands) == 0 {
		return "", fmt.Errorf("no pod %s/%s in %s", namespace, name, filepath.Join(p.logDir, "pods"))
	}
	want := map[string]bool{}
	var uids []string
	for _, c := range cands {
		want[c.UID] = true
		uids = append(uids, c.UID)
	}
	all, err := rd.Walk("", podSearchDepth)
	if err != nil && !errors.Is(err, cgroupfs.ErrGone) {
		return "", fmt.Errorf("look for the cgroup of pod %s/%s: %w", namespace, name, err)
	}
	var found []string
	for _, cg := range all {
		ref, err := kube.ParsePath(cg)
		if err == nil && ref.ContainerID == "" && want[ref.PodUID] {
			found = append(found, cg)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("pod %s/%s (uid %s) has logs but no cgroup on this node: it has ended", namespace, name, strings.Join(uids, ", "))
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("pod %s/%s has several cgroups (%s): name one by path", namespace, name, strings.Join(found, ", "))
}

// PodOf names the pod a cgroup path belongs to, and the container when the
// path is one. It returns nil for paths outside Kubernetes and for pods the
// logs do not name. A path below a pod that is no container cgroup (an
// odd name) still names the pod.
func (p *pods) PodOf(cg string) *inspect.Pod {
	if p.ix == nil {
		return nil
	}
	ref, _ := kube.ParsePath(cg)
	if ref.PodUID == "" {
		return nil
	}
	pod, container, ok := p.ix.Identify(ref)
	if !ok {
		return nil
	}
	if container != "" && ref.Conmon {
		container += " (conmon)"
	}
	return &inspect.Pod{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, QoS: string(ref.QoS), Container: container}
}
