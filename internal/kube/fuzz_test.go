package kube

import (
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/driver"
)

// FuzzParsePath: no input panics, and an accepted path yields a consistent
// Ref: a real driver and QoS, a UID in API form, a hex container ID only
// below a pod.
func FuzzParsePath(f *testing.F) {
	f.Add("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidSD + ".slice/cri-containerd-" + cid + ".scope")
	f.Fuzz(func(t *testing.T, p string) {
		r, err := ParsePath(p)
		if err != nil {
			return
		}
		if r.Driver != driver.Systemd && r.Driver != driver.Cgroupfs {
			t.Fatalf("driver %q", r.Driver)
		}
		switch r.QoS {
		case "", Guaranteed, Burstable, BestEffort:
		default:
			t.Fatalf("qos %q", r.QoS)
		}
		if strings.ContainsAny(r.PodUID, "_/.") || (r.ContainerID != "" && r.PodUID == "") {
			t.Fatalf("ref %+v", r)
		}
		if checkContainerID(r.ContainerID) != nil && r.ContainerID != "" {
			t.Fatalf("container id %q", r.ContainerID)
		}
	})
}

func FuzzParsePodLogDir(f *testing.F) {
	f.Add("kube-system_coredns-668d6bf9bc-2xk8p_" + uid)
	f.Fuzz(func(t *testing.T, name string) {
		ns, pod, u, err := ParsePodLogDir(name)
		if err != nil {
			return
		}
		if ns+"_"+pod+"_"+u != name || strings.Contains(ns+pod+u, "_") {
			t.Fatalf("%q split into %q %q %q", name, ns, pod, u)
		}
	})
}

func FuzzParseContainerLogName(f *testing.F) {
	f.Add("web-7d9c8b6f5-abcde_shop-prod_istio-proxy-" + cid + ".log")
	f.Fuzz(func(t *testing.T, name string) {
		pod, ns, c, id, err := ParseContainerLogName(name)
		if err != nil {
			return
		}
		if pod+"_"+ns+"_"+c+"-"+id+".log" != name || strings.Contains(id, "-") {
			t.Fatalf("%q split into %q %q %q %q", name, pod, ns, c, id)
		}
	})
}
