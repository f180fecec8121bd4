package inspect

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/fixtures"
	"github.com/memrelief/memrelief/internal/history"
	"github.com/memrelief/memrelief/internal/human"
	"github.com/memrelief/memrelief/internal/paths"
	"github.com/memrelief/memrelief/internal/policy"
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

			if e.Cgroup != "/"+cg || e.CurrentBytes != current || e.Mode != "unified" {
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
			if p.PID != pid || p.Comm != "loadgen" || p.Cgroup != "/"+cg || p.RSSAnonBytes != st["RssAnon"]*1024 || p.RSSFileBytes != st["RssFile"]*1024 ||
				p.InotifyWatches == nil || *p.InotifyWatches != w || w != 25 {
				t.Errorf("process %+v; status RssAnon %d kB, %d watches in fdinfo", p, st["RssAnon"], w)
			}
			if p.Cmdline[0] != "/usr/local/bin/loadgen" {
				t.Errorf("cmdline %q", p.Cmdline)
			}
			if e.RSSBytes != p.RSSAnonBytes+p.RSSFileBytes+p.RSSShmemBytes || e.GapBytes != int64(current)-int64(e.RSSBytes) {
				t.Errorf("rss %d gap %d", e.RSSBytes, e.GapBytes)
			}
			// loadgen's file RSS (1.8M) is charged elsewhere: the gap is
			// smaller than the slab, which gives way to it last.
			if len(e.Gap) == 0 || !strings.HasPrefix(e.Gap[0].Name, "slab_reclaimable") || e.Gap[0].Bytes != min(ms["slab_reclaimable"], uint64(e.GapBytes)) || e.GapOverlapBytes == 0 {
				t.Errorf("gap attribution %+v trimmed by %d: reclaimable slab first, up to the gap %d", e.Gap, e.GapOverlapBytes, e.GapBytes)
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
		if e.Cgroup != "/"+podSlice || e.Unit != podUnit {
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
	if len(e.Processes) != 1 || e.Processes[0].PID != 272 || e.Processes[0].Cgroup != "/"+agentCgroup("v2-systemd") {
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
		"pod logging/log-agent (uid 1234-5678, burstable)\n", "cgroup /" + podSlice + ", unified hierarchy\n",
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
			if e.Cgroup != "/"+cg || e.CurrentBytes != usage || e.HighBytes != nil || e.HighUnlimited || !e.MaxUnlimited || e.MaxBytes != nil {
				t.Errorf("cgroup %q current %d limits %+v", e.Cgroup, e.CurrentBytes, e.Limits)
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
		{"../../etc", nil, []string{`no such cgroup "../../etc"`, filepath.Join(roots.Cgroup, "etc")}},
		// Never there is no such cgroup, not one that is gone.
		{"never/there", nil, []string{`no such cgroup "never/there": no directory ` + filepath.Join(roots.Cgroup, "never/there")}},
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

// trendStart is when synthetic histories begin: a fixed time, not on a
// bucket boundary.
var trendStart = time.Date(2026, 11, 30, 3, 7, 30, 0, time.UTC)

// shape gives the anon, file and reclaimable slab bytes hours after
// trendStart; the other components stay put.
type shape func(hours float64) (anon, file, slabR float64)

// linearAnon leaks 12 MiB/h of heap from 100 MiB: a process leaking.
func linearAnon(h float64) (float64, float64, float64) { return 100*mib + 12*mib*h, 2 * mib, 1 * mib }

// steppedSlab gains 4 MiB of dentries every half hour (8 MiB/h), as an
// agent walking a directory tree on a timer does.
func steppedSlab(h float64) (float64, float64, float64) {
	return 9 * mib, 1 * mib, 60*mib + 4*mib*math.Floor(h*2)
}

func flat(float64) (float64, float64, float64) { return 50 * mib, 5 * mib, 3 * mib }

// sum is a pod holding both containers.
func sum(fs ...shape) shape {
	return func(h float64) (a, f, s float64) {
		for _, fn := range fs {
			da, df, ds := fn(h)
			a, f, s = a+da, f+df, s+ds
		}
		return a, f, s
	}
}

// synthSeries samples f every 30 seconds for span, as the daemon would.
func synthSeries(t *testing.T, key string, tiers []history.Tier, span, every time.Duration, f shape) *history.Series {
	t.Helper()
	s, err := history.NewSeries(key, tiers)
	if err != nil {
		t.Fatal(err)
	}
	for d := time.Duration(0); d < span; d += every {
		a, fi, sr := f(d.Hours())
		var v history.Values
		v.Set(history.Anon, uint64(a))
		v.Set(history.File, uint64(fi))
		v.Set(history.SlabReclaimable, uint64(sr))
		v.Set(history.SlabUnreclaimable, 512<<10)
		v.Set(history.OtherKernel, 1*mib)
		v.Set(history.Current, uint64(a+fi+sr)+512<<10+1*mib)
		if !s.Add(trendStart.Add(d), v) {
			t.Fatalf("sample at %v dropped", d)
		}
	}
	return s
}

// synthTrend estimates a synthetic series as the daemon does.
func synthTrend(t *testing.T, name string, lim *cgroupfs.Memory, span time.Duration, f shape) TrendSeries {
	t.Helper()
	var est history.Estimator
	return savedSeries(&est, &HistoryOptions{}, synthSeries(t, "/pod.slice/"+cmp.Or(name, "pod"), nil, span, 30*time.Second, f), name, lim)
}

func trendText(t *testing.T, tr *Trend) string {
	t.Helper()
	var b bytes.Buffer
	tr.writeText(&b)
	return b.String()
}

// chartRow finds the row of component name in the block of container
// (the cgroup's own block when container is "") and splits it into its
// fields: name, sparkline, first, "->", last, trend.
func chartRow(t *testing.T, text, container, name string) []string {
	t.Helper()
	block := ""
	for _, l := range strings.Split(text, "\n") {
		if c, ok := strings.CutPrefix(l, "  container "); ok {
			block = c
			continue
		}
		if f := strings.Fields(l); block == container && len(f) == 6 && f[0] == name && strings.HasPrefix(l, "  ") {
			return f
		}
	}
	t.Fatalf("no %s row for %q in:\n%s", name, container, text)
	return nil
}

// levels maps each character of a sparkline to its level, lowest 0.
func levels(t *testing.T, spark string, ascii bool) []int {
	t.Helper()
	chars := []rune("▁▂▃▄▅▆▇█")
	if ascii {
		chars = []rune("_.-~=+*#")
	}
	var out []int
	for _, r := range spark {
		i := slices.Index(chars, r)
		if i < 0 {
			t.Fatalf("sparkline %q has %q, not a level", spark, r)
		}
		out = append(out, i)
	}
	return out
}

func monotone(t *testing.T, what string, lv []int) {
	t.Helper()
	if len(lv) < 2 || lv[0] != 0 || lv[len(lv)-1] != 7 || !slices.IsSorted(lv) {
		t.Errorf("%s: levels %v, want a rise from the lowest to the highest", what, lv)
	}
}

// A pod with a heap-leaking container and a dentry-leaking one: each is
// charted, named with its component, the faster first.
func TestTrendNamesTheGrowingContainers(t *testing.T) {
	const span = 6 * time.Hour
	pod := synthTrend(t, "", nil, span, sum(linearAnon, steppedSlab))
	tr := &Trend{Source: TrendFromDaemon, Series: &pod, Containers: []TrendSeries{
		synthTrend(t, "agent", nil, span, steppedSlab), synthTrend(t, "stress", nil, span, linearAnon)}}
	text := trendText(t, tr)
	t.Log("\n" + text)

	if !strings.HasPrefix(text, "Trend: 5m points over the last 6h") || !strings.Contains(text, "(from the running daemon)") {
		t.Errorf("header:\n%s", text)
	}
	anon := chartRow(t, text, "stress", "anon")
	monotone(t, "stress anon", levels(t, anon[1], false))
	if anon[2] != "100M" || anon[4] != "172M" || anon[5] != "+12M/h" {
		t.Errorf("stress anon row %q, want 100M -> 172M +12M/h", anon)
	}
	slab := chartRow(t, text, "agent", "slab_reclaimable")
	monotone(t, "agent slab", levels(t, slab[1], false))
	if slab[5] != "+8.0M/h" {
		t.Errorf("agent slab row %q, want +8.0M/h", slab)
	}
	if f := chartRow(t, text, "agent", "anon"); f[5] != "0/day" || strings.Trim(f[1], "▁") != "" {
		t.Errorf("agent's flat anon row %q, want the lowest level and no trend", f)
	}
	for _, name := range []string{"current", "anon", "file", "slab_reclaimable", "slab_unreclaimable", "other_kernel"} {
		chartRow(t, text, "", name)
	}

	stress := strings.Index(text, "container stress: anon grows 12 MiB/h (100% of growth) since ")
	agent := strings.Index(text, "container agent: slab_reclaimable grows 8.0 MiB/h (100% of growth) since ")
	if stress < 0 || agent < 0 || stress > agent {
		t.Errorf("want the stress line (anon) before the agent line (slab_reclaimable):\n%s", text)
	}
	for _, w := range []string{"a process is leaking", "dentries and inodes", "memory.current grows +20M/h since ",
		"anon grows 12 MiB/h (60% of growth)", "slab_reclaimable grows 8.0 MiB/h (40% of growth)"} {
		if !strings.Contains(text, w) {
			t.Errorf("no %q in:\n%s", w, text)
		}
	}
	if strings.Contains(text, "no steady growth") {
		t.Errorf("growth called none:\n%s", text)
	}
}

func TestTrendForecastsTheLimit(t *testing.T) {
	lim := &cgroupfs.Memory{High: cgroupfs.Unlimited, Max: 232 * mib, HasHigh: true}
	s := synthTrend(t, "stress", lim, 6*time.Hour, linearAnon)
	g := s.Growth
	// memory.current ends near 176.5 MiB: 232 MiB is 55.5 MiB or ~4h 38m
	// away at 12 MiB/h.
	if want := 4*time.Hour + 38*time.Minute; g.ToMax < want*9/10 || g.ToMax > want*11/10 || g.ToHigh != engine.NeverMet {
		t.Fatalf("to memory.max %v, to memory.high %v; want ~%v and never", g.ToMax, g.ToHigh, want)
	}
	text := trendText(t, &Trend{Source: TrendFromDaemon, Containers: []TrendSeries{s}})
	if want := "a process is leaking; reaches memory.max in " + human.Duration(g.ToMax) + "\n"; !strings.Contains(text, want) {
		t.Errorf("no %q in:\n%s", want, text)
	}
	own := synthTrend(t, "", lim, 6*time.Hour, linearAnon)
	if text := trendText(t, &Trend{Source: TrendFromDaemon, Series: &own}); !strings.Contains(text, "at this rate it reaches memory.max in ") {
		t.Errorf("no forecast in:\n%s", text)
	}
}

func TestTrendWithoutGrowth(t *testing.T) {
	for _, tc := range []struct {
		span   time.Duration
		want   string
		points int // > 0: the short-history caveat with this many points
	}{
		{6 * time.Hour, "no steady growth in the last 6h 5m", 0},
		{40 * time.Minute, "no steady growth in the last 45m; history too short for a trend: 9 points, need 12", 9},
	} {
		s := synthTrend(t, "", nil, tc.span, flat)
		text := trendText(t, &Trend{Source: TrendFromDaemon, Series: &s})
		if !strings.Contains(text, tc.want+"\n") || strings.Contains(text, "grows") {
			t.Errorf("%v of a flat series:\n%s\nwant %q", tc.span, text, tc.want)
		}
		if tc.points > 0 && s.Points != tc.points {
			t.Errorf("%v: %d points, want %d", tc.span, s.Points, tc.points)
		}
		if tc.points == 0 && strings.Contains(text, "too short") {
			t.Errorf("caveat on a long history:\n%s", text)
		}
	}
}

// A daemon that has just started has a series and no points in it yet.
func TestTrendWithoutPoints(t *testing.T) {
	s := seriesOf(engine.HistoryView{Cgroup: "/web.service", Step: 5 * time.Minute})
	text := trendText(t, &Trend{Source: TrendFromDaemon, Series: &s})
	want := "Trend: no points yet (from the running daemon)\nno steady growth yet; history too short for a trend: 0 points, need 12\n"
	if text != want {
		t.Errorf("got\n%s\nwant\n%s", text, want)
	}
}

func TestTrendASCII(t *testing.T) {
	s := synthTrend(t, "stress", nil, 6*time.Hour, linearAnon)
	text := trendText(t, &Trend{Source: TrendFromDaemon, Containers: []TrendSeries{s}, ascii: true})
	for i, r := range text {
		if r > 127 {
			t.Fatalf("non-ASCII %q at %d in:\n%s", r, i, text)
		}
	}
	monotone(t, "ascii anon", levels(t, chartRow(t, text, "stress", "anon")[1], true))

	for _, tc := range []struct {
		env   map[string]string
		plain bool
	}{
		{map[string]string{}, true},
		{map[string]string{"LANG": "en_US.UTF-8"}, false},
		{map[string]string{"LANG": "de_DE.utf8"}, false},
		{map[string]string{"LANG": "en_US.UTF-8", "LC_ALL": "C"}, true},
		{map[string]string{"LANG": "C", "LC_CTYPE": "C.UTF-8"}, false},
		{map[string]string{"LC_ALL": "POSIX"}, true},
	} {
		if got := PlainTerminal(func(k string) string { return tc.env[k] }); got != tc.plain {
			t.Errorf("PlainTerminal(%v) = %v, want %v", tc.env, got, tc.plain)
		}
	}
}

// saveSynth writes synthetic series where the daemon keeps them.
func saveSynth(t *testing.T, dir string, tiers []history.Tier, every time.Duration, series map[string]shape) {
	t.Helper()
	for key, f := range series {
		if err := (history.Store{Dir: dir}).Save(synthSeries(t, key, tiers, 6*time.Hour, every, f)); err != nil {
			t.Fatal(err)
		}
	}
}

var (
	stressCgroup = podSlice + "/cri-containerd-" + stressID + ".scope"
	agentCg      = podSlice + "/cri-containerd-" + agentID + ".scope"
)

func explainHistory(t *testing.T, roots paths.Roots, target string, h *HistoryOptions) Explanation {
	t.Helper()
	e, err := Explain(ExplainOptions{Roots: roots, Layout: layoutOf(t, roots), Target: target, Pods: &fakePods{}, History: h})
	if err != nil {
		t.Fatal(err)
	}
	if e.Trend == nil {
		t.Fatal("no trend")
	}
	return e
}

func containerGrowth(tr *Trend) map[string]string {
	out := map[string]string{}
	for _, c := range tr.Containers {
		if c.Growth != nil {
			out[c.Name] = c.Growth.Dominant
		}
	}
	return out
}

// Without a daemon, explain reads what it saved, names the components and
// says where the history came from; it never moves the daemon's files.
func TestExplainTrendFromSavedHistory(t *testing.T) {
	roots := fixtures.Copy(t, "v2-systemd")
	dir := filepath.Join(roots.Lib, "history")
	saveSynth(t, dir, nil, 30*time.Second, map[string]shape{
		"/" + podSlice: sum(linearAnon, steppedSlab), "/" + stressCgroup: linearAnon, "/" + agentCg: steppedSlab})

	e := explainHistory(t, roots, "logging/log-agent", &HistoryOptions{Dir: dir, NoDaemon: ErrNoDaemon.Error()})
	tr := e.Trend
	last := trendStart.Add(6*time.Hour - 30*time.Second)
	if tr.Source != TrendSaved || !tr.SavedAt.Equal(last) || tr.Note != "the daemon is not running" || tr.Series == nil {
		t.Fatalf("trend %+v", tr)
	}
	if got := containerGrowth(tr); !maps.Equal(got, map[string]string{"stress": "anon", "agent": "slab_reclaimable"}) {
		t.Errorf("dominant growth per container %v", got)
	}
	var b bytes.Buffer
	if err := e.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if want := "(from the history saved at " + last.Local().Format(timeFormat) + "; the daemon is not running)"; !strings.Contains(b.String(), want) {
		t.Errorf("no %q in:\n%s", want, b.String())
	}
	if data, err := json.Marshal(e); err != nil || !strings.Contains(string(data), `"mean_bytes":[`) {
		t.Errorf("JSON: %v", err)
	}

	// A damaged file is reported and left where it is, for the daemon to
	// set aside.
	bad := filepath.Join(dir, history.FileName("/"+agentCg))
	if err := os.WriteFile(bad, []byte("MRHIST garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	e = explainHistory(t, roots, agentCg, &HistoryOptions{Dir: dir, NoDaemon: ErrNoDaemon.Error()})
	if e.Trend.Source != TrendNone || !strings.Contains(e.Trend.Note, "cannot be read") || !strings.Contains(e.Trend.Note, bad) {
		t.Errorf("damaged history: %+v", e.Trend)
	}
	if _, err := os.Stat(bad); err != nil {
		t.Errorf("the damaged file was moved: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.corrupt")); len(m) > 0 {
		t.Errorf("explain set files aside: %v", m)
	}

	// Nothing saved, or history off.
	e = explainHistory(t, roots, "user.slice", &HistoryOptions{Dir: dir, NoDaemon: "D-Bus is not used (--no-dbus)"})
	if want := "no history of this cgroup yet: D-Bus is not used (--no-dbus), and none is saved in " + dir; !strings.HasPrefix(e.Trend.Note, want) || e.Trend.Source != TrendNone {
		t.Errorf("note %q, want it to start %q", e.Trend.Note, want)
	}
	e = explainHistory(t, roots, "logging/log-agent", &HistoryOptions{Dir: dir, Off: "history is off (history.enabled = false)"})
	if e.Trend.Source != TrendNone || e.Trend.Note != "history is off (history.enabled = false)" {
		t.Errorf("history off: %+v", e.Trend)
	}
}

// A file keeps the tiers it was saved with: explain reads it as saved,
// whatever the policy says today.
func TestExplainTrendSavedWithOtherTiers(t *testing.T) {
	roots := fixtures.Copy(t, "v2-systemd")
	dir := filepath.Join(roots.Lib, "history")
	e2e := []history.Tier{{Step: 5 * time.Second, Len: 360}, {Step: time.Minute, Len: 720}}
	saveSynth(t, dir, e2e, 5*time.Second, map[string]shape{"/" + stressCgroup: linearAnon})

	e := explainHistory(t, roots, stressCgroup, &HistoryOptions{Dir: dir})
	// 360 closed 5-second buckets and the open one.
	if s := e.Trend.Series; e.Trend.Source != TrendSaved || s == nil || s.Step != 5*time.Second || s.Points != 361 || s.Growth.Dominant != "anon" {
		t.Fatalf("trend %+v, series %+v", e.Trend, s)
	}
}

// The daemon's answer wins over the files; a pod it does not watch is
// shown through the containers it does.
func TestExplainTrendFromDaemon(t *testing.T) {
	roots := fixtures.Copy(t, "v2-systemd")
	dir := filepath.Join(roots.Lib, "history")
	saveSynth(t, dir, nil, 30*time.Second, map[string]shape{"/" + podSlice: flat})
	views := map[string]engine.HistoryView{}
	var est history.Estimator
	for key, f := range map[string]shape{"/" + stressCgroup: linearAnon, "/" + agentCg: steppedSlab} {
		s := synthSeries(t, key, nil, 6*time.Hour, 30*time.Second, f)
		views[key] = engine.HistoryView{Cgroup: key, Step: 5 * time.Minute, Points: s.Points(0, time.Time{}, trendStart.Add(7*time.Hour), nil),
			Trend: savedTrend(est.Estimate(s, s.Last()), nil, 0, 0, 0)}
	}
	pod := views["/"+stressCgroup]
	pod.Cgroup = "/" + podSlice
	pod.Containers = []engine.HistoryView{views["/"+agentCg], views["/"+stressCgroup]}
	pod.Containers[0].Name, pod.Containers[1].Name = "agent", "stress"

	var asked []string
	daemon := func(watched map[string]engine.HistoryView) func(string) (engine.HistoryView, error) {
		return func(cg string) (engine.HistoryView, error) {
			asked = append(asked, cg)
			if v, ok := watched[cg]; ok {
				return v, nil
			}
			// As the D-Bus client words it.
			return engine.HistoryView{}, fmt.Errorf("%s: %v: memrelief watches no such cgroup: %w", cg, engine.ErrNoHistory, engine.ErrNoHistory)
		}
	}
	e := explainHistory(t, roots, "logging/log-agent", &HistoryOptions{Dir: dir, Daemon: daemon(map[string]engine.HistoryView{"/" + podSlice: pod})})
	if e.Trend.Source != TrendFromDaemon || len(e.Trend.Containers) != 2 || len(asked) != 1 {
		t.Errorf("watched pod: %+v, asked %v", e.Trend, asked)
	}

	asked = nil
	e = explainHistory(t, roots, "logging/log-agent", &HistoryOptions{Dir: dir, Daemon: daemon(views)})
	if got := containerGrowth(e.Trend); e.Trend.Source != TrendFromDaemon || e.Trend.Series != nil ||
		!maps.Equal(got, map[string]string{"stress": "anon", "agent": "slab_reclaimable"}) || len(asked) != 3 {
		t.Errorf("pod watched through its containers: %+v, growth %v, asked %v", e.Trend, got, asked)
	}

	e = explainHistory(t, roots, "logging/log-agent", &HistoryOptions{Dir: dir, Daemon: func(string) (engine.HistoryView, error) {
		return engine.HistoryView{}, fmt.Errorf("connect: %w", ErrNoDaemon)
	}})
	if e.Trend.Source != TrendSaved || e.Trend.Note != "the daemon is not running" || len(e.Trend.Containers) != 0 {
		t.Errorf("no daemon: %+v", e.Trend)
	}
	e = explainHistory(t, roots, "logging/log-agent", &HistoryOptions{Dir: dir, Daemon: func(string) (engine.HistoryView, error) {
		return engine.HistoryView{}, context.DeadlineExceeded
	}})
	if e.Trend.Source != TrendSaved || e.Trend.Note != "the daemon did not answer (context deadline exceeded)" {
		t.Errorf("daemon hung: %+v", e.Trend)
	}
	e = explainHistory(t, roots, "user.slice", &HistoryOptions{Dir: dir, Daemon: daemon(nil)})
	if !strings.HasPrefix(e.Trend.Note, "no history of this cgroup yet: the daemon keeps none (/user.slice: no history kept for this cgroup: memrelief watches no such cgroup), and none is saved in ") {
		t.Errorf("unwatched cgroup: %q", e.Trend.Note)
	}
}

func TestHistoryFromPolicy(t *testing.T) {
	p, err := policy.Parse("test.toml", []byte(`
[history]
enabled = false
dir = "/var/lib/memrelief/trends"
resolution = ["5s/30m", "1m/12h"]
min_growth = "2M/h"
horizon = "7d"
`))
	if err != nil {
		t.Fatal(err)
	}
	o := HistoryFromPolicy(p.History, p.Source, "/fx/var/lib/memrelief")
	if o.Dir != "/fx/var/lib/memrelief/trends" || o.MinGrowth != 2*mib/3600.0 ||
		o.Horizon != 7*24*time.Hour || o.Off != "no history: history.enabled = false in test.toml" {
		t.Errorf("options %+v", o)
	}
	def, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	for lib, dir := range map[string]string{"/fx/lib": "/fx/lib/history", "": "/var/lib/memrelief/history"} {
		if o := HistoryFromPolicy(def.History, def.Source, lib); o.Dir != dir || o.Off != "" {
			t.Errorf("default policy under %q: %+v, want dir %s", lib, o, dir)
		}
	}
	p.History.Dir = "/var/lib/memreliefx/h"
	if o := HistoryFromPolicy(p.History, p.Source, "/fx/lib"); o.Dir != "/var/lib/memreliefx/h" {
		t.Errorf("a directory outside /var/lib/memrelief moved to %s", o.Dir)
	}
}

// Without a daemon, the node's saved history is forecast against the
// node's memory: when MemAvailable runs out.
func TestExplainNodeSavedHistoryForecastsOOM(t *testing.T) {
	roots := fixtures.Copy(t, "v2-systemd")
	dir := filepath.Join(roots.Lib, "history")
	saveSynth(t, dir, nil, time.Minute, map[string]shape{"/": linearAnon})
	const memTotal = 2 << 30
	e := explainHistory(t, roots, "/", &HistoryOptions{Dir: dir, MemTotal: memTotal})
	s := e.Trend.Series
	if e.Trend.Source != TrendSaved || s == nil || s.Growth == nil {
		t.Fatalf("trend %+v", e.Trend)
	}
	// ~178 MiB in use at the end, growing 12 MiB/h: ~156 h to 2 GiB.
	left, rate := float64(memTotal-178*mib), float64(12*mib)
	want := time.Duration(left / rate * float64(time.Hour))
	if got := s.Growth.ToOOM; got == engine.NeverMet || math.Abs(float64(got-want)) > 0.1*float64(want) {
		t.Errorf("time to MemAvailable 0 = %v, want about %v", got, want)
	}
	var b strings.Builder
	if err := e.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "MemAvailable 0") {
		t.Errorf("explain / does not say when MemAvailable runs out:\n%s", b.String())
	}
}

// The parts of the gap never add up to more than the gap, on every
// fixture flavour, for the node and every cgroup: the v1 root's kmem is
// outside its usage_in_bytes (hybrid-dev and hybrid-systemd counted it
// twice, 79M and 60M over), and RSS that memory.current does not hold
// (hybrid-systemd's pod: file pages charged elsewhere) is taken off.
func TestGapPartsFitTheGap(t *testing.T) {
	for _, name := range statusFlavours {
		t.Run(name, func(t *testing.T) {
			roots := fixtures.Roots(name)
			l := layoutOf(t, roots)
			cgs, err := cgroupfs.NewReader(l).Walk("", 8)
			if err != nil {
				t.Fatal(err)
			}
			for _, cg := range append([]string{"/"}, cgs...) {
				e, err := Explain(ExplainOptions{Roots: roots, Layout: l, Target: cg})
				if errors.Is(err, cgroupfs.ErrGone) {
					continue // a bare directory of the capture (see CAPTURED)
				}
				if err != nil {
					t.Errorf("%s: %v", cg, err)
					continue
				}
				var sum uint64
				for _, p := range e.Gap {
					sum += p.Bytes
					if p.Bytes == 0 || p.Share != share(p.Bytes, e.CurrentBytes) {
						t.Errorf("%s: gap part %+v", e.Cgroup, p)
					}
				}
				if int64(sum) > max(e.GapBytes, 0) {
					t.Errorf("%s: gap parts add up to %d, the gap is %d: %+v", e.Cgroup, sum, e.GapBytes, e.Gap)
				}
				if e.GapOverlapBytes > 0 && int64(sum) != e.GapBytes && e.GapBytes > 0 {
					t.Errorf("%s: parts trimmed by %d add up to %d, not the gap %d", e.Cgroup, e.GapOverlapBytes, sum, e.GapBytes)
				}
				// memory.current is itemised within 1% (or 1 MiB),
				// whichever is larger: nothing is counted twice. The v2
				// root is the node's meminfo, which is no such sum.
				unified := e.Cgroup == "/" && l.Mode == cgroupfs.Unified
				if u := e.UnaccountedBytes; !unified && float64(max(u, -u)) > max(0.01*float64(e.CurrentBytes), 1<<20) {
					t.Errorf("%s: %d of %d not itemised: %+v", e.Cgroup, u, e.CurrentBytes, e.Breakdown)
				}
				if e.Cgroup == "/" && l.Mode != cgroupfs.Unified {
					if _, ok := part(e, "kernel (kmem, slab included)"); ok || len(e.Notes) == 0 || !strings.Contains(e.Notes[0], "kmem") {
						t.Errorf("v1 root: breakdown %+v notes %q: kmem is outside its usage", e.Breakdown, e.Notes)
					}
				}
			}
		})
	}
	// The pod on hybrid-systemd: loadgen's 1.8M of file RSS is charged
	// elsewhere (the pod's mapped_file is 0).
	e := explain(t, fixtures.Roots("hybrid-systemd"), "kubepods-burstable-pod1234_5678.slice", nil)
	if e.GapOverlapBytes == 0 {
		t.Errorf("hybrid-systemd pod: no overlap of RSS; gap %d parts %+v", e.GapBytes, e.Gap)
	}
}
