package inspect

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/history"
	"github.com/memrelief/memrelief/internal/human"
	"github.com/memrelief/memrelief/internal/paths"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/procinfo"
)

// Part is one slice of memory.current.
type Part struct {
	Name  string  `json:"name"`
	Bytes uint64  `json:"bytes"`
	Share float64 `json:"share"` // of memory.current, 0..1
}

// Process is one process of the cgroup or its descendants.
type Process struct {
	PID            int      `json:"pid"`
	Comm           string   `json:"comm"`
	Cmdline        []string `json:"cmdline"`
	Cgroup         string   `json:"cgroup"`
	RSSAnonBytes   uint64   `json:"rss_anon_bytes"`
	RSSFileBytes   uint64   `json:"rss_file_bytes"`
	RSSShmemBytes  uint64   `json:"rss_shmem_bytes"`
	InotifyWatches *int     `json:"inotify_watches"` // null when the fds could not be read
}

// Child is a direct child cgroup (a container of a pod, a service of a
// slice) with the figures that tell which one grows.
type Child struct {
	Name                 string  `json:"name"`
	Cgroup               string  `json:"cgroup"`
	Container            string  `json:"container,omitempty"`
	CurrentBytes         uint64  `json:"current_bytes"`
	AnonBytes            *uint64 `json:"anon_bytes"`
	SlabReclaimableBytes *uint64 `json:"slab_reclaimable_bytes"`
}

// Pod names the Kubernetes pod a cgroup belongs to, resolved offline.
type Pod struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	QoS       string `json:"qos"`
	Container string `json:"container,omitempty"` // when the cgroup is one container
}

// Explanation answers "where did this cgroup's memory go?".
type Explanation struct {
	Target string `json:"target"`
	// Cgroup is the cgroup's identity (see CgroupID): "/" for the node.
	Cgroup string `json:"cgroup"`
	Unit   string `json:"unit,omitempty"`
	Mode   string `json:"mode"`
	Pod    *Pod   `json:"pod,omitempty"`

	CurrentBytes uint64 `json:"current_bytes"`
	Limits
	Breakdown []Part `json:"breakdown"`
	// UnaccountedBytes is memory.current minus the sum of the breakdown:
	// charges memory.stat does not itemise and per-cpu batching of counters.
	UnaccountedBytes int64 `json:"unaccounted_bytes"`

	// WorkingSetBytes is what kubelet and cAdvisor call the working set:
	// usage - inactive_file. Reclaimable slab counts in it.
	WorkingSetBytes                *uint64 `json:"working_set_bytes"`
	WorkingSetSlabReclaimableBytes *uint64 `json:"working_set_slab_reclaimable_bytes"`

	Processes []Process `json:"processes"`
	// RSSBytes sums the processes' RSS; shared pages count once per process.
	RSSBytes uint64 `json:"rss_bytes"`
	// GapBytes is memory.current - RSSBytes: memory charged to the cgroup
	// that no process's RSS shows.
	GapBytes int64 `json:"gap_bytes"`
	// Gap itemises the gap, and never sums to more than it: when RSS
	// counts pages memory.current does not hold (pages charged to other
	// cgroups, such as shared libraries or files first read elsewhere, and
	// pages shared between processes, counted once per process), the
	// parts are trimmed by GapOverlapBytes, page cache first.
	Gap             []Part `json:"gap_attribution"`
	GapOverlapBytes uint64 `json:"gap_overlap_bytes"`

	Children []Child  `json:"children"`
	Verdict  string   `json:"verdict"`
	Notes    []string `json:"notes,omitempty"`

	// Trend is how the cgroup's memory moved lately and where it heads;
	// nil when ExplainOptions.History is.
	Trend *Trend `json:"trend,omitempty"`
}

// ExplainOptions selects the cgroup.
type ExplainOptions struct {
	Roots  paths.Roots
	Layout cgroupfs.Layout
	// Target is a unit name, a cgroup path, or a pod as namespace/name.
	Target string
	// Pods resolves pods; nil skips Kubernetes naming.
	Pods PodResolver
	// History says where the memory history comes from; nil leaves the
	// trend out.
	History *HistoryOptions
}

// PodResolver maps between cgroups and pods without an API server.
type PodResolver interface {
	// CgroupOfPod returns the cgroup path of pod namespace/name, or an
	// error when there is no such pod on this node.
	CgroupOfPod(rd *cgroupfs.Reader, namespace, name string) (string, error)
	// PodOf names the pod (and container) a cgroup path belongs to; nil
	// when the path is not a pod's.
	PodOf(cg string) *Pod
}

// Explain reads one cgroup, its processes and its children, and explains
// where its memory went.
func Explain(o ExplainOptions) (Explanation, error) {
	rd := cgroupfs.NewReader(o.Layout)
	cg, err := resolveTarget(rd, o)
	if err != nil {
		return Explanation{}, err
	}
	e := Explanation{Target: o.Target, Cgroup: CgroupID(cg), Unit: cgroupfs.UnitOf(cg), Mode: string(o.Layout.Mode), Processes: []Process{}, Children: []Child{}}
	if o.Pods != nil {
		e.Pod = o.Pods.PodOf(cg)
	}
	var m cgroupfs.Memory
	if cg == "" && o.Layout.Mode == cgroupfs.Unified {
		// The v2 root cgroup has no memory.current: the node's figures
		// are /proc/meminfo's, as in status.
		if err := nodeMemory(o.Roots.Proc, &m); err != nil {
			return Explanation{}, err
		}
	} else if err := rd.Memory(cg, &m); err != nil {
		return Explanation{}, fmt.Errorf("read memory of %s: %w", cg, err)
	}
	if cg == "" && o.Layout.Mode != cgroupfs.Unified {
		// The root of a v1 memory hierarchy has no page counter: the
		// kernel reports usage_in_bytes as page cache + anon (+ swap)
		// only, so its kmem is no part of memory.current here and
		// counting it would count it twice.
		if k, ok := m.Stat.Get(cgroupfs.Kernel); ok {
			withoutKernel(&m.Stat)
			e.Notes = append(e.Notes, fmt.Sprintf("at the root of a cgroup v1 hierarchy memory.usage_in_bytes is page cache and anon only: kernel memory (kmem %s) is outside it and left out here", human.Bytes(k)))
		}
	}
	e.CurrentBytes, e.Limits = m.Current, limitsOf(&m)
	e.Breakdown, e.UnaccountedBytes = breakdown(&m)
	if inact, ok := m.Stat.Get(cgroupfs.InactiveFile); ok && inact <= m.Current {
		ws := m.Current - inact
		e.WorkingSetBytes = &ws
		if sr, ok := m.Stat.Get(cgroupfs.SlabReclaimable); ok {
			e.WorkingSetSlabReclaimableBytes = u64(min(sr, ws))
		}
	}
	var notes []string
	e.Processes, notes = processes(rd, o.Roots.Proc, cg)
	e.Notes = append(e.Notes, notes...)
	for _, p := range e.Processes {
		e.RSSBytes += p.RSSAnonBytes + p.RSSFileBytes + p.RSSShmemBytes
	}
	e.GapBytes = int64(e.CurrentBytes) - int64(e.RSSBytes)
	e.Gap, e.GapOverlapBytes = gapParts(&m, e.GapBytes)
	e.Children = children(rd, cg, o.Pods)
	e.Verdict = verdict(&e, &m)
	if o.History != nil {
		e.Trend = explainTrend(rd, o.History, &e, &m)
	}
	return e, nil
}

// nodeMemory fills m with the node's figures from /proc/meminfo: memory in
// use (MemTotal-MemAvailable) as current, no limit but the memory itself.
func nodeMemory(procRoot string, m *cgroupfs.Memory) error {
	mi, err := procinfo.ReadMeminfo(procRoot)
	if err != nil {
		return fmt.Errorf("read the node's memory: %w", err)
	}
	*m = cgroupfs.Memory{Current: mi.MemTotal - mi.MemAvailable, High: cgroupfs.Unlimited, Max: mi.MemTotal}
	for _, f := range []struct {
		f cgroupfs.Field
		v uint64
	}{
		{cgroupfs.Anon, mi.AnonPages}, {cgroupfs.File, mi.Cached + mi.Buffers}, {cgroupfs.InactiveFile, mi.InactiveFile},
		{cgroupfs.SlabReclaimable, mi.SReclaimable}, {cgroupfs.SlabUnreclaimable, mi.SUnreclaim},
		{cgroupfs.KernelStack, mi.KernelStack}, {cgroupfs.PageTables, mi.PageTables}, {cgroupfs.Shmem, mi.Shmem},
	} {
		m.Stat.Set(f.f, f.v)
	}
	return nil
}

func resolveTarget(rd *cgroupfs.Reader, o ExplainOptions) (string, error) {
	cg, err := Resolve(rd, o.Target)
	if err == nil {
		return cg, nil
	}
	if o.Pods != nil && !cgroupfs.IsUnitName(o.Target) {
		if ns, name, ok := splitPod(o.Target); ok {
			pcg, perr := o.Pods.CgroupOfPod(rd, ns, name)
			if perr != nil {
				return "", fmt.Errorf("%q is neither a cgroup (%v) nor a pod on this node (%v)", o.Target, err, perr)
			}
			return pcg, nil
		}
	}
	return "", err
}

// splitPod splits "namespace/name"; Kubernetes names hold no slash.
func splitPod(s string) (ns, name string, ok bool) {
	ns, name, ok = strings.Cut(s, "/")
	return ns, name, ok && ns != "" && name != "" && !strings.Contains(name, "/")
}

var breakdownFields = []struct {
	f    cgroupfs.Field
	name string
}{
	{cgroupfs.Anon, "anon"},
	{cgroupfs.ActiveFile, "file_active"},
	{cgroupfs.InactiveFile, "file_inactive"},
	{cgroupfs.SlabReclaimable, "slab_reclaimable"},
	{cgroupfs.SlabUnreclaimable, "slab_unreclaimable"},
	{cgroupfs.KernelStack, "kernel_stack"},
	{cgroupfs.PageTables, "pagetables"},
	{cgroupfs.Sock, "sock"},
	{cgroupfs.Percpu, "percpu"},
	{cgroupfs.Vmalloc, "vmalloc"},
}

// breakdown itemises memory.current. File pages outside the two LRU lists
// (shmem and unevictable file pages) appear as file_other; on v1 the kernel
// part is one kmem figure.
func breakdown(m *cgroupfs.Memory) ([]Part, int64) {
	var parts []Part
	var sum uint64
	add := func(name string, v uint64) {
		parts = append(parts, Part{Name: name, Bytes: v, Share: share(v, m.Current)})
		sum += v
	}
	for _, bf := range breakdownFields {
		if v, ok := m.Stat.Get(bf.f); ok {
			add(bf.name, v)
		}
	}
	file, okF := m.Stat.Get(cgroupfs.File)
	act, okA := m.Stat.Get(cgroupfs.ActiveFile)
	inact, okI := m.Stat.Get(cgroupfs.InactiveFile)
	if okF && okA && okI && file > act+inact {
		add("file_other", file-act-inact)
	}
	_, hasSlab := m.Stat.Get(cgroupfs.SlabReclaimable)
	if k, ok := m.Stat.Get(cgroupfs.Kernel); ok && !hasSlab {
		add("kernel (kmem, slab included)", k)
	}
	return parts, int64(m.Current) - int64(sum)
}

// withoutKernel forgets s's kernel memory figure.
func withoutKernel(s *cgroupfs.Stat) {
	var out cgroupfs.Stat
	for _, f := range cgroupfs.Fields() {
		if v, ok := s.Get(f); ok && f != cgroupfs.Kernel {
			out.Set(f, v)
		}
	}
	*s = out
}

// gapOrder is the order in which gap parts give way when they add up to
// more than the gap: what RSS counts but memory.current does not hold is
// mostly file pages (shared libraries, files first read by another
// cgroup), so page cache first, reclaimable slab last.
var gapOrder = []string{gapPageCache, gapOtherKernel, gapSlabUnreclaimable, gapSlabReclaimable}

// Names of the gap parts.
const (
	gapSlabReclaimable   = "slab_reclaimable (dentries, inodes)"
	gapSlabUnreclaimable = "slab_unreclaimable"
	gapPageCache         = "page cache not mapped by any process"
	gapOtherKernel       = "other kernel memory"
)

// gapParts lists what memory.current holds that no process RSS shows,
// trimmed so they add up to no more than gap, and by how much they were
// trimmed (see Explanation.Gap).
func gapParts(m *cgroupfs.Memory, gap int64) ([]Part, uint64) {
	parts := []Part{}
	add := func(name string, v uint64) {
		if v > 0 {
			parts = append(parts, Part{Name: name, Bytes: v, Share: share(v, m.Current)})
		}
	}
	if v, ok := m.Stat.Get(cgroupfs.SlabReclaimable); ok {
		add(gapSlabReclaimable, v)
	}
	if v, ok := m.Stat.Get(cgroupfs.SlabUnreclaimable); ok {
		add(gapSlabUnreclaimable, v)
	}
	if file, ok := m.Stat.Get(cgroupfs.File); ok {
		mapped, _ := m.Stat.Get(cgroupfs.FileMapped)
		if file > mapped {
			add(gapPageCache, file-mapped)
		}
	}
	if k := otherKernel(&m.Stat); k != nil {
		add(gapOtherKernel, *k)
	}
	var sum uint64
	for _, p := range parts {
		sum += p.Bytes
	}
	var overlap uint64
	switch {
	case gap <= 0:
		overlap = sum
	case sum > uint64(gap):
		overlap = sum - uint64(gap)
	default:
		return parts, 0
	}
	excess := overlap
	for _, name := range gapOrder {
		i := slices.IndexFunc(parts, func(p Part) bool { return p.Name == name })
		if i < 0 || excess == 0 {
			continue
		}
		cut := min(excess, parts[i].Bytes)
		parts[i].Bytes -= cut
		parts[i].Share = share(parts[i].Bytes, m.Current)
		excess -= cut
	}
	return slices.DeleteFunc(parts, func(p Part) bool { return p.Bytes == 0 }), overlap
}

func share(v, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(v) / float64(whole)
}

func processes(rd *cgroupfs.Reader, procRoot, cg string) ([]Process, []string) {
	out := []Process{}
	var notes []string
	cgs := []string{cg}
	below, err := rd.Walk(cg, 16)
	if err != nil {
		notes = append(notes, fmt.Sprintf("list cgroups below %s: %v", cg, err))
	}
	cgs = append(cgs, below...)
	for _, c := range cgs {
		pids, err := rd.Procs(c)
		if err != nil {
			if !errors.Is(err, cgroupfs.ErrGone) {
				notes = append(notes, err.Error())
			}
			continue
		}
		for _, pid := range pids {
			p, err := procinfo.ReadProcess(procRoot, pid)
			if errors.Is(err, procinfo.ErrNoProcess) {
				continue
			}
			if err != nil {
				notes = append(notes, err.Error())
				continue
			}
			pr := Process{PID: pid, Comm: p.Comm, Cmdline: p.Cmdline, Cgroup: CgroupID(c),
				RSSAnonBytes: p.RSSAnon, RSSFileBytes: p.RSSFile, RSSShmemBytes: p.RSSShmem}
			if p.Cmdline == nil {
				pr.Cmdline = []string{}
			}
			if p.InotifyErr == nil {
				w := p.InotifyWatches
				pr.InotifyWatches = &w
			} else {
				notes = append(notes, fmt.Sprintf("inotify watches of pid %d unknown: %v", pid, p.InotifyErr))
			}
			out = append(out, pr)
		}
	}
	slices.SortFunc(out, func(a, b Process) int {
		return cmp.Compare(b.RSSAnonBytes+b.RSSFileBytes+b.RSSShmemBytes, a.RSSAnonBytes+a.RSSFileBytes+a.RSSShmemBytes)
	})
	return out, notes
}

func children(rd *cgroupfs.Reader, cg string, pods PodResolver) []Child {
	out := []Child{}
	kids, err := rd.Children(cg)
	if err != nil {
		return out
	}
	var m cgroupfs.Memory
	for _, k := range kids {
		p := k
		if cg != "" {
			p = cg + "/" + k
		}
		if err := rd.Memory(p, &m); err != nil {
			continue
		}
		c := Child{Name: k, Cgroup: CgroupID(p), CurrentBytes: m.Current,
			AnonBytes: get(&m.Stat, cgroupfs.Anon), SlabReclaimableBytes: get(&m.Stat, cgroupfs.SlabReclaimable)}
		if pods != nil {
			if pod := pods.PodOf(p); pod != nil {
				c.Container = pod.Container
			}
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Child) int { return cmp.Compare(b.CurrentBytes, a.CurrentBytes) })
	return out
}

// HistoryOptions says where explain finds the memory history of a cgroup:
// the running daemon first, else the series it saved.
type HistoryOptions struct {
	// Daemon asks the running daemon for the history of a cgroup ("/" and
	// its path). Its error wraps ErrNoDaemon when no daemon runs, and
	// engine.ErrNoHistory when the daemon keeps no history of the cgroup.
	// Nil when the daemon is not asked; NoDaemon says why.
	Daemon   func(cgroup string) (engine.HistoryView, error)
	NoDaemon string
	// Off, when set, says why the policy keeps no history at all.
	Off string
	// Dir is where the daemon saves its series.
	Dir string
	// MinGrowth (bytes per second, history.DefaultMinGrowth when 0) and
	// Horizon (defaultHorizon when 0) judge saved series as the daemon
	// does.
	MinGrowth float64
	Horizon   time.Duration
	// MemTotal is the node's, for the time until its MemAvailable runs out
	// (0: not forecast).
	MemTotal uint64
	// ASCII draws charts in plain characters, for terminals that are not
	// UTF-8.
	ASCII bool
}

// HistoryFromPolicy reads the saved history where the daemon running
// policy p (source names it) keeps it, with the same judgement. Files
// carry their own tiers, so a policy changed since they were saved still
// reads them.
// The policy's directory is moved under lib when it is below
// /var/lib/memrelief, as the daemon moves it (engine.HistoryDir).
func HistoryFromPolicy(h policy.History, source, lib string) HistoryOptions {
	o := HistoryOptions{Dir: engine.HistoryDir(lib, h.Dir), MinGrowth: float64(h.MinGrowth), Horizon: time.Duration(h.Horizon)}
	if !h.Enabled {
		o.Off = "no history: history.enabled = false in " + source
	}
	return o
}

// ErrNoDaemon is what HistoryOptions.Daemon wraps when no daemon answers.
var ErrNoDaemon = errors.New("the daemon is not running")

// defaultHorizon is the policy's default history.horizon.
const defaultHorizon = 30 * 24 * time.Hour

// Where a Trend comes from.
const (
	TrendFromDaemon = "daemon" // the running daemon
	TrendSaved      = "saved"  // the files of a daemon that did not answer
	TrendNone       = "none"   // nowhere: Note says why
)

// Trend is the memory history explain shows: of the cgroup and, for a
// pod, of each of its containers.
type Trend struct {
	Source string `json:"source"`
	// SavedAt is the newest sample of the saved history (Source "saved").
	SavedAt time.Time `json:"saved_at,omitzero"`
	// Note says why the daemon did not answer (Source "saved") or why
	// there is no history (Source "none").
	Note string `json:"note,omitempty"`
	// Series is the cgroup's own history; nil when only its containers
	// have one.
	Series     *TrendSeries  `json:"series,omitempty"`
	Containers []TrendSeries `json:"containers,omitempty"`
	// ascii draws the charts in plain characters.
	ascii bool
}

// TrendSeries is the finest-resolution history of one cgroup and the
// trend estimated from it.
type TrendSeries struct {
	Cgroup string        `json:"cgroup"`
	Name   string        `json:"name,omitempty"` // the container's name
	Step   time.Duration `json:"step_ns"`
	// From and To bound the buckets; Points counts those holding samples
	// (the others are gaps).
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Points int       `json:"points"`
	// Components are the figures the host gives, memory.current first.
	Components []ComponentHistory `json:"components"`
	// Growth is the estimate; nil before the daemon's first one.
	Growth *engine.TrendStatus `json:"growth"`
}

// ComponentHistory is one component of a TrendSeries.
type ComponentHistory struct {
	Name string `json:"name"` // history component name: current, anon, ...
	// MeanBytes holds the mean of each bucket, null for gaps.
	MeanBytes []*uint64 `json:"mean_bytes"`
	// FirstBytes and LastBytes are the first and last means known.
	FirstBytes uint64 `json:"first_bytes"`
	LastBytes  uint64 `json:"last_bytes"`
	// BytesPerSec is the component's trend, null when there is none.
	BytesPerSec *float64 `json:"bytes_per_sec"`
}

// explainTrend finds the history of e's cgroup (and of its containers
// when it is a pod): from the daemon, else from the files it saved.
func explainTrend(rd *cgroupfs.Reader, h *HistoryOptions, e *Explanation, m *cgroupfs.Memory) *Trend {
	t := &Trend{ascii: h.ASCII}
	key := e.Cgroup
	var kids []Child
	if e.Pod != nil && e.Pod.Container == "" {
		kids = e.Children
	}
	why := h.NoDaemon
	if h.Daemon != nil {
		if why = fromDaemon(t, h.Daemon, key, kids); why == "" {
			t.Source = TrendFromDaemon
			return t
		}
	}
	if h.Off != "" {
		t.Source, t.Note = TrendNone, h.Off
		return t
	}
	var est history.Estimator
	var problems []string
	if s, err := loadSaved(h, key); err != nil {
		problems = append(problems, err.Error())
	} else if s != nil {
		v := savedSeries(&est, h, s, "", m)
		t.Series, t.SavedAt = &v, s.Last()
	}
	for _, k := range kids {
		s, err := loadSaved(h, k.Cgroup)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if s == nil {
			continue
		}
		var km cgroupfs.Memory
		lim := &km
		if rd.Memory(relPath(k.Cgroup), &km) != nil {
			lim = nil
		}
		t.Containers = append(t.Containers, savedSeries(&est, h, s, containerName(k), lim))
		if s.Last().After(t.SavedAt) {
			t.SavedAt = s.Last()
		}
	}
	if t.Series == nil && len(t.Containers) == 0 {
		t.Source = TrendNone
		t.Note = fmt.Sprintf("no history of this cgroup yet: %s, and none is saved in %s (the daemon keeps history of the cgroups its rules watch)", why, h.Dir)
		if len(problems) > 0 {
			t.Note = fmt.Sprintf("no history of this cgroup: %s, and %s", why, strings.Join(problems, "; "))
		}
		return t
	}
	t.Source, t.Note = TrendSaved, why
	return t
}

// fromDaemon fills t from the daemon and returns "", or why the daemon
// gave nothing. A pod the daemon does not watch may still have watched
// containers, so they are asked for one by one.
func fromDaemon(t *Trend, ask func(string) (engine.HistoryView, error), key string, kids []Child) string {
	v, err := ask(key)
	if errors.Is(err, ErrNoDaemon) {
		return ErrNoDaemon.Error()
	}
	if err == nil {
		s := seriesOf(v)
		t.Series = &s
		for _, c := range v.Containers {
			t.Containers = append(t.Containers, seriesOf(c))
		}
	}
	if len(t.Containers) == 0 {
		for _, k := range kids {
			cv, cerr := ask(k.Cgroup)
			if cerr != nil {
				continue
			}
			cv.Name = cmp.Or(cv.Name, containerName(k))
			t.Containers = append(t.Containers, seriesOf(cv))
		}
	}
	switch {
	case t.Series != nil || len(t.Containers) > 0:
		return ""
	case errors.Is(err, engine.ErrNoHistory):
		return fmt.Sprintf("the daemon keeps none (%s)", strings.TrimSuffix(err.Error(), ": "+engine.ErrNoHistory.Error()))
	}
	return fmt.Sprintf("the daemon did not answer (%v)", err)
}

// containerName names a child as the daemon does: the kubelet's name for
// the container when known, else the cgroup's own name.
func containerName(c Child) string { return cmp.Or(c.Container, c.Name) }

// loadSaved reads the series the daemon saved under key, with the tiers it
// was saved with and without moving the file: (nil, nil) when there is
// none.
func loadSaved(h *HistoryOptions, key string) (*history.Series, error) {
	s, err := history.Store{Dir: h.Dir}.Read(key)
	if err != nil {
		return nil, fmt.Errorf("the saved history cannot be read (damaged, or of another version of memrelief): %w", err)
	}
	return s, nil
}

// finest returns the step and points of the finest tier of s that holds
// any.
func finest(s *history.Series) (time.Duration, []history.Point) {
	end := s.Last().Add(time.Second)
	for i, tier := range s.Tiers() {
		if pts := s.Points(i, time.Time{}, end, nil); len(pts) > 0 {
			return tier.Step, pts
		}
	}
	return 0, nil
}

// savedSeries estimates a saved series as of its newest sample, as the
// daemon would have, and forecasts against the limits in lim (nil: none
// known).
func savedSeries(est *history.Estimator, h *HistoryOptions, s *history.Series, name string, lim *cgroupfs.Memory) TrendSeries {
	step, pts := finest(s)
	v := engine.HistoryView{Cgroup: s.Key(), Name: name, Step: step, Points: pts}
	var memTotal uint64
	if s.Key() == "/" {
		memTotal = h.MemTotal
	}
	v.Trend = savedTrend(est.Estimate(s, s.Last()), lim, memTotal, cmp.Or(h.MinGrowth, history.DefaultMinGrowth), cmp.Or(h.Horizon, defaultHorizon))
	return seriesOf(v)
}

// savedTrend turns an estimate into the TrendStatus the daemon would
// report for it, against the cgroup's limits as they are now, or for the
// node (memTotal set) against its memory.
func savedTrend(est history.Estimate, lim *cgroupfs.Memory, memTotal uint64, minGrowth float64, horizon time.Duration) *engine.TrendStatus {
	fc := est.ForecastCgroup(cgroupfs.Unlimited, cgroupfs.Unlimited, false)
	if lim != nil && memTotal == 0 {
		fc = est.ForecastCgroup(lim.High, lim.Max, lim.HasHigh)
	}
	var oom history.Forecast
	if memTotal > 0 {
		oom = est.ForecastNode(memTotal)
	}
	return engine.TrendOf(est, fc, oom, minGrowth, horizon)
}

// seriesOf lays out a history for explain: per component, the bucket
// means and the trend.
func seriesOf(v engine.HistoryView) TrendSeries {
	s := TrendSeries{Cgroup: CgroupID(v.Cgroup), Name: v.Name, Step: v.Step, Growth: v.Trend, Components: []ComponentHistory{}}
	if n := len(v.Points); n > 0 {
		s.From, s.To = v.Points[0].Start, v.Points[n-1].Start.Add(v.Points[n-1].Step)
	}
	for _, p := range v.Points {
		if p.Samples > 0 {
			s.Points++
		}
	}
	var vals []float64
	for c := range history.NumComponents {
		vals = history.ComponentValues(v.Points, c, vals[:0])
		ch := ComponentHistory{Name: c.String(), MeanBytes: make([]*uint64, len(vals))}
		known := false
		for i, x := range vals {
			if math.IsNaN(x) {
				continue
			}
			b := uint64(x)
			ch.MeanBytes[i] = &b
			if !known {
				ch.FirstBytes, known = b, true
			}
			ch.LastBytes = b
		}
		if !known {
			continue
		}
		if v.Trend != nil {
			if r, ok := v.Trend.Components[c.String()]; ok {
				ch.BytesPerSec = &r
			}
		}
		s.Components = append(s.Components, ch)
	}
	return s
}
