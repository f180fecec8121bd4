package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/fixtures"
	"github.com/memrelief/memrelief/internal/paths"
)

// What the fixtures' pod logs say (CAPTURED): pod logging/log-agent, uid
// 1234-5678, container "agent" is the loadgen container 18dfc9b4....
const (
	agentID = "18dfc9b45b0889a3e9422f36b47db6bc1a4062551351f333bbc8af8fbba421cc"
	podUID  = "1234-5678"
)

func readerOf(t *testing.T, roots paths.Roots) *cgroupfs.Reader {
	t.Helper()
	l, err := cgroupfs.DetectLayout(roots.Cgroup, func(string) (int64, error) { return 0, nil })
	if err != nil {
		t.Fatal(err)
	}
	return cgroupfs.NewReader(l)
}

// podDirOf finds the pod's cgroup in the fixture by its name alone: the
// directory whose name carries the UID in either driver's spelling.
func podDirOf(t *testing.T, memDir string) string {
	t.Helper()
	var found []string
	_ = filepath.WalkDir(memDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && (d.Name() == "pod"+podUID || strings.HasSuffix(d.Name(), "-pod"+strings.ReplaceAll(podUID, "-", "_")+".slice")) {
			rel, _ := filepath.Rel(memDir, p)
			found = append(found, rel)
		}
		return nil
	})
	if len(found) != 1 {
		t.Fatalf("pod directories in %s: %q, want one", memDir, found)
	}
	return found[0]
}

func TestPodResolverOnFlavours(t *testing.T) {
	for _, name := range kubeFlavours {
		t.Run(name, func(t *testing.T) {
			roots := fixtures.Roots(name)
			rd := readerOf(t, roots)
			want := podDirOf(t, rd.L.MemoryDir)
			pr := podResolver(roots)

			cg, err := pr.CgroupOfPod(rd, "logging", "log-agent")
			if err != nil || cg != want {
				t.Fatalf("CgroupOfPod = %q, %v; want %q", cg, err, want)
			}
			pod := pr.PodOf(cg)
			if pod == nil || pod.Namespace != "logging" || pod.Name != "log-agent" || pod.UID != podUID || pod.QoS != "burstable" || pod.Container != "" {
				t.Errorf("PodOf(pod) = %+v", pod)
			}
			kids, err := rd.Children(cg)
			if err != nil {
				t.Fatal(err)
			}
			var agent string
			for _, k := range kids {
				if strings.Contains(k, agentID) {
					agent = cg + "/" + k
				}
			}
			if agent == "" {
				t.Fatalf("no container %s below %s: %q", agentID, cg, kids)
			}
			if c := pr.PodOf(agent); c == nil || c.Container != "agent" || c.Name != "log-agent" {
				t.Errorf("PodOf(%s) = %+v, want container agent", agent, c)
			}
			for _, other := range []string{"", "kubepods.slice", "kubepods", "system.slice/e2e-runner.service"} {
				if p := pr.PodOf(other); p != nil {
					t.Errorf("PodOf(%q) = %+v, want nil", other, p)
				}
			}
			if _, err := pr.CgroupOfPod(rd, "logging", "nope"); err == nil || !strings.Contains(err.Error(), "no pod logging/nope in "+filepath.Join(roots.Log, "pods")) {
				t.Errorf("unknown pod: %v", err)
			}
		})
	}
}

func TestPodResolverRecreatedAndEndedPods(t *testing.T) {
	dir := fixtures.CopyDir(t, "v2-systemd")
	roots := paths.Under(dir)
	// logging/log-agent had an earlier instance whose logs remain; web/old
	// ended and only its logs are left.
	mkdirs(t,
		filepath.Join(roots.Log, "pods/logging_log-agent_0000-1111/agent"),
		filepath.Join(roots.Log, "pods/web_old_2222-3333/nginx"),
	)
	rd := readerOf(t, roots)
	pr := podResolver(roots)
	cg, err := pr.CgroupOfPod(rd, "logging", "log-agent")
	if err != nil || !strings.HasSuffix(cg, "kubepods-burstable-pod1234_5678.slice") {
		t.Errorf("recreated pod: %q, %v; want the instance whose cgroup exists", cg, err)
	}
	if _, err := pr.CgroupOfPod(rd, "web", "old"); err == nil || !strings.Contains(err.Error(), "uid 2222-3333") || !strings.Contains(err.Error(), "no cgroup") {
		t.Errorf("ended pod: %v", err)
	}
	// A pod slice whose UID the logs do not know is no named pod.
	mkdirs(t, filepath.Join(roots.Cgroup, "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod9999_0000.slice"))
	if p := pr.PodOf("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod9999_0000.slice"); p != nil {
		t.Errorf("unknown uid named %+v", p)
	}
}

func TestPodResolverUnreadableIndex(t *testing.T) {
	dir := fixtures.CopyDir(t, "v2-systemd")
	roots := paths.Under(dir)
	pods := filepath.Join(roots.Log, "pods")
	if err := os.RemoveAll(pods); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pods, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	pr := podResolver(roots)
	if p := pr.PodOf("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice"); p != nil {
		t.Errorf("PodOf without an index = %+v", p)
	}
	_, err := pr.CgroupOfPod(readerOf(t, roots), "logging", "log-agent")
	if err == nil || !strings.Contains(err.Error(), "pod index") || !strings.Contains(err.Error(), pods) {
		t.Errorf("CgroupOfPod without an index: %v; want the reason naming %s", err, pods)
	}
}
