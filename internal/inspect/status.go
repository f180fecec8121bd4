// Package inspect builds the read-only views of `memrelief status` and
// `memrelief explain`: per-cgroup memory, slab and pressure figures, and the
// account of where one cgroup's memory went.
package inspect

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/paths"
	"github.com/memrelief/memrelief/internal/procinfo"
	"github.com/memrelief/memrelief/internal/psi"
)

// Limits are memory.high and memory.max (v1: memory.limit_in_bytes; the
// node: MemTotal). In JSON each is a number of bytes, or null: with
// high_unlimited (max_unlimited) true when the limit is "max", with false
// when the host has no such limit (memory.high on cgroup v1, or on the
// node). A numeric field never holds a string.
type Limits struct {
	HighBytes     *uint64 `json:"high_bytes"`
	HighUnlimited bool    `json:"high_unlimited"`
	MaxBytes      *uint64 `json:"max_bytes"`
	MaxUnlimited  bool    `json:"max_unlimited"`
}

// limitsOf are the Limits of m; memory.high only when the host has it.
func limitsOf(m *cgroupfs.Memory) Limits {
	var l Limits
	if m.HasHigh {
		l.HighBytes, l.HighUnlimited = limitBytes(m.High)
	}
	l.MaxBytes, l.MaxUnlimited = limitBytes(m.Max)
	return l
}

func limitBytes(v uint64) (*uint64, bool) {
	if v == cgroupfs.Unlimited {
		return nil, true
	}
	return u64(v), false
}

// Row is one line of the status table. Pointer fields are null in JSON and
// "-" in text when the host does not report them, never zero.
type Row struct {
	Name string `json:"name"` // unit name, or Cgroup for cgroups no unit owns; "node" for the node
	// Cgroup is the cgroup's identity (see CgroupID): "/" for the node.
	Cgroup string `json:"cgroup"`
	Depth  int    `json:"depth"` // 0 for the node, 1 for top-level cgroups

	CurrentBytes *uint64 `json:"current_bytes"`
	Limits
	AnonBytes              *uint64 `json:"anon_bytes"`
	FileBytes              *uint64 `json:"file_bytes"`
	InactiveFileBytes      *uint64 `json:"inactive_file_bytes"`
	SlabReclaimableBytes   *uint64 `json:"slab_reclaimable_bytes"`
	SlabUnreclaimableBytes *uint64 `json:"slab_unreclaimable_bytes"`
	// OtherKernelBytes is kernel memory that is not slab: stacks, page
	// tables, per-cpu, sockets, vmalloc (v1: kmem usage, which includes slab
	// since v1 cannot tell them apart).
	OtherKernelBytes *uint64 `json:"other_kernel_bytes"`

	PSISomeAvg10 *float64 `json:"psi_some_avg10"`
	PSISomeAvg60 *float64 `json:"psi_some_avg60"`
	PSIFullAvg10 *float64 `json:"psi_full_avg10"`
	PSIFullAvg60 *float64 `json:"psi_full_avg60"`

	// Node only.
	Dentries         *uint64 `json:"dentries,omitempty"`
	NegativeDentries *uint64 `json:"negative_dentries,omitempty"`

	// Rule and Level come from the running daemon, when there is one.
	Rule  string `json:"rule,omitempty"`
	Level string `json:"level,omitempty"`
	// Pod is the daemon's namespace/name of a pod's row and of its
	// containers' rows; Container is the container's name in a row of a
	// container of a watched pod.
	Pod       string `json:"pod,omitempty"`
	Container string `json:"container,omitempty"`
	// Trend is the daemon's estimate of the row's growth, absent when it
	// keeps no history of the cgroup or has no estimate yet.
	Trend *engine.TrendStatus `json:"trend,omitempty"`

	// Errors says what could not be read for this row.
	Errors []string `json:"errors,omitempty"`
}

// Status is the whole table.
type Status struct {
	Mode string `json:"mode"`
	// Daemon is the running daemon's status line; empty when none answered
	// (then no row has a level).
	Daemon string `json:"daemon,omitempty"`
	Rows   []Row  `json:"rows"`
	// Recent are the daemon's latest level changes and actions, oldest
	// first.
	Recent []DaemonEvent `json:"recent,omitempty"`
	// trends is set when the daemon gave trends, so the text shows the
	// GROWTH and TO-LIMIT columns.
	trends bool
}

// DaemonEvent is one of the daemon's recent events.
type DaemonEvent struct {
	Time    time.Time `json:"time"`
	Message string    `json:"message"`
}

// DaemonLevel is what the daemon says of one cgroup.
type DaemonLevel struct {
	Rule, Level string
	// Pod is the pod's namespace/name, for a pod's cgroup.
	Pod string
	// Trend is the cgroup's growth (nil: no estimate yet); Containers are
	// the containers of a pod that have one.
	Trend      *engine.TrendStatus
	Containers []engine.ContainerStatus
}

// Daemon is what the running daemon said, for BuildStatus.
type Daemon struct {
	Status string
	// Levels are keyed by cgroup path ("/" for the node).
	Levels map[string]DaemonLevel
	Recent []DaemonEvent
	// Trends is set when the daemon answered for trends too: the Trend
	// and Containers of Levels mean something.
	Trends bool
}

// AddDaemon annotates the rows with the daemon's rules, levels and trends,
// keyed by cgroup path ("/" for the node). Rows the daemon does not watch
// get "-".
func (s *Status) AddDaemon(status string, levels map[string]DaemonLevel, recent []DaemonEvent) {
	s.Daemon, s.Recent = status, recent
	for i := range s.Rows {
		if l, ok := levels[s.Rows[i].Cgroup]; ok {
			s.Rows[i].Rule, s.Rows[i].Level, s.Rows[i].Pod, s.Rows[i].Trend = l.Rule, l.Level, l.Pod, l.Trend
		} else {
			s.Rows[i].Rule, s.Rows[i].Level = "-", "-"
		}
	}
}

// addContainers gives the rows of containers of watched pods their trend,
// and adds a row below its pod for each container with a trend that the
// depth left out, read from rd.
func (s *Status) addContainers(rd *cgroupfs.Reader, levels map[string]DaemonLevel) {
	type member struct {
		pod string
		c   engine.ContainerStatus
	}
	byCgroup := map[string]member{}
	for _, l := range levels {
		for _, c := range l.Containers {
			byCgroup[c.Cgroup] = member{l.Pod, c}
		}
	}
	shown := map[string]bool{}
	for i := range s.Rows {
		r := &s.Rows[i]
		if c, ok := byCgroup[r.Cgroup]; ok && r.Depth > 0 {
			r.Pod, r.Container, r.Trend = c.pod, c.c.Name, c.c.Trend
		}
		shown[r.Cgroup] = true
	}
	var m cgroupfs.Memory
	out := make([]Row, 0, len(s.Rows))
	for _, r := range s.Rows {
		out = append(out, r)
		if r.Depth == 0 {
			continue
		}
		for _, c := range levels[r.Cgroup].Containers {
			if shown[c.Cgroup] || c.Trend == nil {
				continue
			}
			row, err := CgroupRow(rd, relPath(c.Cgroup), &m)
			if errors.Is(err, cgroupfs.ErrGone) {
				continue
			}
			row.Rule, row.Level, row.Pod, row.Container, row.Trend = "-", "-", r.Pod, c.Name, c.Trend
			out = append(out, row)
		}
	}
	s.Rows = out
}

// StatusOptions selects the rows.
type StatusOptions struct {
	Roots  paths.Roots
	Layout cgroupfs.Layout
	// Targets are unit names or cgroup paths; empty means the top-level
	// cgroups of the hierarchy.
	Targets []string
	// Depth is how many levels below each target (or below the root) to
	// show; 1 shows only the targets (or top-level cgroups).
	Depth int
	// Sort is a column key (see SortKeys); "" keeps tree order.
	Sort string
	// Daemon, when one answered, adds its levels and trends, and rows for
	// the containers of watched pods that grow.
	Daemon *Daemon
}

// SortKeys are the accepted values of StatusOptions.Sort, each sorting
// descending except name. growth is the daemon's trend of memory.current;
// rows without one of at least medium quality come last.
var SortKeys = []string{"name", "current", "anon", "file", "slab", "slab_reclaimable", "kernel", "psi", "growth"}

// BuildStatus reads the node and the selected cgroups. It fails only on
// bad options (unknown sort key, a target that names nothing); figures that
// cannot be read become row errors.
func BuildStatus(o StatusOptions) (Status, error) {
	if err := checkSortKey(o.Sort); err != nil {
		return Status{}, err
	}
	if o.Depth < 1 {
		o.Depth = 1
	}
	st := Status{Mode: string(o.Layout.Mode), Rows: []Row{NodeRow(o.Roots.Proc)}}
	rd := cgroupfs.NewReader(o.Layout)
	var cgroups []string
	if len(o.Targets) == 0 {
		all, err := rd.Walk("", o.Depth)
		if err != nil {
			return Status{}, fmt.Errorf("list cgroups: %w", err)
		}
		cgroups = all
	} else {
		for _, t := range o.Targets {
			cg, err := Resolve(rd, t)
			if err != nil {
				return Status{}, err
			}
			cgroups = append(cgroups, cg)
			below, err := rd.Walk(cg, o.Depth-1)
			if err != nil && !errors.Is(err, cgroupfs.ErrGone) {
				return Status{}, fmt.Errorf("list cgroups below %s: %w", cg, err)
			}
			cgroups = append(cgroups, below...)
		}
	}
	var m cgroupfs.Memory
	for _, cg := range cgroups {
		row, err := CgroupRow(rd, cg, &m)
		if errors.Is(err, cgroupfs.ErrGone) {
			continue // vanished since the listing: not worth a row
		}
		st.Rows = append(st.Rows, row)
	}
	if d := o.Daemon; d != nil {
		st.AddDaemon(d.Status, d.Levels, d.Recent)
		if d.Trends {
			st.trends = true
			st.addContainers(rd, d.Levels)
		}
	}
	sortRows(st.Rows[1:], o.Sort)
	return st, nil
}

// SortBy sorts the rows below the node's by key (see SortKeys); "" leaves
// them in tree order.
func (s *Status) SortBy(key string) error {
	if err := checkSortKey(key); err != nil {
		return err
	}
	if len(s.Rows) > 1 {
		sortRows(s.Rows[1:], key)
	}
	return nil
}

// checkSortKey accepts "" and the keys of SortKeys.
func checkSortKey(key string) error {
	if key != "" && !slices.Contains(SortKeys, key) {
		return fmt.Errorf("unknown sort key %q (want one of %s)", key, strings.Join(SortKeys, ", "))
	}
	return nil
}

// Resolve turns a unit name or a cgroup path (with or without the leading
// slash, or as an absolute path below the hierarchy root) into a cgroup
// path relative to the root.
func Resolve(rd *cgroupfs.Reader, target string) (string, error) {
	if cgroupfs.IsUnitName(target) {
		cg, err := rd.FindUnit(target, 8)
		if err != nil {
			return "", err
		}
		return cg, nil
	}
	for _, base := range []string{rd.L.MemoryDir, rd.L.UnifiedDir, rd.L.Root} {
		if base != "" && strings.HasPrefix(target, base+"/") {
			target = strings.TrimPrefix(target, base+"/")
			break
		}
	}
	cg := strings.Trim(filepath.Clean("/"+target), "/")
	dir, err := cgroupfs.Dir(rd.L.MemoryDir, cg)
	if err != nil {
		return "", err
	}
	if _, err := rd.Children(cg); err != nil {
		// Absent when asked for: whether it ever existed cannot be told, so
		// it is no such cgroup, not one that is gone (cgroupfs.ErrGone is
		// for a cgroup that vanishes once found).
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("no such cgroup %q: no directory %s", target, dir)
		}
		return "", fmt.Errorf("no cgroup %q in %s: %w", target, rd.L.MemoryDir, err)
	}
	return cg, nil
}

// CgroupID is how memrelief names a cgroup wherever a person or a program
// reads it (status and explain, in text and JSON, D-Bus, metrics, the
// journal): its path below the hierarchy root as the kernel shows it in
// /proc/PID/cgroup, with a leading slash ("/system.slice/x.service"); the
// root, which stands for the node, is "/". cg is a path relative to the
// root, as cgroupfs takes it ("" for the root).
func CgroupID(cg string) string { return "/" + strings.Trim(cg, "/") }

// relPath turns a CgroupID back into the relative path cgroupfs takes.
func relPath(id string) string { return strings.Trim(id, "/") }

func u64(v uint64) *uint64   { return &v }
func f64(v float64) *float64 { return &v }
func get(s *cgroupfs.Stat, f cgroupfs.Field) *uint64 {
	if v, ok := s.Get(f); ok {
		return u64(v)
	}
	return nil
}

// NodeRow reads the node's figures from procfs.
func NodeRow(procRoot string) Row {
	r := Row{Name: "node", Cgroup: CgroupID("")}
	mi, err := procinfo.ReadMeminfo(procRoot)
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
	} else {
		r.CurrentBytes = u64(mi.MemTotal - mi.MemAvailable)
		r.MaxBytes = u64(mi.MemTotal)
		r.AnonBytes = u64(mi.AnonPages)
		r.FileBytes = u64(mi.Cached + mi.Buffers)
		r.InactiveFileBytes = u64(mi.InactiveFile)
		r.SlabReclaimableBytes = u64(mi.SReclaimable)
		r.SlabUnreclaimableBytes = u64(mi.SUnreclaim)
		r.OtherKernelBytes = u64(mi.KernelStack + mi.PageTables)
	}
	path := filepath.Join(procRoot, "pressure", "memory")
	if p, err := psi.ReadFile(path); err != nil {
		r.Errors = append(r.Errors, err.Error())
	} else {
		setPSI(&r, p)
	}
	if d, err := procinfo.ReadDentryState(procRoot); err != nil {
		r.Errors = append(r.Errors, err.Error())
	} else {
		r.Dentries = u64(d.NrDentry)
		if d.HasNegative {
			r.NegativeDentries = u64(d.NrNegative)
		}
	}
	return r
}

func setPSI(r *Row, p psi.Pressure) {
	r.PSISomeAvg10, r.PSISomeAvg60 = f64(p.Some.Avg10), f64(p.Some.Avg60)
	if p.HasFull {
		r.PSIFullAvg10, r.PSIFullAvg60 = f64(p.Full.Avg10), f64(p.Full.Avg60)
	}
}

// CgroupRow reads one cgroup; m is scratch space reused across calls. It
// returns ErrGone (wrapped) when the cgroup vanished; other problems are
// recorded in the row.
func CgroupRow(rd *cgroupfs.Reader, cg string, m *cgroupfs.Memory) (Row, error) {
	r := Row{Name: cgroupfs.UnitOf(cg), Cgroup: CgroupID(cg), Depth: strings.Count(cg, "/") + 1}
	if r.Name == "" {
		r.Name = r.Cgroup
	}
	err := rd.Memory(cg, m)
	switch {
	case errors.Is(err, cgroupfs.ErrGone):
		return r, err
	case err != nil:
		r.Errors = append(r.Errors, err.Error())
	default:
		r.CurrentBytes = u64(m.Current)
		r.Limits = limitsOf(m)
		s := &m.Stat
		r.AnonBytes, r.FileBytes, r.InactiveFileBytes = get(s, cgroupfs.Anon), get(s, cgroupfs.File), get(s, cgroupfs.InactiveFile)
		r.SlabReclaimableBytes, r.SlabUnreclaimableBytes = get(s, cgroupfs.SlabReclaimable), get(s, cgroupfs.SlabUnreclaimable)
		r.OtherKernelBytes = otherKernel(s)
	}
	p, err := rd.Pressure(cg)
	switch {
	case err == nil:
		setPSI(&r, p)
	case errors.Is(err, cgroupfs.ErrNoPSI), errors.Is(err, cgroupfs.ErrGone):
		// Legacy hosts have no per-cgroup PSI; on hybrid hosts a cgroup may
		// exist in the v1 memory tree only. Both show as unavailable.
	default:
		r.Errors = append(r.Errors, err.Error())
	}
	return r, nil
}

// otherKernel is kernel memory outside slab. v2 kernels >= 5.18 report
// "kernel" (all of it); older ones only its parts.
func otherKernel(s *cgroupfs.Stat) *uint64 {
	sr, okR := s.Get(cgroupfs.SlabReclaimable)
	su, okU := s.Get(cgroupfs.SlabUnreclaimable)
	if k, ok := s.Get(cgroupfs.Kernel); ok {
		if okR && okU && k >= sr+su {
			return u64(k - sr - su)
		}
		if !okR && !okU {
			return u64(k) // v1 kmem: slab included, cannot be split
		}
	}
	var sum uint64
	var any bool
	for _, f := range []cgroupfs.Field{cgroupfs.KernelStack, cgroupfs.PageTables, cgroupfs.Percpu, cgroupfs.Sock, cgroupfs.Vmalloc} {
		if v, ok := s.Get(f); ok {
			sum += v
			any = true
		}
	}
	if !any {
		return nil
	}
	return u64(sum)
}

func sortRows(rows []Row, key string) {
	if key == "" {
		return
	}
	val := func(r Row) float64 {
		pick := map[string]*uint64{
			"current": r.CurrentBytes, "anon": r.AnonBytes, "file": r.FileBytes,
			"slab_reclaimable": r.SlabReclaimableBytes, "kernel": r.OtherKernelBytes,
		}
		switch key {
		case "slab":
			var s float64
			if r.SlabReclaimableBytes != nil {
				s += float64(*r.SlabReclaimableBytes)
			}
			if r.SlabUnreclaimableBytes != nil {
				s += float64(*r.SlabUnreclaimableBytes)
			}
			return s
		case "psi":
			if r.PSISomeAvg10 != nil {
				return *r.PSISomeAvg10
			}
			return -1
		case "growth":
			// A shrinking cgroup has a negative rate, so none is below all.
			if steady(r.Trend) {
				return r.Trend.BytesPerSec
			}
			return math.Inf(-1)
		}
		if p := pick[key]; p != nil {
			return float64(*p)
		}
		return -1
	}
	slices.SortStableFunc(rows, func(a, b Row) int {
		if key == "name" {
			return cmp.Compare(a.Name, b.Name)
		}
		return cmp.Compare(val(b), val(a))
	})
}
