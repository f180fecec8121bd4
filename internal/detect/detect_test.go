package detect_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/detect"
	"github.com/memrelief/memrelief/internal/driver"
	"github.com/memrelief/memrelief/internal/fixtures"
	"github.com/memrelief/memrelief/internal/paths"
)

// flavour is one shared host tree and what its CAPTURED file and its files
// say about it.
type flavour struct {
	name string
	// magic is what statfs returned on the captured host (CAPTURED).
	magic      map[string]int64
	mode       string
	memoryDir  string // below the cgroup root: "" (v2) or "memory"
	unifiedDir string // below the cgroup root; "-" when there is no v2 tree
	// findings are the codes expected with systemd 252 on the bus, and why.
	findings []string
}

var flavours = []flavour{
	{
		name: "v2-systemd", magic: map[string]int64{"sys/fs/cgroup": cgroupfs.Cgroup2Magic},
		mode: "unified", memoryDir: "", unifiedDir: "",
		findings: nil, // kubelet, containerd and the tree all systemd; memory delegated; PSI and reclaim present
	},
	{
		name: "v2-cgroupfs", magic: map[string]int64{"sys/fs/cgroup": cgroupfs.Cgroup2Magic},
		mode: "unified", memoryDir: "", unifiedDir: "",
		// systemd is PID 1 while kubelet, containerd and the tree use cgroupfs.
		findings: []string{driver.CodeCgroupfsOnSystemd},
	},
	{
		name: "legacy", magic: map[string]int64{"sys/fs/cgroup": cgroupfs.TmpfsMagic, "sys/fs/cgroup/memory": cgroupfs.CgroupMagic},
		mode: "legacy", memoryDir: "memory", unifiedDir: "-",
		findings: []string{detect.CodeCgroupV1, detect.CodeKubeletOnV1Deadline},
	},
	{
		name: "hybrid-systemd", magic: map[string]int64{"sys/fs/cgroup": cgroupfs.TmpfsMagic, "sys/fs/cgroup/unified": cgroupfs.Cgroup2Magic},
		mode: "hybrid", memoryDir: "memory", unifiedDir: "unified",
		// kubelet and CRI-O agree on systemd; v1 is the only problem.
		findings: []string{detect.CodeCgroupV1, detect.CodeKubeletOnV1Deadline},
	},
	{
		name: "hybrid-dev", magic: map[string]int64{"sys/fs/cgroup": cgroupfs.TmpfsMagic, "sys/fs/cgroup/unified": cgroupfs.Cgroup2Magic},
		mode: "hybrid", memoryDir: "memory", unifiedDir: "unified",
		// PID 1 is process_api on the development VM; no Kubernetes.
		findings: []string{detect.CodeCgroupV1, detect.CodeNoSystemd},
	},
}

func runOn(t *testing.T, dir string, statfs cgroupfs.StatFS, mgr fakeManager) detect.Report {
	t.Helper()
	return detect.Run(context.Background(), detect.Options{Roots: paths.Under(dir), StatFS: statfs, Live: false, Manager: mgr})
}

func codes(fs []driver.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Code)
	}
	slices.Sort(out)
	return out
}

func findingOf(fs []driver.Finding, code string) (driver.Finding, bool) {
	for _, f := range fs {
		if f.Code == code {
			return f, true
		}
	}
	return driver.Finding{}, false
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestRunOnFlavours(t *testing.T) {
	for _, fl := range flavours {
		t.Run(fl.name, func(t *testing.T) {
			dir := fixtures.Dir(fl.name)
			roots := paths.Under(dir)
			r := runOn(t, dir, statfsOf(fl.magic), fakeManager{version: "252"})

			// The layout from statfs and from the files alone agree.
			if r.Cgroup.Mode != fl.mode {
				t.Errorf("mode %q, want %q (evidence %q)", r.Cgroup.Mode, fl.mode, r.Cgroup.Evidence)
			}
			if alt := runOn(t, dir, ext4, fakeManager{version: "252"}); alt.Cgroup.Mode != fl.mode {
				t.Errorf("mode from the files present %q, want %q", alt.Cgroup.Mode, fl.mode)
			}
			if want := filepath.Join(roots.Cgroup, fl.memoryDir); r.Cgroup.MemoryDir != want {
				t.Errorf("memory dir %q, want %q", r.Cgroup.MemoryDir, want)
			}
			wantUni := filepath.Join(roots.Cgroup, fl.unifiedDir)
			if fl.unifiedDir == "-" {
				wantUni = ""
			}
			if r.Cgroup.UnifiedDir != wantUni {
				t.Errorf("unified dir %q, want %q", r.Cgroup.UnifiedDir, wantUni)
			}
			if !r.Cgroup.Memory.Available || r.Cgroup.Memory.Detail == "" {
				t.Errorf("memory controller %+v, want available with a reason", r.Cgroup.Memory)
			}

			checkDelegation(t, r, roots, fl.mode)
			checkKernel(t, r, roots, fl.mode)

			comm := strings.TrimSpace(readFixture(t, filepath.Join(roots.Proc, "1/comm")))
			wantPID1 := comm == "systemd" && exists(filepath.Join(roots.Run, "systemd/system"))
			if r.Systemd.PID1 != wantPID1 || r.Systemd.PID1Comm != comm {
				t.Errorf("systemd pid1=%v comm=%q, want %v %q", r.Systemd.PID1, r.Systemd.PID1Comm, wantPID1, comm)
			}
			if r.Systemd.Version != "252" || !r.Systemd.DBus.Available {
				t.Errorf("systemd version %q, bus %+v: the fake manager answered 252", r.Systemd.Version, r.Systemd.DBus)
			}

			checkDrivers(t, r, dir)

			want := slices.Clone(fl.findings)
			slices.Sort(want)
			if got := codes(r.Findings); !slices.Equal(got, want) {
				t.Errorf("findings %q, want %q\n%+v", got, want, r.Findings)
			}
			for _, f := range r.Findings {
				if !slices.Contains([]string{driver.SeverityInfo, driver.SeverityWarning, driver.SeverityCritical}, f.Severity) ||
					f.Message == "" || strings.Contains(f.Message, "\n") {
					t.Errorf("finding %+v: want a known severity and a one-line message", f)
				}
			}
		})
	}
}

// checkDelegation compares the report with the cgroup.subtree_control files.
func checkDelegation(t *testing.T, r detect.Report, roots paths.Roots, mode string) {
	t.Helper()
	if mode != "unified" {
		if len(r.Cgroup.Delegation) != 0 {
			t.Errorf("delegation %+v on a %s host: only v2 has subtree_control for memory", r.Cgroup.Delegation, mode)
		}
		return
	}
	seen := map[string]bool{}
	for _, d := range r.Cgroup.Delegation {
		cg := strings.TrimPrefix(d.Cgroup, "/")
		ctrl := readFixture(t, filepath.Join(roots.Cgroup, cg, "cgroup.subtree_control"))
		if want := slices.Contains(strings.Fields(ctrl), "memory"); d.MemoryEnabled != want {
			t.Errorf("%s: memory enabled %v, subtree_control says %q", d.Cgroup, d.MemoryEnabled, ctrl)
		}
		seen[d.Cgroup] = true
	}
	kube := "kubepods.slice"
	if exists(filepath.Join(roots.Cgroup, "kubepods")) {
		kube = "kubepods"
	}
	if !seen["/"] || !seen[kube] {
		t.Errorf("delegation %+v lacks the root or %s", r.Cgroup.Delegation, kube)
	}
}

func checkKernel(t *testing.T, r detect.Report, roots paths.Roots, mode string) {
	t.Helper()
	k := r.Kernel
	if want := strings.TrimSpace(readFixture(t, filepath.Join(roots.Proc, "sys/kernel/osrelease"))); k.Release != want {
		t.Errorf("release %q, want %q", k.Release, want)
	}
	if want := exists(filepath.Join(roots.Proc, "pressure/memory")); k.NodePSI.Available != want {
		t.Errorf("node PSI %+v, file present: %v", k.NodePSI, want)
	}
	wantCgPSI := r.Cgroup.UnifiedDir != "" && exists(filepath.Join(r.Cgroup.UnifiedDir, "memory.pressure"))
	if k.CgroupPSI.Available != wantCgPSI {
		t.Errorf("cgroup PSI %+v, want available=%v", k.CgroupPSI, wantCgPSI)
	}
	if mode == "legacy" && !strings.Contains(k.CgroupPSI.Detail, "legacy") {
		t.Errorf("cgroup PSI on legacy: %q does not say why", k.CgroupPSI.Detail)
	}
	// Live is off: nothing that writes to a kernel file is tried.
	if k.PSITriggers.Available || !strings.Contains(k.PSITriggers.Detail, "not probed") {
		t.Errorf("PSI triggers %+v on a fixture root", k.PSITriggers)
	}
	wantReclaim := mode == "unified" && exists(filepath.Join(roots.Cgroup, "memory.reclaim"))
	if k.MemoryReclaim.Available != wantReclaim {
		t.Errorf("memory.reclaim %+v, want available=%v", k.MemoryReclaim, wantReclaim)
	}
	if k.ReclaimSwappiness.Available {
		t.Errorf("reclaim swappiness %+v: never known without the live kernel", k.ReclaimSwappiness)
	}
}

// checkDrivers compares each component with the driver its configuration
// file sets, and the tree with the directories present.
func checkDrivers(t *testing.T, r detect.Report, dir string) {
	t.Helper()
	names := []string{driver.NameKubelet, driver.NameContainerd, driver.NameCRIO, driver.NameDocker, driver.NameTree}
	if len(r.Drivers) != len(names) {
		t.Fatalf("%d driver entries, want %d", len(r.Drivers), len(names))
	}
	for i, c := range r.Drivers {
		if c.Name != names[i] {
			t.Errorf("driver %d is %s, want %s", i, c.Name, names[i])
			continue
		}
		if c.Err != nil {
			t.Errorf("%s: %v", c.Name, c.Err)
		}
		var want string
		if c.Name == driver.NameTree {
			switch {
			case exists(filepath.Join(r.Cgroup.MemoryDir, "kubepods.slice")):
				want = "systemd"
			case exists(filepath.Join(r.Cgroup.MemoryDir, "kubepods")):
				want = "cgroupfs"
			}
		} else {
			want = configuredDriver(t, dir, c.Name)
		}
		if c.Installed != (want != "") || string(c.Driver) != want {
			t.Errorf("%s: installed=%v driver=%q, the fixture says %q (%s)", c.Name, c.Installed, c.Driver, want, c.Evidence)
		}
		if c.Installed && c.Evidence == "" || !c.Installed && c.Why == "" {
			t.Errorf("%s: no evidence or reason: %+v", c.Name, c)
		}
	}
}

func TestV1FindingSeverityFollowsSystemdVersion(t *testing.T) {
	for _, tc := range []struct {
		version string
		sev     string
	}{
		{"252", driver.SeverityInfo},
		{"255.4-1", driver.SeverityInfo},
		{"256.7-1", driver.SeverityWarning},
		{"", driver.SeverityInfo}, // bus down: version unknown, no claim about the next boot
	} {
		mgr := fakeManager{version: tc.version}
		if tc.version == "" {
			mgr.err = errors.New("no bus")
		}
		r := runOn(t, fixtures.Dir("legacy"), ext4, mgr)
		f, ok := findingOf(r.Findings, detect.CodeCgroupV1)
		if !ok || f.Severity != tc.sev {
			t.Errorf("systemd %q: v1 finding %+v (present %v), want severity %s", tc.version, f, ok, tc.sev)
		}
	}
}

func TestBusErrorIsReported(t *testing.T) {
	r := runOn(t, fixtures.Dir("v2-systemd"), ext4, fakeManager{err: errors.New("dial unix /run/dbus/system_bus_socket: no such file")})
	if r.Systemd.DBus.Available || !strings.Contains(r.Systemd.DBus.Detail, "system_bus_socket") || r.Systemd.Version != "" {
		t.Errorf("systemd %+v: the bus error must be the reason", r.Systemd)
	}
	if !r.Systemd.PID1 {
		t.Error("PID 1 is told from /proc and /run, not from the bus")
	}
	// Without a manager (fixture roots, --no-dbus) the bus is not tried.
	r = detect.Run(context.Background(), detect.Options{Roots: fixtures.Roots("v2-systemd"), StatFS: ext4})
	if r.Systemd.DBus.Available || !strings.Contains(r.Systemd.DBus.Detail, "not tried") {
		t.Errorf("no manager: D-Bus %+v", r.Systemd.DBus)
	}
}

// Hosts that lack a piece get a report saying so, never a failure.
func TestMissingPieces(t *testing.T) {
	for _, tc := range []struct {
		name  string
		base  string
		edit  func(t *testing.T, dir string)
		check func(t *testing.T, r detect.Report)
	}{
		{
			name: "no /proc/pressure", base: "v2-systemd",
			edit: func(t *testing.T, dir string) { removeAll(t, filepath.Join(dir, "proc/pressure")) },
			check: func(t *testing.T, r detect.Report) {
				if r.Kernel.NodePSI.Available || !strings.Contains(r.Kernel.NodePSI.Detail, "pressure/memory") {
					t.Errorf("node PSI %+v", r.Kernel.NodePSI)
				}
				if r.Kernel.PSITriggers.Available || r.Kernel.PSITriggers.Detail != "no PSI" {
					t.Errorf("PSI triggers %+v", r.Kernel.PSITriggers)
				}
				if f, ok := findingOf(r.Findings, detect.CodeNoPSI); !ok || f.Severity != driver.SeverityWarning {
					t.Errorf("findings %+v lack a no-psi warning", r.Findings)
				}
			},
		},
		{
			name: "no memory.reclaim", base: "v2-systemd",
			edit: func(t *testing.T, dir string) { removeAll(t, filepath.Join(dir, "sys/fs/cgroup/memory.reclaim")) },
			check: func(t *testing.T, r detect.Report) {
				if r.Kernel.MemoryReclaim.Available || !strings.Contains(r.Kernel.MemoryReclaim.Detail, "5.19") {
					t.Errorf("memory.reclaim %+v", r.Kernel.MemoryReclaim)
				}
				if _, ok := findingOf(r.Findings, detect.CodeNoReclaim); !ok {
					t.Errorf("findings %+v lack %s", r.Findings, detect.CodeNoReclaim)
				}
			},
		},
		{
			name: "memory not delegated to kubepods.slice", base: "v2-systemd",
			edit: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "sys/fs/cgroup/kubepods.slice/cgroup.subtree_control"), "pids\n")
			},
			check: func(t *testing.T, r detect.Report) {
				f, ok := findingOf(r.Findings, detect.CodeMemoryNotDelegated)
				if !ok || !strings.Contains(f.Message, "kubepods.slice") || strings.Contains(f.Message, "system.slice") {
					t.Errorf("finding %+v (present %v): want kubepods.slice named, system.slice not", f, ok)
				}
			},
		},
		{
			name: "booted with cgroup_disable=memory", base: "v2-systemd",
			edit: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "sys/fs/cgroup/cgroup.controllers"), "cpuset cpu io hugetlb pids rdma misc\n")
			},
			check: func(t *testing.T, r detect.Report) {
				if r.Cgroup.Memory.Available {
					t.Errorf("memory controller %+v", r.Cgroup.Memory)
				}
				if f, ok := findingOf(r.Findings, detect.CodeNoMemoryController); !ok || f.Severity != driver.SeverityCritical {
					t.Errorf("findings %+v lack a critical %s", r.Findings, detect.CodeNoMemoryController)
				}
			},
		},
		{
			name: "v1 memory controller not mounted", base: "legacy",
			edit: func(t *testing.T, dir string) { removeAll(t, filepath.Join(dir, "sys/fs/cgroup/memory")) },
			check: func(t *testing.T, r detect.Report) {
				if r.Cgroup.Mode != "legacy" || r.Cgroup.MemoryDir != "" || r.Cgroup.Memory.Available {
					t.Errorf("cgroup %+v", r.Cgroup)
				}
				if _, ok := findingOf(r.Findings, detect.CodeNoMemoryController); !ok {
					t.Errorf("findings %+v lack %s", r.Findings, detect.CodeNoMemoryController)
				}
				if tree := r.Drivers[4]; tree.Installed {
					t.Errorf("tree %+v without a memory hierarchy", tree)
				}
			},
		},
		{
			name: "empty cgroup root", base: "v2-systemd",
			edit: func(t *testing.T, dir string) {
				removeAll(t, filepath.Join(dir, "sys/fs/cgroup"))
				if err := os.MkdirAll(filepath.Join(dir, "sys/fs/cgroup"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, r detect.Report) {
				if r.Cgroup.Mode != "unknown" || !strings.Contains(r.Cgroup.Error, "sys/fs/cgroup") || r.Cgroup.Memory.Available {
					t.Errorf("cgroup %+v", r.Cgroup)
				}
				if r.Kernel.MemoryReclaim.Available || r.Kernel.CgroupPSI.Available || !r.Kernel.NodePSI.Available {
					t.Errorf("kernel %+v: no hierarchy, node PSI still there", r.Kernel)
				}
				if len(r.Drivers) != 5 || r.Drivers[0].Driver != driver.Systemd {
					t.Errorf("drivers %+v: the configs are still read", r.Drivers)
				}
			},
		},
		{
			name: "nothing at all", base: "",
			check: func(t *testing.T, r detect.Report) {
				if r.Cgroup.Mode != "unknown" || r.Kernel.Release != "unknown" || r.Systemd.PID1 || r.Kernel.NodePSI.Available {
					t.Errorf("report %+v", r)
				}
				if f, ok := findingOf(r.Findings, detect.CodeNoSystemd); !ok || !strings.Contains(f.Message, "unknown") {
					t.Errorf("findings %+v: PID 1 unknown must be said", r.Findings)
				}
				for _, c := range r.Drivers {
					if c.Installed {
						t.Errorf("%s installed on an empty host", c.Name)
					}
				}
			},
		},
		{
			name: "containerd on cgroupfs, kubelet and tree on systemd", base: "v2-systemd",
			edit: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "etc/containerd/config.toml"),
					readFixture(t, filepath.Join(fixtures.Dir("v2-cgroupfs"), "etc/containerd/config.toml")))
			},
			check: func(t *testing.T, r detect.Report) {
				f, ok := findingOf(r.Findings, driver.CodeKubeletRuntimeMismatch)
				if !ok || !strings.Contains(f.Message, "kubelet uses systemd") || !strings.Contains(f.Message, "containerd uses cgroupfs") {
					t.Errorf("mismatch finding %+v (present %v)", f, ok)
				}
				f, ok = findingOf(r.Findings, driver.CodeDiffersFromTree)
				if !ok || !strings.HasPrefix(f.Message, "containerd is set to cgroupfs") {
					t.Errorf("differs-from-tree finding %+v (present %v)", f, ok)
				}
				if _, ok := findingOf(r.Findings, driver.CodeCgroupfsOnSystemd); !ok {
					t.Errorf("findings %+v: containerd on cgroupfs under systemd PID 1 is two managers", r.Findings)
				}
			},
		},
		{
			name: "CRI-O drop-in switches to cgroupfs under a systemd kubelet", base: "hybrid-systemd",
			edit: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "etc/crio/crio.conf.d/20-cgroupfs.conf"), "[crio.runtime]\ncgroup_manager = \"cgroupfs\"\n")
			},
			check: func(t *testing.T, r detect.Report) {
				// The kubelet's runtime endpoint names CRI-O, so CRI-O is the one compared.
				f, ok := findingOf(r.Findings, driver.CodeKubeletRuntimeMismatch)
				if !ok || !strings.Contains(f.Message, "crio uses cgroupfs") || !strings.Contains(f.Message, "20-cgroupfs.conf") {
					t.Errorf("mismatch finding %+v (present %v)", f, ok)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.base != "" {
				dir = fixtures.CopyDir(t, tc.base)
			}
			if tc.edit != nil {
				tc.edit(t, dir)
			}
			r := runOn(t, dir, ext4, fakeManager{version: "252"})
			tc.check(t, r)
			var b bytes.Buffer
			if err := r.WriteText(&b); err != nil || b.Len() == 0 {
				t.Errorf("WriteText: %v, %d bytes", err, b.Len())
			}
		})
	}
}

func removeAll(t *testing.T, p string) {
	t.Helper()
	if !exists(p) {
		t.Fatalf("%s is not in the fixture: the test no longer removes anything", p)
	}
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
}

func TestWriteTextSections(t *testing.T) {
	for _, fl := range flavours {
		t.Run(fl.name, func(t *testing.T) {
			r := runOn(t, fixtures.Dir(fl.name), statfsOf(fl.magic), fakeManager{version: "252"})
			var b bytes.Buffer
			if err := r.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			lines := strings.Split(out, "\n")
			for _, section := range []string{"cgroup", "kernel", "systemd", "cgroup drivers", "findings"} {
				if !slices.Contains(lines, section) {
					t.Errorf("no %q section:\n%s", section, out)
				}
			}
			for _, want := range []string{
				"  mode ", fl.mode, "  release ", r.Kernel.Release, "  node PSI ", "  cgroup PSI ", "  PSI triggers ",
				"  memory.reclaim ", "  PID 1 ", "  version  ", "252", "  D-Bus ",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("text lacks %q:\n%s", want, out)
				}
			}
			for _, c := range r.Drivers {
				if !strings.Contains(out, "  "+c.Name+" ") {
					t.Errorf("text lacks driver %s", c.Name)
				}
			}
			for _, f := range r.Findings {
				if !strings.Contains(out, f.Code) || !strings.Contains(out, f.Message) {
					t.Errorf("text lacks finding %s", f.Code)
				}
			}
			if len(r.Findings) == 0 && !strings.Contains(out, "findings\n  none") {
				t.Errorf("no findings, and the text does not say none:\n%s", out)
			}
			if fl.mode == "unified" && !strings.Contains(out, "subtree_control") {
				t.Errorf("v2 text lacks delegation lines:\n%s", out)
			}
		})
	}
}
