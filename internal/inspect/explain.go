package inspect

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/paths"
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
	Cgroup string `json:"cgroup"`
	Unit   string `json:"unit,omitempty"`
	Mode   string `json:"mode"`
	Pod    *Pod   `json:"pod,omitempty"`

	CurrentBytes uint64 `json:"current_bytes"`
	High         Limit  `json:"high_bytes"`
	Max          Limit  `json:"max_bytes"`
	Breakdown    []Part `json:"breakdown"`
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
	GapBytes int64  `json:"gap_bytes"`
	Gap      []Part `json:"gap_attribution"`

	Children []Child  `json:"children"`
	Verdict  string   `json:"verdict"`
	Notes    []string `json:"notes,omitempty"`
}

// ExplainOptions selects the cgroup.
type ExplainOptions struct {
	Roots  paths.Roots
	Layout cgroupfs.Layout
	// Target is a unit name, a cgroup path, or a pod as namespace/name.
	Target string
	// Pods resolves pods; nil skips Kubernetes naming.
	Pods PodResolver
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
	e := Explanation{Target: o.Target, Cgroup: cg, Unit: cgroupfs.UnitOf(cg), Mode: string(o.Layout.Mode), Processes: []Process{}, Children: []Child{}}
	if o.Pods != nil {
		e.Pod = o.Pods.PodOf(cg)
	}
	var m cgroupfs.Memory
	if err := rd.Memory(cg, &m); err != nil {
		return Explanation{}, fmt.Errorf("read memory of %s: %w", cg, err)
	}
	e.CurrentBytes, e.High, e.Max = m.Current, limit(m.High, m.HasHigh), limit(m.Max, true)
	e.Breakdown, e.UnaccountedBytes = breakdown(&m)
	if inact, ok := m.Stat.Get(cgroupfs.InactiveFile); ok && inact <= m.Current {
		ws := m.Current - inact
		e.WorkingSetBytes = &ws
		if sr, ok := m.Stat.Get(cgroupfs.SlabReclaimable); ok {
			e.WorkingSetSlabReclaimableBytes = u64(min(sr, ws))
		}
	}
	e.Processes, e.Notes = processes(rd, o.Roots.Proc, cg)
	for _, p := range e.Processes {
		e.RSSBytes += p.RSSAnonBytes + p.RSSFileBytes + p.RSSShmemBytes
	}
	e.GapBytes = int64(e.CurrentBytes) - int64(e.RSSBytes)
	e.Gap = gapParts(&m)
	e.Children = children(rd, cg, o.Pods)
	e.Verdict = verdict(&e, &m)
	return e, nil
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

// gapParts lists what memory.current holds that no process RSS shows.
func gapParts(m *cgroupfs.Memory) []Part {
	var parts []Part
	add := func(name string, v uint64) {
		if v > 0 {
			parts = append(parts, Part{Name: name, Bytes: v, Share: share(v, m.Current)})
		}
	}
	if v, ok := m.Stat.Get(cgroupfs.SlabReclaimable); ok {
		add("slab_reclaimable (dentries, inodes)", v)
	}
	if v, ok := m.Stat.Get(cgroupfs.SlabUnreclaimable); ok {
		add("slab_unreclaimable", v)
	}
	if file, ok := m.Stat.Get(cgroupfs.File); ok {
		mapped, _ := m.Stat.Get(cgroupfs.FileMapped)
		if file > mapped {
			add("page cache not mapped by any process", file-mapped)
		}
	}
	if k := otherKernel(&m.Stat); k != nil {
		add("other kernel memory", *k)
	}
	return parts
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
			pr := Process{PID: pid, Comm: p.Comm, Cmdline: p.Cmdline, Cgroup: c,
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
		c := Child{Name: k, Cgroup: p, CurrentBytes: m.Current,
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
