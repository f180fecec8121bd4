package driver

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/paths"
)

// want is the expected state of one component; Evidence and Err are
// substrings ("" Err means no error).
type want struct {
	installed bool
	pid       int
	driver    Driver
	defaulted bool
	source    string
	evidence  string
	why       string
	err       string
}

func check(t *testing.T, got Component, w want) {
	t.Helper()
	if got.Installed != w.installed || got.PID != w.pid || got.Driver != w.driver || got.Defaulted != w.defaulted || got.Source != w.source {
		t.Errorf("%s: got installed=%t pid=%d driver=%q defaulted=%t source=%q, want installed=%t pid=%d driver=%q defaulted=%t source=%q (why %q, evidence %q, err %v)",
			got.Name, got.Installed, got.PID, got.Driver, got.Defaulted, got.Source,
			w.installed, w.pid, w.driver, w.defaulted, w.source, got.Why, got.Evidence, got.Err)
	}
	if !strings.Contains(got.Evidence, w.evidence) {
		t.Errorf("%s: evidence %q does not contain %q", got.Name, got.Evidence, w.evidence)
	}
	if !strings.Contains(got.Why, w.why) {
		t.Errorf("%s: why %q does not contain %q", got.Name, got.Why, w.why)
	}
	switch {
	case w.err == "" && got.Err != nil:
		t.Errorf("%s: unexpected error %v", got.Name, got.Err)
	case w.err != "" && (got.Err == nil || !strings.Contains(got.Err.Error(), w.err)):
		t.Errorf("%s: error %v, want one containing %q", got.Name, got.Err, w.err)
	}
}

func fixture(name string) paths.Roots { return paths.Under(filepath.Join("testdata", "hosts", name)) }

var notInstalled = want{why: "no "}

func TestDetectFixtures(t *testing.T) {
	v2systemd := Host{CgroupV2: true, SystemdPID1: true}
	for _, tc := range []struct {
		name     string
		host     Host
		memory   string // below the cgroup root
		kubelet  want
		ctrd     want
		crio     want
		docker   want
		tree     want
		findings []string
	}{
		{
			name: "kubeadm-systemd", host: v2systemd, memory: "",
			kubelet: want{installed: true, pid: 689, driver: Systemd, source: "/var/lib/kubelet/config.yaml",
				evidence: "cgroupDriver: systemd in /var/lib/kubelet/config.yaml line 18", why: "running as pid 689"},
			ctrd: want{installed: true, pid: 612, driver: Systemd, source: "/etc/containerd/config.toml",
				evidence: `SystemdCgroup = true in /etc/containerd/config.toml line 127 ([plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options], config version 2)`},
			crio: notInstalled, docker: notInstalled,
			tree: want{installed: true, driver: Systemd, evidence: "kubepods.slice exists"},
		},
		{
			name: "kubeadm-cgroupfs", host: v2systemd, memory: "",
			kubelet: want{installed: true, pid: 702, driver: Cgroupfs, source: "/var/lib/kubelet/config.yaml",
				evidence: "cgroupDriver: cgroupfs in /var/lib/kubelet/config.yaml line 18"},
			ctrd: want{installed: true, pid: 700, driver: Cgroupfs, source: "/etc/containerd/config.toml",
				evidence: "SystemdCgroup = false in /etc/containerd/config.toml line 127"},
			crio: notInstalled, docker: notInstalled,
			tree:     want{installed: true, driver: Cgroupfs, evidence: "kubepods exists"},
			findings: []string{CodeCgroupfsOnSystemd},
		},
		{
			name: "kubeadm-cgroupfs-on-non-systemd-host", host: Host{CgroupV2: true}, memory: "",
			kubelet: want{installed: true, pid: 702, driver: Cgroupfs, source: "/var/lib/kubelet/config.yaml", evidence: "line 18"},
			ctrd:    want{installed: true, pid: 700, driver: Cgroupfs, source: "/etc/containerd/config.toml", evidence: "line 127"},
			crio:    notInstalled, docker: notInstalled,
			tree: want{installed: true, driver: Cgroupfs},
		},
		{
			name: "mismatch", host: v2systemd, memory: "",
			kubelet: want{installed: true, driver: Systemd, source: "/var/lib/kubelet/config.yaml",
				why: "/var/lib/kubelet/config.yaml present", evidence: "line 18"},
			ctrd: want{installed: true, driver: Cgroupfs, source: "/etc/containerd/config.toml",
				why: "/etc/containerd/config.toml present", evidence: "SystemdCgroup = false"},
			crio: notInstalled, docker: notInstalled,
			tree:     want{installed: true, driver: Both, evidence: "both kubepods.slice"},
			findings: []string{CodeTreeBothDrivers, CodeKubeletRuntimeMismatch, CodeCgroupfsOnSystemd},
		},
		{
			name: "containerd2-systemd", host: v2systemd, memory: "",
			kubelet: notInstalled, crio: notInstalled, docker: notInstalled,
			ctrd: want{installed: true, pid: 1501, driver: Systemd, source: "/etc/containerd/config.toml",
				evidence: "SystemdCgroup = true in /etc/containerd/config.toml line 111 ([plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options], config version 3)"},
			tree: want{installed: true, driver: Systemd},
		},
		{
			// containerd 2.1's own default file: kubeadm's systemd kubelet
			// next to a runc left at cgroupfs, the classic mismatch.
			name: "containerd2-default", host: v2systemd, memory: "",
			kubelet: want{installed: true, driver: Systemd, source: "/var/lib/kubelet/config.yaml", evidence: "line 18"},
			crio:    notInstalled, docker: notInstalled,
			ctrd: want{installed: true, pid: 1501, driver: Cgroupfs, defaulted: true, source: "/etc/containerd/config.toml",
				evidence: `SystemdCgroup not set for runtime "runc" in /etc/containerd/config.toml; containerd default is false (cgroupfs); default_runtime_name = "runc" in /etc/containerd/config.toml line 82`},
			tree:     want{err: "cgroup tree", why: "unreadable"},
			findings: []string{CodeConfigError, CodeKubeletRuntimeMismatch, CodeCgroupfsOnSystemd},
		},
		{
			name: "kubelet-flags", host: v2systemd, memory: "",
			// The flag beats the drop-in, which beats the file.
			kubelet: want{installed: true, pid: 4242, driver: Systemd, source: "pid 4242 cmdline",
				evidence: "--cgroup-driver=systemd on the command line of pid 4242"},
			ctrd: notInstalled, crio: notInstalled, docker: notInstalled,
			tree:     want{err: "cgroup tree", why: "unreadable"},
			findings: []string{CodeConfigError},
		},
		{
			name: "kubelet-nodriver", host: v2systemd, memory: "",
			kubelet: want{installed: true, driver: Cgroupfs, defaulted: true, source: "/var/lib/kubelet/config.yaml",
				evidence: "cgroupDriver not set in /var/lib/kubelet/config.yaml; kubelet default is cgroupfs"},
			ctrd: notInstalled, crio: notInstalled, docker: notInstalled,
			tree:     want{err: "cgroup tree", why: "unreadable"},
			findings: []string{CodeConfigError, CodeCgroupfsOnSystemd},
		},
		{
			name: "crio-dropin", host: Host{SystemdPID1: true}, memory: "memory",
			kubelet: notInstalled, ctrd: notInstalled, docker: notInstalled,
			crio: want{installed: true, pid: 911, driver: Cgroupfs, source: "/etc/crio/crio.conf.d/20-cgroupfs.conf",
				evidence: `cgroup_manager = "cgroupfs" in /etc/crio/crio.conf.d/20-cgroupfs.conf line 4 (overrides /etc/crio/crio.conf)`},
			tree:     want{installed: true, driver: Cgroupfs},
			findings: []string{CodeCgroupfsOnSystemd},
		},
		{
			name: "docker-systemd", host: Host{}, memory: "",
			kubelet: notInstalled, ctrd: notInstalled, crio: notInstalled,
			docker: want{installed: true, pid: 820, driver: Systemd, source: "/etc/docker/daemon.json",
				evidence: `exec-opts "native.cgroupdriver=systemd" in /etc/docker/daemon.json line 2`},
			tree:     want{err: "cgroup tree", why: "unreadable"},
			findings: []string{CodeConfigError},
		},
		{
			name: "docker-default", host: v2systemd, memory: "",
			kubelet: notInstalled, ctrd: notInstalled, crio: notInstalled,
			docker: want{installed: true, driver: Systemd, defaulted: true, source: "/etc/docker/daemon.json",
				evidence: "native.cgroupdriver not set in /etc/docker/daemon.json; dockerd default is systemd on this host (cgroup v2: true, systemd is PID 1: true)"},
			tree:     want{err: "cgroup tree", why: "unreadable"},
			findings: []string{CodeConfigError},
		},
		{
			name: "docker-default-v1", host: Host{SystemdPID1: true}, memory: "",
			kubelet: notInstalled, ctrd: notInstalled, crio: notInstalled,
			docker: want{installed: true, driver: Cgroupfs, defaulted: true, source: "/etc/docker/daemon.json",
				evidence: "dockerd default is cgroupfs on this host (cgroup v2: false"},
			tree:     want{err: "cgroup tree", why: "unreadable"},
			findings: []string{CodeConfigError, CodeCgroupfsOnSystemd},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := strings.TrimSuffix(strings.TrimSuffix(tc.name, "-on-non-systemd-host"), "-v1")
			roots := fixture(dir)
			host := tc.host
			host.MemoryDir = filepath.Join(roots.Cgroup, tc.memory)
			cs := Detect(context.Background(), roots, host)
			names := []string{NameKubelet, NameContainerd, NameCRIO, NameDocker, NameTree}
			if len(cs) != len(names) {
				t.Fatalf("got %d components, want %d", len(cs), len(names))
			}
			for i, w := range []want{tc.kubelet, tc.ctrd, tc.crio, tc.docker, tc.tree} {
				if cs[i].Name != names[i] {
					t.Fatalf("component %d is %q, want %q", i, cs[i].Name, names[i])
				}
				check(t, cs[i], w)
			}
			var codes []string
			for _, f := range Disagreements(cs, host) {
				codes = append(codes, f.Code)
				if f.Message == "" || strings.Contains(f.Message, "\n") {
					t.Errorf("finding %s: message %q is not one line", f.Code, f.Message)
				}
			}
			if !slices.Equal(codes, tc.findings) {
				t.Errorf("findings %v, want %v", codes, tc.findings)
			}
		})
	}
}

func TestKubeletFlagsRuntimeEndpoint(t *testing.T) {
	c := DetectKubelet(context.Background(), fixture("kubelet-flags"))
	if c.RuntimeEndpoint != "unix:///var/run/crio/crio.sock" {
		t.Errorf("runtime endpoint %q", c.RuntimeEndpoint)
	}
	c = DetectKubelet(context.Background(), fixture("kubeadm-systemd"))
	if c.RuntimeEndpoint != "unix:///var/run/containerd/containerd.sock" {
		t.Errorf("runtime endpoint %q", c.RuntimeEndpoint)
	}
}

func TestEmptyHostNothingInstalled(t *testing.T) {
	root := t.TempDir()
	roots := paths.Under(root)
	if err := os.MkdirAll(roots.Cgroup, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(roots.Proc, 0o755); err != nil {
		t.Fatal(err)
	}
	host := Host{CgroupV2: true, SystemdPID1: true, MemoryDir: roots.Cgroup}
	cs := Detect(context.Background(), roots, host)
	for _, c := range cs {
		if c.Installed || c.Driver != Unknown || c.Err != nil {
			t.Errorf("%s: installed=%t driver=%q err=%v on an empty host", c.Name, c.Installed, c.Driver, c.Err)
		}
		if c.Why == "" {
			t.Errorf("%s: no reason given for not installed", c.Name)
		}
	}
	if f := Disagreements(cs, host); len(f) != 0 {
		t.Errorf("findings on an empty host: %+v", f)
	}
	if !strings.Contains(cs[1].Why, "no containerd process in "+roots.Proc) || !strings.Contains(cs[1].Why, "no /etc/containerd/config.toml") {
		t.Errorf("containerd why: %q", cs[1].Why)
	}
}

func TestUnreadableProcTableIsSaid(t *testing.T) {
	roots := paths.Under(t.TempDir()) // no proc directory at all
	c := DetectContainerd(context.Background(), roots)
	if c.Installed || !strings.Contains(c.Why, "process table unreadable") {
		t.Errorf("installed=%t why=%q", c.Installed, c.Why)
	}
}

func TestCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := DetectKubelet(ctx, fixture("kubeadm-systemd"))
	// The kubelet is not found in the process table, but its kubeadm config
	// still is, and the reason says the table was not read.
	if c.PID != 0 || !strings.Contains(c.Why, "context canceled") || c.Driver != Systemd {
		t.Errorf("pid=%d why=%q driver=%q", c.PID, c.Why, c.Driver)
	}
}

func TestComponentJSON(t *testing.T) {
	c := Component{Name: NameKubelet, Installed: true, Driver: Systemd, Why: "w", Evidence: "e", Err: os.ErrNotExist}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"name":"kubelet","installed":true,"why":"w","driver":"systemd","defaulted":false,"evidence":"e","error":"file does not exist"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	c.Err = nil
	b, _ = json.Marshal(c)
	if strings.Contains(string(b), "error") {
		t.Errorf("nil error marshalled: %s", b)
	}
}
