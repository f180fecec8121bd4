package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/fixtures"
)

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = dispatch(context.Background(), &cli{stdout: &out, stderr: &errb}, args)
	return out.String(), errb.String(), code
}

// hostMode derives the cgroup mode of this machine independently of the
// code under test, from statfs alone.
func hostMode(t *testing.T) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &st); err != nil {
		t.Skipf("SKIP: no /sys/fs/cgroup on this machine: %v", err)
	}
	if st.Type == cgroupfs.Cgroup2Magic {
		return "unified"
	}
	if syscall.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == cgroupfs.Cgroup2Magic {
		return "hybrid"
	}
	return "legacy"
}

// detect on the machine running the tests must report what this machine
// really is.
func TestDetectOnThisHost(t *testing.T) {
	mode := hostMode(t)
	out, errOut, code := runCLI(t, "detect", "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	var r struct {
		Cgroup struct {
			Mode string `json:"mode"`
		} `json:"cgroup"`
		Kernel struct {
			Release string `json:"release"`
			NodePSI struct {
				Available bool `json:"available"`
			} `json:"node_psi"`
		} `json:"kernel"`
		Systemd struct {
			PID1     bool   `json:"pid1"`
			PID1Comm string `json:"pid1_comm"`
		} `json:"systemd"`
		Drivers  []json.RawMessage `json:"drivers"`
		Findings []struct {
			Code string `json:"code"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("detect --json is not JSON: %v\n%s", err, out)
	}
	if r.Cgroup.Mode != mode {
		t.Errorf("mode = %q, statfs says %q", r.Cgroup.Mode, mode)
	}
	rel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	if r.Kernel.Release != strings.TrimSpace(string(rel)) {
		t.Errorf("release = %q, /proc says %q", r.Kernel.Release, rel)
	}
	_, psiErr := os.Stat("/proc/pressure/memory")
	if r.Kernel.NodePSI.Available != (psiErr == nil) {
		t.Errorf("node PSI available = %v, but stat /proc/pressure/memory: %v", r.Kernel.NodePSI.Available, psiErr)
	}
	comm, _ := os.ReadFile("/proc/1/comm")
	if r.Systemd.PID1Comm != strings.TrimSpace(string(comm)) {
		t.Errorf("pid1_comm = %q, /proc/1/comm = %q", r.Systemd.PID1Comm, comm)
	}
	_, runErr := os.Stat("/run/systemd/system")
	if wantPID1 := strings.TrimSpace(string(comm)) == "systemd" && runErr == nil; r.Systemd.PID1 != wantPID1 {
		t.Errorf("pid1 = %v, want %v", r.Systemd.PID1, wantPID1)
	}
	if len(r.Drivers) != 5 {
		t.Errorf("%d driver entries, want 5 (kubelet, containerd, crio, docker, tree)", len(r.Drivers))
	}
	if mode != "unified" && !hasCode(r.Findings, "cgroup-v1-end-of-life") {
		t.Errorf("no cgroup v1 finding on a %s host: %+v", mode, r.Findings)
	}
	text, _, code := runCLI(t, "detect")
	if code != 0 || !strings.Contains(text, "mode") || !strings.Contains(text, mode) || !strings.Contains(text, "findings") {
		t.Errorf("text report lacks the mode or findings:\n%s", text)
	}
}

func hasCode(fs []struct {
	Code string `json:"code"`
}, code string) bool {
	for _, f := range fs {
		if f.Code == code {
			return true
		}
	}
	return false
}

func TestStatusOnThisHost(t *testing.T) {
	hostMode(t)
	out, errOut, code := runCLI(t, "status", "--json", "--depth", "2")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	var st struct {
		Mode string `json:"mode"`
		Rows []struct {
			Name         string  `json:"name"`
			CurrentBytes *uint64 `json:"current_bytes"`
			SlabRecl     *uint64 `json:"slab_reclaimable_bytes"`
			Dentries     *uint64 `json:"dentries"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if len(st.Rows) == 0 || st.Rows[0].Name != "node" {
		t.Fatalf("first row is not the node: %+v", st.Rows)
	}
	node := st.Rows[0]
	if node.CurrentBytes == nil || *node.CurrentBytes == 0 || node.SlabRecl == nil || node.Dentries == nil {
		t.Errorf("node row incomplete: %+v", node)
	}
	if st.Mode != hostMode(t) {
		t.Errorf("mode %q", st.Mode)
	}
	if st.Mode != "unified" {
		for _, r := range st.Rows[1:] {
			if r.SlabRecl != nil {
				t.Errorf("%s: slab_reclaimable %d on a v1 memory controller, which has none", r.Name, *r.SlabRecl)
			}
		}
	}
	text, _, code := runCLI(t, "status")
	if code != 0 || !strings.HasPrefix(text, "NAME") || !strings.Contains(text, "\nnode ") {
		t.Errorf("text status:\n%s", text)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"nope"}, {"detect", "extra"}, {"status", "--depth", "0"}, {"explain"}, {"status", "--bogus"},
	} {
		if _, _, code := runCLI(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	if _, errOut, code := runCLI(t, "status", "--sort", "colour"); code != 2 || !strings.Contains(errOut, `unknown sort key "colour"`) {
		t.Errorf("bad sort key: exit %d, %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "explain", "no-such.service"); code != 1 || !strings.Contains(errOut, "no-such.service") {
		t.Errorf("unknown unit: exit %d, %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "explain"); code != 2 || !strings.HasPrefix(errOut, "memrelief explain: explain needs a UNIT, PATH or NAMESPACE/POD\nusage: memrelief explain ") {
		t.Errorf("explain without a target: exit %d, %q", code, errOut)
	}
	root := fixtures.Dir("v2-systemd")
	if _, errOut, code := runCLI(t, "explain", "--root", root, "never/there"); code != 1 || !strings.Contains(errOut, `no such cgroup "never/there"`) || strings.Contains(errOut, "gone") {
		t.Errorf("explain of a cgroup that never was: exit %d, %q", code, errOut)
	}
	// A cgroup that is no pod or unit is named once, not in a title too.
	bare, _, _ := runCLI(t, "explain", "--root", fixtures.Dir("hybrid-dev"), "process_api")
	if strings.Count(bare, "process_api") != 1 || !strings.HasPrefix(bare, "cgroup /process_api, hybrid hierarchy\n\n") {
		t.Errorf("explain of a bare cgroup starts:\n%.200s", bare)
	}
	out, _, code := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "memrelief dev (commit unknown, go1.") {
		t.Errorf("version: %d %q", code, out)
	}
}
