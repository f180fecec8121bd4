package kube

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/driver"
	"github.com/memrelief/memrelief/internal/paths"
)

const (
	uid   = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
	uidSD = "0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b"
	cid   = "d7820a83db0ca1a2e8c370fe29da630ebe4b1cc08e1f0b22bb38332e8e99e0dd"
)

func TestParsePath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Ref
		err  string // substring; "" means success
	}{
		// systemd driver
		{in: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidSD + ".slice/cri-containerd-" + cid + ".scope",
			want: Ref{Driver: driver.Systemd, QoS: Burstable, PodUID: uid, ContainerID: cid, Runtime: RuntimeContainerd}},
		{in: "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidSD + ".slice/crio-" + cid + ".scope",
			want: Ref{Driver: driver.Systemd, QoS: BestEffort, PodUID: uid, ContainerID: cid, Runtime: RuntimeCRIO}},
		{in: "/kubepods.slice/kubepods-pod" + uidSD + ".slice/docker-" + cid + ".scope",
			want: Ref{Driver: driver.Systemd, QoS: Guaranteed, PodUID: uid, ContainerID: cid, Runtime: RuntimeDocker}},
		{in: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidSD + ".slice/crio-conmon-" + cid + ".scope",
			want: Ref{Driver: driver.Systemd, QoS: Burstable, PodUID: uid, ContainerID: cid, Runtime: RuntimeCRIO, Conmon: true}},
		{in: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidSD + ".slice",
			want: Ref{Driver: driver.Systemd, QoS: Burstable, PodUID: uid}},
		{in: "/kubepods.slice/kubepods-pod8b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e.slice", // static pod: hash UID
			want: Ref{Driver: driver.Systemd, QoS: Guaranteed, PodUID: "8b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e"}},
		{in: "/kubepods.slice/kubepods-besteffort.slice", want: Ref{Driver: driver.Systemd, QoS: BestEffort}},
		{in: "/kubepods.slice", want: Ref{Driver: driver.Systemd}},
		{in: "/sys/fs/cgroup/memory/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidSD + ".slice/cri-containerd-" + cid + ".scope/init",
			want: Ref{Driver: driver.Systemd, QoS: Burstable, PodUID: uid, ContainerID: cid, Runtime: RuntimeContainerd}},
		{in: "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + uidSD + ".slice/cri-containerd-" + cid + ".scope",
			want: Ref{Driver: driver.Systemd, QoS: BestEffort, PodUID: uid, ContainerID: cid, Runtime: RuntimeContainerd}},
		// cgroupfs driver
		{in: "/kubepods/burstable/pod" + uid + "/" + cid,
			want: Ref{Driver: driver.Cgroupfs, QoS: Burstable, PodUID: uid, ContainerID: cid}},
		{in: "/kubepods/besteffort/pod" + uid + "/crio-" + cid,
			want: Ref{Driver: driver.Cgroupfs, QoS: BestEffort, PodUID: uid, ContainerID: cid, Runtime: RuntimeCRIO}},
		{in: "/kubepods/pod" + uid + "/crio-conmon-" + cid,
			want: Ref{Driver: driver.Cgroupfs, QoS: Guaranteed, PodUID: uid, ContainerID: cid, Runtime: RuntimeCRIO, Conmon: true}},
		{in: "memory/kubepods/burstable", want: Ref{Driver: driver.Cgroupfs, QoS: Burstable}},
		{in: "/kubepods/", want: Ref{Driver: driver.Cgroupfs}},
		// not Kubernetes
		{in: "/system.slice/containerd.service", err: "not a Kubernetes pod cgroup"},
		{in: "", err: "not a Kubernetes pod cgroup"},
		{in: "/kubepods.slice.bak", err: "not a Kubernetes pod cgroup"},
		// odd names
		{in: "/kubepods.slice/kubepods-burstable.slice/kubepods-besteffort-pod" + uidSD + ".slice", err: "not kubepods-burstable-pod<uid>.slice"},
		{in: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uid + ".slice", err: "has a dash"},
		{in: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod.slice", err: "pod UID \"\""},
		{in: "/kubepods.slice/kubepods-guaranteed.slice/x.slice", err: "not kubepods-pod<uid>.slice"},
		{in: "/kubepods.slice/kubepods-burstable.slice/foo", err: "not a pod slice"},
		{in: "/kubepods.slice/kubepods-burstable", err: "not a slice"},
		{in: "/kubepods.slice/kubepods-pod" + uidSD + ".slice/cri-containerd-" + cid, err: "not a container scope"},
		{in: "/kubepods.slice/kubepods-pod" + uidSD + ".slice/runc-" + cid + ".scope", err: "not cri-containerd-"},
		{in: "/kubepods.slice/kubepods-pod" + uidSD + ".slice/cri-containerd-XYZ.scope", err: "not lowercase hex"},
		{in: "/kubepods/guaranteed/pod" + uid, err: `component "guaranteed": not pod<uid>`},
		{in: "/kubepods/burstable/pod" + uid + "/not-hex", err: "not lowercase hex"},
		{in: "/kubepods/burstable/pod", err: "pod UID \"\""},
		{in: "/kubepods/burstable/pod" + uidSD, err: "character '_'"},
		{in: "/kubepods/burstable/pod" + uid + "/crio-", err: "container ID \"\""},
	} {
		got, err := ParsePath(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParsePath(%q) = %+v, %v; want an error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParsePath(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	if _, err := ParsePath("/system.slice"); !errors.Is(err, ErrNotKubernetes) {
		t.Errorf("not Kubernetes: %v does not wrap ErrNotKubernetes", err)
	}
}

func TestParsePodLogDir(t *testing.T) {
	ns, pod, u, err := ParsePodLogDir("kube-system_coredns-668d6bf9bc-2xk8p_" + uid)
	if err != nil || ns != "kube-system" || pod != "coredns-668d6bf9bc-2xk8p" || u != uid {
		t.Errorf("got %q %q %q %v", ns, pod, u, err)
	}
	if _, pod, _, err := ParsePodLogDir("default_api.v2-x_" + uid); err != nil || pod != "api.v2-x" {
		t.Errorf("dotted pod name: %q %v", pod, err)
	}
	for _, bad := range []string{"", "a_b", "a_b_c_d", "Default_p_" + uid, "a.b_p_" + uid, "ns_-p_" + uid, "ns_p_", "ns_p_u/x", "ns__" + uid} {
		if _, _, _, err := ParsePodLogDir(bad); err == nil {
			t.Errorf("ParsePodLogDir(%q) accepted", bad)
		}
	}
}

func TestParseContainerLogName(t *testing.T) {
	pod, ns, c, id, err := ParseContainerLogName("web-7d9c8b6f5-abcde_shop-prod_istio-proxy-" + cid + ".log")
	if err != nil || pod != "web-7d9c8b6f5-abcde" || ns != "shop-prod" || c != "istio-proxy" || id != cid {
		t.Errorf("got %q %q %q %q %v", pod, ns, c, id, err)
	}
	for _, bad := range []string{"", "README", "a_b_c-" + cid, "a_b_c" + cid + ".log", "a_b_-" + cid + ".log", "a_b_c-XY.log", "a_b_c_d-" + cid + ".log", "A_b_c-" + cid + ".log"} {
		if _, _, _, _, err := ParseContainerLogName(bad); err == nil {
			t.Errorf("ParseContainerLogName(%q) accepted", bad)
		}
	}
}

func loadFixture(t *testing.T) *Index {
	t.Helper()
	ix, err := LoadIndex(paths.Under(filepath.Join("testdata", "hosts", "node")))
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestLoadIndex(t *testing.T) {
	ix := loadFixture(t)
	if ix.Len() != 7 {
		t.Errorf("%d pods, want 7", ix.Len())
	}

	p, ok := ix.ByUID(uid)
	if !ok || p.Namespace != "monitoring" || p.Name != "fluent-bit-7xq2m" || len(p.Containers) != 1 ||
		p.Containers[0].Name != "fluent-bit" || !slices.Equal(p.Containers[0].IDs, []string{cid}) || p.Containers[0].Restarts != 0 {
		t.Errorf("ByUID: %+v %t", p, ok)
	}

	// Static pod: hash UID; rotated logs do not count as restarts.
	p, ok = ix.ByUID("8b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e")
	if !ok || p.Name != "kube-apiserver-cp1" || p.Containers[0].Restarts != 2 {
		t.Errorf("static pod: %+v %t", p, ok)
	}

	// Several containers, dashes in names, two instances of one container.
	web := ix.ByName("shop-prod", "web-7d9c8b6f5-abcde")
	if len(web) != 1 {
		t.Fatalf("ByName web: %d pods", len(web))
	}
	var names []string
	for _, c := range web[0].Containers {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"app", "istio-init", "istio-proxy"}) {
		t.Errorf("containers %v", names)
	}
	if app := web[0].Containers[0]; len(app.IDs) != 2 || app.Restarts != 1 {
		t.Errorf("app: %+v", app)
	}

	// Recreated pod: both UIDs, sorted; container IDs follow the link target.
	db := ix.ByName("default", "db-0")
	if len(db) != 2 || db[0].UID != "11111111-2222-4333-8444-555555555555" || db[1].UID != "66666666-7777-4888-9999-aaaaaaaaaaaa" {
		t.Fatalf("ByName db-0: %+v", db)
	}
	const newID = "bee885c99bd11b1c3c66b5cd9284e5430b5feb8e25a7dbd7177bdc8aa07a1a2e"
	if p, c, ok := ix.ByContainerID(newID); !ok || p.UID != db[1].UID || c != "postgres" {
		t.Errorf("ByContainerID(new db): %s %q %t", p.UID, c, ok)
	}

	if p, c, ok := ix.ByContainerID("866f1b5affb9e9657c633f03c315038297d96a3f59d04804adde4b6186ae58d6"); !ok || p.Name != "web-7d9c8b6f5-abcde" || c != "istio-proxy" {
		t.Errorf("ByContainerID(istio-proxy): %+v %q %t", p, c, ok)
	}
	if got := ix.ByName("default", "nope"); got != nil {
		t.Errorf("unknown name: %+v", got)
	}
	if _, ok := ix.ByUID("nope"); ok {
		t.Error("unknown UID found")
	}
	if _, _, ok := ix.ByContainerID("abc"); ok {
		t.Error("unknown container ID found")
	}

	// The odd entries are skipped and listed, each with a reason.
	var skipped []string
	for _, s := range ix.Skipped {
		skipped = append(skipped, filepath.Base(strings.SplitN(s, ":", 2)[0]))
	}
	slices.Sort(skipped)
	want := []string{"Bad_Name_5c3a9b1e-7f0d-4c4e-9a51-2b8e6f1d0a37", "README",
		"gone-pod_default_c-283bb9deef02e6843abfb538efa1eca70801bd8a701c3f98191e123496339247.log", "not-a-pod-dir"}
	if !slices.Equal(skipped, want) {
		t.Errorf("skipped %v\nwant    %v", skipped, want)
	}
}

func TestIndexReturnsCopies(t *testing.T) {
	ix := loadFixture(t)
	p, _ := ix.ByUID(uid)
	p.Containers[0].Name = "changed"
	p.Containers[0].IDs[0] = "changed"
	if again, _ := ix.ByUID(uid); again.Containers[0].Name != "fluent-bit" || again.Containers[0].IDs[0] != cid {
		t.Errorf("index changed through a returned pod: %+v", again)
	}
}

func TestIdentify(t *testing.T) {
	ix := loadFixture(t)
	for _, tc := range []struct {
		path, ns, pod, container string
		ok                       bool
	}{
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidSD + ".slice/cri-containerd-" + cid + ".scope", "monitoring", "fluent-bit-7xq2m", "fluent-bit", true},
		{"/kubepods/burstable/pod" + uid + "/" + cid, "monitoring", "fluent-bit-7xq2m", "fluent-bit", true},
		{"/kubepods/burstable/pod" + uid, "monitoring", "fluent-bit-7xq2m", "", true},
		// A container ID that belongs to another pod is not named.
		{"/kubepods/burstable/pod" + uid + "/866f1b5affb9e9657c633f03c315038297d96a3f59d04804adde4b6186ae58d6", "monitoring", "fluent-bit-7xq2m", "", true},
		{"/kubepods/burstable/pod12345678-0000-0000-0000-000000000000", "", "", "", false},
		{"/kubepods/burstable", "", "", "", false},
	} {
		r, err := ParsePath(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		p, c, ok := ix.Identify(r)
		if ok != tc.ok || p.Namespace != tc.ns || p.Name != tc.pod || c != tc.container {
			t.Errorf("Identify(%s) = %s/%s %q %t; want %s/%s %q %t", tc.path, p.Namespace, p.Name, c, ok, tc.ns, tc.pod, tc.container, tc.ok)
		}
	}
}

func TestLoadIndexAbsent(t *testing.T) {
	ix, err := LoadIndex(paths.Under(t.TempDir()))
	if err != nil || ix.Len() != 0 || len(ix.Skipped) != 0 {
		t.Errorf("no /var/log/pods: %d pods, skipped %v, err %v", ix.Len(), ix.Skipped, err)
	}
}

func TestLoadIndexUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("SKIPPED: running as root, which reads a mode-000 directory anyway; the unreadable-directory error path is not exercised")
	}
	roots := paths.Under(t.TempDir())
	dir := filepath.Join(roots.Log, "pods")
	if err := os.MkdirAll(dir, 0o000); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIndex(roots); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("err %v, want one naming %s", err, dir)
	}
}

func TestLoadIndexPodsDirIsAFile(t *testing.T) {
	roots := paths.Under(t.TempDir())
	if err := os.MkdirAll(roots.Log, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(roots.Log, "pods"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIndex(roots); err == nil || !strings.Contains(err.Error(), "read pod logs") {
		t.Errorf("err %v", err)
	}
}
