package kubernetes

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/memrelief/memrelief/configs"
)

// decode reads one manifest strictly.
func decode(t *testing.T, file string, into any) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "\n---") {
		t.Fatalf("%s: one object per file", file)
	}
	if err := DecodeStrict(data, into); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func TestStrictDecodingRefusesUnknownFields(t *testing.T) {
	for _, bad := range []string{
		"apiVersion: apps/v1\nkind: DaemonSet\nspec:\n  template:\n    spec:\n      hostPid: true\n",
		"apiVersion: apps/v1\nkind: DaemonSet\nspec:\n  template:\n    spec:\n      hostPIDs: true\n",
	} {
		var ds appsv1.DaemonSet
		if err := DecodeStrict([]byte(bad), &ds); err == nil || !strings.Contains(err.Error(), "unknown field \"spec.template.spec.host") {
			t.Errorf("a misspelt field decoded (%v):\n%s", err, bad)
		}
	}
}

func TestNamespace(t *testing.T) {
	var ns corev1.Namespace
	decode(t, "namespace.yaml", &ns)
	if ns.APIVersion != "v1" || ns.Kind != "Namespace" || ns.Name != "memrelief" {
		t.Errorf("namespace.yaml: %s %s %s", ns.APIVersion, ns.Kind, ns.Name)
	}
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "privileged" {
		t.Errorf("namespace.yaml: the DaemonSet's pods are privileged; Pod Security admission must allow them")
	}
}

func TestConfigMapIsTheDefaultPolicy(t *testing.T) {
	var cm corev1.ConfigMap
	decode(t, "configmap.yaml", &cm)
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Name != "memrelief-policy" || cm.Namespace != "memrelief" {
		t.Errorf("configmap.yaml: %s %s %s/%s", cm.APIVersion, cm.Kind, cm.Namespace, cm.Name)
	}
	if got := cm.Data["policy.toml"]; got != string(configs.Default()) {
		t.Errorf("configmap.yaml's policy.toml differs from configs/default.toml: make packaging/kubernetes/configmap.yaml")
	}
}

// unitSetting reads one setting of the packaged unit, the figures the
// DaemonSet must agree with.
func unitSetting(t *testing.T, key string) string {
	t.Helper()
	data, err := os.ReadFile("../../systemd/memrelief.service")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?m)^" + key + "=(.*)$").FindStringSubmatch(string(data))
	if m == nil {
		t.Fatalf("memrelief.service has no %s=", key)
	}
	return m[1]
}

func TestDaemonSet(t *testing.T) {
	var ds appsv1.DaemonSet
	decode(t, "daemonset.yaml", &ds)
	if ds.APIVersion != "apps/v1" || ds.Kind != "DaemonSet" || ds.Namespace != "memrelief" {
		t.Fatalf("daemonset.yaml: %s %s in %q", ds.APIVersion, ds.Kind, ds.Namespace)
	}
	sel := ds.Spec.Selector
	if sel == nil || sel.MatchLabels["app.kubernetes.io/name"] != ds.Spec.Template.Labels["app.kubernetes.io/name"] || sel.MatchLabels["app.kubernetes.io/name"] == "" {
		t.Errorf("selector %v does not select the template's labels %v", sel, ds.Spec.Template.Labels)
	}
	pod := ds.Spec.Template.Spec
	if !pod.HostPID {
		t.Error("hostPID: explain's process list and systemd's view of the D-Bus peer need the host's PIDs")
	}
	if pod.PriorityClassName != "system-node-critical" {
		t.Errorf("priorityClassName %q", pod.PriorityClassName)
	}
	if !slices.ContainsFunc(pod.Tolerations, func(tl corev1.Toleration) bool { return tl.Operator == corev1.TolerationOpExists && tl.Key == "" }) {
		t.Errorf("tolerations %v: want one that tolerates every taint", pod.Tolerations)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("memrelief never talks to the API server: no service account token")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if strings.Contains(strings.SplitN(c.Image, "/", 2)[0], ".") {
		t.Errorf("image %q names a registry host; the image is loaded onto nodes, fleets retag it", c.Image)
	}
	if c.SecurityContext == nil || c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged {
		t.Error("memory.reclaim and vm.vfs_cache_pressure are read-only in an unprivileged container")
	}
	// Limits as the unit's: the same daemon, the same bounds.
	max := resource.MustParse(strings.Replace(unitSetting(t, "MemoryMax"), "M", "Mi", 1))
	if got := c.Resources.Limits[corev1.ResourceMemory]; got.Cmp(max) != 0 {
		t.Errorf("memory limit %s, the unit's MemoryMax is %s", got.String(), max.String())
	}
	if stop := unitSetting(t, "TimeoutStopSec"); pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds < 30 || stop != "30s" {
		t.Errorf("terminationGracePeriodSeconds %v, unit TimeoutStopSec %s: the pod must have the time the unit has to put knobs back", pod.TerminationGracePeriodSeconds, stop)
	}
	if !slices.Contains(c.Args, "--policy=/etc/memrelief/policy.toml") || c.Args[0] != "run" {
		t.Errorf("args %v", c.Args)
	}
	// The kubelet updates a ConfigMap volume by swapping a symlink and
	// sends no signal: the daemon must look for changes itself, and a
	// subPath mount, which the kubelet never updates, would hide them.
	poll := ""
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--policy-poll="); ok {
			poll = v
		}
	}
	if d, err := time.ParseDuration(poll); err != nil || d <= 0 || d > time.Minute {
		t.Errorf("--policy-poll=%q: want a positive duration of at most a minute, so a ConfigMap change is reloaded", poll)
	}
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/etc/memrelief" && m.SubPath != "" {
			t.Errorf("policy mounted with subPath %q: the kubelet never updates subPath mounts", m.SubPath)
		}
	}

	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	hostAt := map[string]string{} // mount path -> host path
	mounted := map[string]bool{}
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			t.Errorf("mount %s: no volume %q", m.MountPath, m.Name)
			continue
		}
		mounted[m.Name] = true
		switch {
		case v.HostPath != nil:
			hostAt[m.MountPath] = v.HostPath.Path
			if v.HostPath.Type != nil && (*v.HostPath.Type == corev1.HostPathFileOrCreate) {
				t.Errorf("%s: FileOrCreate would leave an empty file on hosts without it", v.HostPath.Path)
			}
		case v.ConfigMap != nil:
			if v.ConfigMap.Name != "memrelief-policy" || m.MountPath != "/etc/memrelief" {
				t.Errorf("policy volume %q at %s", v.ConfigMap.Name, m.MountPath)
			}
		}
	}
	for name := range volumes {
		if !mounted[name] {
			t.Errorf("volume %q is never mounted", name)
		}
	}
	// The host paths the daemon really needs, at the paths it uses them
	// at, and nothing that holds the pods' secrets.
	for _, p := range []string{"/sys/fs/cgroup", "/run/memrelief", "/var/lib/memrelief", "/run/systemd", "/run/dbus/system_bus_socket", "/var/log"} {
		if hostAt[p] != p {
			t.Errorf("host %s is not mounted at %s (mounts: %v)", p, p, hostAt)
		}
	}
	for mount, host := range hostAt {
		if strings.HasPrefix(host, "/var/lib/kubelet") || host == "/" || host == "/etc" {
			t.Errorf("%s mounts host %s: more than memrelief needs", mount, host)
		}
	}
	for _, m := range c.VolumeMounts {
		if rw := !m.ReadOnly; rw && (m.MountPath == "/var/log" || m.MountPath == "/etc/systemd" || m.MountPath == "/usr/lib/systemd") {
			t.Errorf("%s is mounted read-write; memrelief only reads it", m.MountPath)
		}
	}
}
