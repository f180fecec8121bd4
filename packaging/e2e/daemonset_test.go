package e2e

import (
	"os"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/memrelief/memrelief/packaging/kubernetes"
)

func loadManifests(t *testing.T) (*appsv1.DaemonSet, map[string]*corev1.ConfigMap) {
	t.Helper()
	var ds appsv1.DaemonSet
	var cm corev1.ConfigMap
	for file, into := range map[string]any{"../kubernetes/daemonset.yaml": &ds, "../kubernetes/configmap.yaml": &cm} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := kubernetes.DecodeStrict(data, into); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	return &ds, map[string]*corev1.ConfigMap{cm.Name: &cm}
}

// TestTranslateDaemonSet: the ctr run the guest uses carries every mount,
// read-only where the manifest says so, the host PID namespace, privilege,
// environment, memory limit and arguments of the packaged manifest.
func TestTranslateDaemonSet(t *testing.T) {
	ds, cms := loadManifests(t)
	r, err := TranslateDaemonSet(ds, cms, []string{"/usr/bin/memrelief"})
	if err != nil {
		t.Fatal(err)
	}
	flags := strings.Join(r.Flags, " ")
	c := ds.Spec.Template.Spec.Containers[0]
	for _, m := range c.VolumeMounts {
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		if !strings.Contains(flags, ",dst="+m.MountPath+",options=rbind:"+mode) {
			t.Errorf("mount %s (%s) missing from %s", m.MountPath, mode, flags)
		}
	}
	for _, want := range []string{"--privileged", "--with-ns pid:/proc/1/ns/pid", "--memory-limit 134217728", "--env GODEBUG=disablethp=1",
		"src=/sys/fs/cgroup,dst=/sys/fs/cgroup,options=rbind:rw", "src=" + ConfigMapRoot + "/policy,dst=/etc/memrelief,options=rbind:ro"} {
		if !strings.Contains(flags, want) {
			t.Errorf("flags lack %q: %s", want, flags)
		}
	}
	if want := append([]string{"/usr/bin/memrelief"}, c.Args...); !slices.Equal(r.Command, want) {
		t.Errorf("command %q, want %q", r.Command, want)
	}
	if !slices.Contains(r.Mkdirs, "/run/memrelief") || !slices.Contains(r.Mkdirs, "/var/lib/memrelief") {
		t.Errorf("mkdirs %q", r.Mkdirs)
	}
	if got := r.Files[ConfigMapRoot+"/policy/policy.toml"]; got == "" || got != cms["memrelief-policy"].Data["policy.toml"] {
		t.Error("the ConfigMap's policy.toml is not carried to the guest")
	}

	// What it cannot carry over is an error, not left out.
	ds.Spec.Template.Spec.HostNetwork = true
	if _, err := TranslateDaemonSet(ds, cms, nil); err == nil {
		t.Error("hostNetwork translated silently")
	}
	ds.Spec.Template.Spec.HostNetwork = false
	ds.Spec.Template.Spec.Containers[0].VolumeMounts[0].SubPath = "x"
	if _, err := TranslateDaemonSet(ds, cms, nil); err == nil {
		t.Error("subPath translated silently")
	}
}
