package inspect

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/paths"
)

// Fixture facts the tests read back from the files themselves; these
// helpers parse them in the simplest way, independently of the readers
// under test.

// filesOnly detects the layout from the files present, as for any fixture.
func filesOnly(string) (int64, error) { return 0, nil }

func layoutOf(t *testing.T, roots paths.Roots) cgroupfs.Layout {
	t.Helper()
	l, err := cgroupfs.DetectLayout(roots.Cgroup, filesOnly)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func fileText(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return string(data)
}

func fileUint(t *testing.T, path string) uint64 {
	t.Helper()
	s := strings.TrimSpace(fileText(t, path))
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("fixture %s: %v", path, err)
	}
	return n
}

// keyed parses "key value" lines (memory.stat) and "Key: value kB" lines
// (meminfo, status), values in the file's unit.
func keyed(t *testing.T, path string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, line := range strings.Split(fileText(t, path), "\n") {
		f := strings.Fields(strings.Replace(line, ":", " ", 1))
		if len(f) < 2 {
			continue
		}
		if n, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			out[f[0]] = n
		}
	}
	return out
}

// avg10 returns the some (or full) avg10 of a pressure file.
func avg10(t *testing.T, path, kind string) float64 {
	t.Helper()
	for _, line := range strings.Split(fileText(t, path), "\n") {
		if rest, ok := strings.CutPrefix(line, kind+" avg10="); ok {
			v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			if err != nil {
				t.Fatalf("fixture %s: %v", path, err)
			}
			return v
		}
	}
	t.Fatalf("fixture %s: no %s line", path, kind)
	return 0
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// The captured pod (CAPTURED of each flavour).
const (
	agentID  = "18dfc9b45b0889a3e9422f36b47db6bc1a4062551351f333bbc8af8fbba421cc"
	stressID = "712926b079e2569857847b10c6d933822f402f94e4cf0b2e7edc31c30862c35c"
	podSlice = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice"
	podUnit  = "kubepods-burstable-pod1234_5678.slice"
)

// loadPIDs are the loadgen processes of each flavour, from CAPTURED.
var loadPIDs = map[string]int{"v2-systemd": 272, "v2-cgroupfs": 272, "hybrid-systemd": 274, "legacy": 302}

// agentCgroup is the loadgen container's cgroup path in each flavour.
func agentCgroup(flavour string) string {
	switch flavour {
	case "v2-cgroupfs":
		return "kubepods/burstable/pod1234-5678/" + agentID
	case "hybrid-systemd":
		return podSlice + "/crio-" + agentID + ".scope"
	}
	return podSlice + "/cri-containerd-" + agentID + ".scope"
}
