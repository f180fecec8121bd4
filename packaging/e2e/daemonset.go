package e2e

import (
	"errors"
	"fmt"
	"path"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// CtrRun is how the guest starts memrelief's DaemonSet pod with containerd
// alone (no kubelet): `ctr run` with the pod's security context, host
// namespaces, mounts, environment, memory limit and arguments, translated
// from packaging/kubernetes/daemonset.yaml, so the scenario runs exactly
// what the manifest asks for.
type CtrRun struct {
	// Flags go between `ctr run` and the image; Command after the
	// container's name (the image's entrypoint and the manifest's args).
	Flags, Command []string
	// Mkdirs are the hostPath directories of type DirectoryOrCreate, which
	// the kubelet would create.
	Mkdirs []string
	// Files are configMap volumes' contents, by path in the guest; the
	// scenario lays each volume out as the kubelet does (..data swap).
	Files map[string]string
	// ConfigMapDirs are the guest directories holding configMap volumes.
	ConfigMapDirs []string
}

// ConfigMapRoot is where the guest keeps the configMap volumes.
const ConfigMapRoot = "/run/e2e/ds"

// TranslateDaemonSet turns the DaemonSet's one container into a ctr run;
// entrypoint is the image's. A field it cannot carry over is an error,
// so a manifest change cannot quietly leave the scenario behind.
func TranslateDaemonSet(ds *appsv1.DaemonSet, cms map[string]*corev1.ConfigMap, entrypoint []string) (*CtrRun, error) {
	pod := ds.Spec.Template.Spec
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		return nil, fmt.Errorf("want one container and no init containers, have %d and %d", len(pod.Containers), len(pod.InitContainers))
	}
	if pod.HostNetwork || pod.HostIPC {
		return nil, errors.New("hostNetwork or hostIPC: not translated")
	}
	c := pod.Containers[0]
	r := &CtrRun{Files: map[string]string{}}
	if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
		r.Flags = append(r.Flags, "--privileged")
	}
	if pod.HostPID {
		r.Flags = append(r.Flags, "--with-ns", "pid:/proc/1/ns/pid")
	}
	if lim, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.Flags = append(r.Flags, "--memory-limit", fmt.Sprint(lim.Value()))
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			return nil, fmt.Errorf("env %s: valueFrom not translated", e.Name)
		}
		r.Flags = append(r.Flags, "--env", e.Name+"="+e.Value)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			return nil, fmt.Errorf("mount %s: no volume %q", m.MountPath, m.Name)
		}
		if m.SubPath != "" || m.MountPropagation != nil {
			return nil, fmt.Errorf("mount %s: subPath or mountPropagation not translated", m.MountPath)
		}
		var src string
		switch {
		case v.HostPath != nil:
			src = v.HostPath.Path
			t := corev1.HostPathUnset
			if v.HostPath.Type != nil {
				t = *v.HostPath.Type
			}
			switch t {
			case corev1.HostPathDirectoryOrCreate:
				r.Mkdirs = append(r.Mkdirs, src)
			case corev1.HostPathDirectory, corev1.HostPathSocket, corev1.HostPathFile, corev1.HostPathUnset:
			default:
				return nil, fmt.Errorf("volume %s: hostPath type %s not translated", v.Name, t)
			}
		case v.ConfigMap != nil:
			cm, ok := cms[v.ConfigMap.Name]
			if !ok {
				return nil, fmt.Errorf("volume %s: no ConfigMap %q", v.Name, v.ConfigMap.Name)
			}
			src = path.Join(ConfigMapRoot, v.Name)
			r.ConfigMapDirs = append(r.ConfigMapDirs, src)
			for k, data := range cm.Data {
				r.Files[path.Join(src, k)] = data
			}
		default:
			return nil, fmt.Errorf("volume %s: only hostPath and configMap volumes are translated", v.Name)
		}
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		r.Flags = append(r.Flags, "--mount", fmt.Sprintf("type=bind,src=%s,dst=%s,options=rbind:%s", src, m.MountPath, mode))
	}
	if len(c.Command) > 0 {
		entrypoint = c.Command
	}
	r.Command = append(append([]string(nil), entrypoint...), c.Args...)
	for _, w := range append(append([]string(nil), r.Flags...), r.Command...) {
		if w == "" || strings.ContainsAny(w, " \t\n'\"$`\\") {
			return nil, fmt.Errorf("word %q: the scenario splits words on blanks", w)
		}
	}
	return r, nil
}
