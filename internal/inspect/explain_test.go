package inspect

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/fixtures"
	"github.com/memrelief/memrelief/internal/paths"
)

func explain(t *testing.T, roots paths.Roots, target string, pods PodResolver) Explanation {
	t.Helper()
	e, err := Explain(ExplainOptions{Roots: roots, Layout: layoutOf(t, roots), Target: target, Pods: pods})
	if err != nil {
		t.Fatalf("Explain(%q): %v", target, err)
	}
	return e
}

func part(e Explanation, name string) (Part, bool) {
	i := slices.IndexFunc(e.Breakdown, func(p Part) bool { return p.Name == name })
	if i < 0 {
		return Part{}, false
	}
	return e.Breakdown[i], true
}

// inotifyWatches counts, from the fixture's files, the watches of a
// process: "inotify wd:" lines in fdinfo of the fds linked to an inotify
// instance.
func inotifyWatches(t *testing.T, procRoot string, pid int) int {
	t.Helper()
	fdDir := filepath.Join(procRoot, strconv.Itoa(pid), "fd")
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if target, _ := os.Readlink(filepath.Join(fdDir, e.Name())); target == "anon_inode:inotify" {
			n += strings.Count(fileText(t, filepath.Join(procRoot, strconv.Itoa(pid), "fdinfo", e.Name())), "inotify wd:")
		}
	}
	return n
}

// The captured container on v2: most of its memory is negative dentries.
func TestExplainV2Container(t *testing.T) {
	for _, name := range []string{"v2-systemd", "v2-cgroupfs"} {
		t.Run(name, func(t *testing.T) {
			roots := fixtures.Roots(name)
			cg := agentCgroup(name)
			dir := filepath.Join(roots.Cgroup, cg)
			ms := keyed(t, filepath.Join(dir, "memory.stat"))
			current := fileUint(t, filepath.Join(dir, "memory.current"))
			e := explain(t, roots, cg, nil)

			if e.Cgroup != cg || e.CurrentBytes != current || e.Mode != "unified" {
				t.Errorf("cgroup %q current %d mode %s", e.Cgroup, e.CurrentBytes, e.Mode)
			}
			// Each part is its memory.stat key; together they itemise
			// memory.current up to what memory.stat does not itemise.
			var sum uint64
			for _, p := range e.Breakdown {
				sum += p.Bytes
				key := map[string]string{"file_active": "active_file", "file_inactive": "inactive_file"}[p.Name]
				if key == "" {
					key = p.Name
				}
				if p.Name == "file_other" {
					if p.Bytes != ms["file"]-ms["active_file"]-ms["inactive_file"] {
						t.Errorf("file_other %d", p.Bytes)
					}
				} else if v, ok := ms[key]; !ok || v != p.Bytes {
					t.Errorf("part %s = %d, memory.stat %s = %d (present %v)", p.Name, p.Bytes, key, v, ok)
				}
				if want := float64(p.Bytes) / float64(current); p.Share != want {
					t.Errorf("part %s share %v, want %v", p.Name, p.Share, want)
				}
			}
			if int64(current)-int64(sum) != e.UnaccountedBytes || e.UnaccountedBytes < 0 || float64(e.UnaccountedBytes) > 0.01*float64(current) {
				t.Errorf("breakdown sums to %d of %d, unaccounted %d: want under 1%%", sum, current, e.UnaccountedBytes)
			}
			slab, _ := part(e, "slab_reclaimable")
			if slab.Bytes != ms["slab_reclaimable"] || slab.Share < 0.85 {
				t.Errorf("slab_reclaimable %+v: the capture holds ~76 MiB of dentries in ~86 MiB", slab)
			}
			if e.WorkingSetBytes == nil || *e.WorkingSetBytes != current-ms["inactive_file"] {
				t.Errorf("working set %v, want current - inactive_file = %d", e.WorkingSetBytes, current-ms["inactive_file"])
			}
			if e.WorkingSetSlabReclaimableBytes == nil || *e.WorkingSetSlabReclaimableBytes != ms["slab_reclaimable"] {
				t.Errorf("working set slab %v", e.WorkingSetSlabReclaimableBytes)
			}

			pid := loadPIDs[name]
			st := keyed(t, filepath.Join(roots.Proc, strconv.Itoa(pid), "status"))
			if len(e.Processes) != 1 {
				t.Fatalf("processes %+v, cgroup.procs holds only %d", e.Processes, pid)
			}
			p := e.Processes[0]
			w := inotifyWatches(t, roots.Proc, pid)
			if p.PID != pid || p.Comm != "loadgen" || p.Cgroup != cg || p.RSSAnonBytes != st["RssAnon"]*1024 || p.RSSFileBytes != st["RssFile"]*1024 ||
				p.InotifyWatches == nil || *p.InotifyWatches != w || w != 25 {
				t.Errorf("process %+v; status RssAnon %d kB, %d watches in fdinfo", p, st["RssAnon"], w)
			}
			if p.Cmdline[0] != "/usr/local/bin/loadgen" {
				t.Errorf("cmdline %q", p.Cmdline)
			}
			if e.RSSBytes != p.RSSAnonBytes+p.RSSFileBytes+p.RSSShmemBytes || e.GapBytes != int64(current)-int64(e.RSSBytes) {
				t.Errorf("rss %d gap %d", e.RSSBytes, e.GapBytes)
			}
			if len(e.Gap) == 0 || !strings.HasPrefix(e.Gap[0].Name, "slab_reclaimable") || e.Gap[0].Bytes != ms["slab_reclaimable"] {
				t.Errorf("gap attribution %+v: reclaimable slab first", e.Gap)
			}
			if len(e.Children) != 0 {
				t.Errorf("children %+v of a container", e.Children)
			}
			pct := fmt.Sprintf("%.0f%%", 100*float64(ms["slab_reclaimable"])/float64(current))
			if !strings.HasPrefix(e.Verdict, pct+" of this cgroup's memory") || !strings.Contains(e.Verdict, "reclaimable slab") {
				t.Errorf("verdict does not lead with %s reclaimable slab:\n%s", pct, e.Verdict)
			}
			// 25 watches is a small program, not a log agent walking a tree.
			if strings.Contains(e.Verdict, "inotify") {
				t.Errorf("verdict names a watcher with %d watches:\n%s", w, e.Verdict)
			}
		})
	}
}

// With as many watches as a log agent over /var/log/pods holds, the verdict
// names the process.
func TestExplainNamesManyWatches(t *testing.T) {
	dir := fixtures.CopyDir(t, "v2-systemd")
	roots := paths.Under(dir)
	fdinfo := filepath.Join(roots.Proc, "272/fdinfo/6")
	// Repeat the captured watch lines with fresh descriptors, as a deeper
	// tree would give.
	head, lines := "", []string{}
	for _, l := range strings.Split(strings.TrimSpace(fileText(t, fdinfo)), "\n") {
		if strings.HasPrefix(l, "inotify wd:") {
			lines = append(lines, l)
		} else {
			head += l + "\n"
		}
	}
	var b strings.Builder
	b.WriteString(head)
	for i := range 1200 {
		l := lines[i%len(lines)]
		fmt.Fprintf(&b, "inotify wd:%x %s\n", i+1, strings.SplitN(l, " ", 3)[2]) // "inotify wd:N ino:..."
	}
	if err := os.WriteFile(fdinfo, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{agentCgroup("v2-systemd"), podUnit} {
		e := explain(t, roots, target, nil)
		if !strings.Contains(e.Verdict, "loadgen (pid 272) holds 1200 inotify watches") || !strings.Contains(e.Verdict, "reclaimable slab") {
			t.Errorf("%s: verdict does not name the watcher:\n%s", target, e.Verdict)
		}
	}
}

// fakePods names the captured pod, as the kubelet's logs do.
type fakePods struct{ asked []string }

var _ PodResolver = (*fakePods)(nil)

func (f *fakePods) CgroupOfPod(rd *cgroupfs.Reader, ns, name string) (string, error) {
	f.asked = append(f.asked, ns+"/"+name)
	if ns == "logging" && name == "log-agent" {
		return podSlice, nil
	}
	return "", errors.New("no such pod in the logs")
}

func (f *fakePods) PodOf(cg string) *Pod {
	if !strings.HasPrefix(cg, podSlice) {
		return nil
	}
	p := &Pod{Namespace: "logging", Name: "log-agent", UID: "1234-5678", QoS: "burstable"}
	switch {
	case strings.Contains(cg, agentID):
		p.Container = "agent"
	case strings.Contains(cg, stressID):
		p.Container = "stress"
	}
	return p
}

func TestExplainPod(t *testing.T) {
	roots := fixtures.Roots("v2-systemd")
	dir := filepath.Join(roots.Cgroup, podSlice)
	pods := &fakePods{}
	byUnit := explain(t, roots, podUnit, pods)
	byPath := explain(t, roots, "/"+podSlice, pods)
	byAbs := explain(t, roots, dir, pods)
	byPod := explain(t, roots, "logging/log-agent", pods)
	if !slices.Equal(pods.asked, []string{"logging/log-agent"}) {
		t.Errorf("resolver asked for %q: only a target that is no cgroup is a pod", pods.asked)
	}
	for _, e := range []Explanation{byUnit, byPath, byAbs, byPod} {
		if e.Cgroup != podSlice || e.Unit != podUnit {
			t.Errorf("target %q: cgroup %q unit %q", e.Target, e.Cgroup, e.Unit)
		}
		if e.Pod == nil || e.Pod.Name != "log-agent" || e.Pod.Container != "" {
			t.Errorf("target %q: pod %+v", e.Target, e.Pod)
		}
	}
	e := byPod
	if e.CurrentBytes != fileUint(t, filepath.Join(dir, "memory.current")) {
		t.Errorf("current %d", e.CurrentBytes)
	}
	// Children: both containers, biggest first, named by the resolver.
	if len(e.Children) != 2 {
		t.Fatalf("children %+v", e.Children)
	}
	for i, want := range []struct{ id, container string }{{agentID, "agent"}, {stressID, "stress"}} {
		c := e.Children[i]
		cur := fileUint(t, filepath.Join(dir, c.Name, "memory.current"))
		if !strings.Contains(c.Name, want.id) || c.Container != want.container || c.CurrentBytes != cur {
			t.Errorf("child %d %+v, want %s (%s, current %d)", i, c, want.container, want.id, cur)
		}
	}
	// Processes come from the whole subtree; the stress processes (274,
	// 285, 286 in cgroup.procs) have no /proc in the capture and count as
	// exited.
	if len(e.Processes) != 1 || e.Processes[0].PID != 272 || e.Processes[0].Cgroup != agentCgroup("v2-systemd") {
		t.Errorf("processes %+v", e.Processes)
	}
	if !strings.Contains(e.Verdict, "reclaimable slab") {
		t.Errorf("verdict:\n%s", e.Verdict)
	}
	var b bytes.Buffer
	if err := e.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"pod logging/log-agent (uid 1234-5678, burstable)\n", "cgroup " + podSlice + ", unified hierarchy\n",
		"memory.current ", "  slab_reclaimable ", "  not itemised ", "working set ", "process RSS ", "gap ",
		"CHILD ", " agent ", " stress ", "PID ", "272 ", "loadgen ", " 25 ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}

	scope := explain(t, roots, "cri-containerd-"+agentID+".scope", pods)
	var sb bytes.Buffer
	if err := scope.WriteText(&sb); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sb.String(), "container agent of pod logging/log-agent (uid 1234-5678, burstable)\n") {
		t.Errorf("container title:\n%s", sb.String())
	}
}

func TestExplainV1(t *testing.T) {
	for _, name := range []string{"legacy", "hybrid-systemd"} {
		t.Run(name, func(t *testing.T) {
			roots := fixtures.Roots(name)
			cg := agentCgroup(name)
			dir := filepath.Join(roots.Cgroup, "memory", cg)
			ms := keyed(t, filepath.Join(dir, "memory.stat"))
			usage := fileUint(t, filepath.Join(dir, "memory.usage_in_bytes"))
			kmem := fileUint(t, filepath.Join(dir, "memory.kmem.usage_in_bytes"))
			e := explain(t, roots, filepath.Base(cg), nil)
			if e.Cgroup != cg || e.CurrentBytes != usage || e.High.Known || !e.Max.Unlimited {
				t.Errorf("cgroup %q current %d high %+v max %+v", e.Cgroup, e.CurrentBytes, e.High, e.Max)
			}
			if _, ok := part(e, "slab_reclaimable"); ok {
				t.Errorf("breakdown %+v has slab on v1", e.Breakdown)
			}
			k, ok := part(e, "kernel (kmem, slab included)")
			if !ok || k.Bytes != kmem {
				t.Errorf("kmem part %+v, file %d", k, kmem)
			}
			if a, _ := part(e, "anon"); a.Bytes != ms["total_rss"] {
				t.Errorf("anon %d, total_rss %d", a.Bytes, ms["total_rss"])
			}
			if e.UnaccountedBytes < 0 || float64(e.UnaccountedBytes) > 0.01*float64(usage) {
				t.Errorf("unaccounted %d of %d", e.UnaccountedBytes, usage)
			}
			if e.WorkingSetBytes == nil || *e.WorkingSetBytes != usage-ms["total_inactive_file"] || e.WorkingSetSlabReclaimableBytes != nil {
				t.Errorf("working set %v, slab part %v", e.WorkingSetBytes, e.WorkingSetSlabReclaimableBytes)
			}
			pid := loadPIDs[name]
			if len(e.Processes) != 1 || e.Processes[0].PID != pid || e.Processes[0].InotifyWatches == nil || *e.Processes[0].InotifyWatches != inotifyWatches(t, roots.Proc, pid) {
				t.Errorf("processes %+v", e.Processes)
			}
			pct := fmt.Sprintf("%.0f%%", 100*float64(kmem)/float64(usage))
			if !strings.HasPrefix(e.Verdict, pct+" of this cgroup's memory") || !strings.Contains(e.Verdict, "kernel memory") || !strings.Contains(e.Verdict, "cgroup v1") {
				t.Errorf("verdict does not lead with %s kernel memory:\n%s", pct, e.Verdict)
			}
		})
	}
}

func TestExplainErrors(t *testing.T) {
	roots := fixtures.Roots("v2-systemd")
	l := layoutOf(t, roots)
	for _, tc := range []struct {
		target string
		pods   PodResolver
		want   []string
	}{
		{"no-such.service", nil, []string{"no-such.service"}},
		{"logging/log-agent", nil, []string{`"logging/log-agent"`}},
		{"web/nope", &fakePods{}, []string{"web/nope", "neither a cgroup", "no such pod in the logs"}},
		// Cleaned below the root, never above it.
		{"../../etc", nil, []string{`no cgroup "../../etc"`, filepath.Join(roots.Cgroup, "etc")}},
	} {
		_, err := Explain(ExplainOptions{Roots: roots, Layout: l, Target: tc.target, Pods: tc.pods})
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("Explain(%q) = %v; want an error containing %q", tc.target, err, w)
			}
		}
	}
	// A cgroup whose memory files vanished is an error naming it.
	dir := fixtures.CopyDir(t, "v2-systemd")
	r2 := paths.Under(dir)
	if err := os.Remove(filepath.Join(r2.Cgroup, "user.slice/memory.current")); err != nil {
		t.Fatal(err)
	}
	_, err := Explain(ExplainOptions{Roots: r2, Layout: layoutOf(t, r2), Target: "user.slice"})
	if !errors.Is(err, cgroupfs.ErrGone) || !strings.Contains(err.Error(), "user.slice") {
		t.Errorf("vanished cgroup: %v", err)
	}
}
