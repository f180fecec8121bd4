package cgroupfs

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/memrelief/memrelief/internal/psi"
)

// Unlimited is the value of a limit that is not set ("max" on v2, the
// page-counter maximum on v1).
const Unlimited = math.MaxUint64

// v1 reports "no limit" as PAGE_COUNTER_MAX pages, which depends on the page
// size; anything this large is no limit.
const v1NoLimit = 1 << 62

// Memory is one sample of a cgroup's memory figures.
type Memory struct {
	Current uint64 // memory.current (v1: memory.usage_in_bytes)
	// High and Max are limits in bytes, Unlimited when not set. HasHigh is
	// false on v1, which has no memory.high.
	High, Max uint64
	HasHigh   bool
	Stat      Stat
}

// Reader reads cgroup files of one layout. It reuses one buffer, so a
// Reader must not be shared between goroutines.
type Reader struct {
	L   Layout
	buf []byte
	// MaxOpenFDs caps the descriptors Handles keep open; 0 means half of
	// RLIMIT_NOFILE.
	MaxOpenFDs int
	openFDs    int // held by Handles of this Reader
	// tight is set once a Handle found the budget spent, and cleared when
	// half of it is free again: meanwhile only memory.current keeps a
	// descriptor (see Handle).
	tight   bool
	fdLimit int // computed maxOpen
	dents   []byte
	cpath   []byte // scratch for Handle.cpath
}

// NewReader returns a Reader for l.
func NewReader(l Layout) *Reader { return &Reader{L: l, buf: make([]byte, 0, 8192)} }

// Dir returns the directory of cgroup cg (a path relative to the hierarchy
// root, "" or "/" for the root) in base. It refuses paths that would leave
// base, so odd names from the outside (a unit name with "..") cannot point
// memrelief at another file.
func Dir(base, cg string) (string, error) {
	clean := filepath.Clean("/" + cg)
	if strings.Contains(cg, "\x00") {
		return "", fmt.Errorf("cgroup path %q contains NUL", cg)
	}
	for _, part := range strings.Split(cg, "/") {
		if part == ".." {
			return "", fmt.Errorf("cgroup path %q leaves the hierarchy", cg)
		}
	}
	return filepath.Join(base, clean), nil
}

// readFile reads path into the Reader's buffer; the result is valid until
// the next read.
func (r *Reader) readFile(path string) ([]byte, error) {
	// Plain system calls, not os.Open: a cgroup file cannot be polled, so
	// the runtime's poller registration and the *os.File only cost, and
	// past the descriptor budget every read of every tick comes here.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, gone(&os.PathError{Op: "open", Path: path, Err: err})
	}
	defer unix.Close(fd)
	r.buf = r.buf[:0]
	for {
		if len(r.buf) == cap(r.buf) {
			r.buf = append(r.buf, 0)[:len(r.buf)]
		}
		n, err := unix.Read(fd, r.buf[len(r.buf):cap(r.buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, gone(fmt.Errorf("read %s: %w", path, err))
		}
		if n == 0 {
			return r.buf, nil
		}
		r.buf = r.buf[:len(r.buf)+n]
	}
}

func (r *Reader) readUint(path string) (uint64, error) {
	data, err := r.readFile(path)
	if err != nil {
		return 0, err
	}
	s := string(bytes.TrimSpace(data))
	if s == "max" {
		return Unlimited, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return n, nil
}

// Memory reads the memory figures of cgroup cg into m. Errors wrap ErrGone
// when the cgroup vanished. On unified hosts the root cgroup has no
// memory.current or memory.stat: the node's figures come from /proc/meminfo.
func (r *Reader) Memory(cg string, m *Memory) error {
	if r.L.MemoryDir == "" {
		return errors.New("the memory controller is not mounted")
	}
	dir, err := Dir(r.L.MemoryDir, cg)
	if err != nil {
		return err
	}
	if r.L.Mode == Unified {
		return r.memoryV2(dir, m)
	}
	return r.memoryV1(dir, m)
}

func (r *Reader) memoryV2(dir string, m *Memory) error {
	var err error
	if m.Current, err = r.readUint(filepath.Join(dir, "memory.current")); err != nil {
		return err
	}
	if m.High, err = r.readUint(filepath.Join(dir, "memory.high")); err != nil {
		return err
	}
	m.HasHigh = true
	if m.Max, err = r.readUint(filepath.Join(dir, "memory.max")); err != nil {
		return err
	}
	path := filepath.Join(dir, "memory.stat")
	data, err := r.readFile(path)
	if err != nil {
		return err
	}
	if err := ParseStatV2(data, &m.Stat); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

func (r *Reader) memoryV1(dir string, m *Memory) error {
	var err error
	if m.Current, err = r.readUint(filepath.Join(dir, "memory.usage_in_bytes")); err != nil {
		return err
	}
	if m.Max, err = r.readUint(filepath.Join(dir, "memory.limit_in_bytes")); err != nil {
		return err
	}
	if m.Max >= v1NoLimit {
		m.Max = Unlimited
	}
	m.High, m.HasHigh = Unlimited, false
	path := filepath.Join(dir, "memory.stat")
	data, err := r.readFile(path)
	if err != nil {
		return err
	}
	if err := ParseStatV1(data, &m.Stat); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	// kmem accounting is all the kernel memory of the cgroup; some kernels
	// (cgroup.memory=nokmem) leave the file out, which is not an error.
	kmem, err := r.readUint(filepath.Join(dir, "memory.kmem.usage_in_bytes"))
	switch {
	case err == nil:
		m.Stat.Set(Kernel, kmem)
	case !errors.Is(err, ErrGone):
		return err
	}
	return nil
}

// ErrNoPSI means the host has no per-cgroup PSI for this cgroup: a legacy
// host, or a v2 tree where the file is missing.
var ErrNoPSI = errors.New("no per-cgroup pressure file")

// Pressure reads memory.pressure of cgroup cg from the v2 tree (on hybrid
// hosts the v2 tree at unified/ carries it). It returns ErrNoPSI on legacy
// hosts, psi.ErrEmpty where PSI is switched off, and ErrGone when the cgroup
// vanished.
func (r *Reader) Pressure(cg string) (psi.Pressure, error) {
	path, err := r.PressurePath(cg)
	if err != nil {
		return psi.Pressure{}, err
	}
	data, err := r.readFile(path)
	if err != nil {
		return psi.Pressure{}, err
	}
	p, err := psi.Parse(data)
	if err != nil {
		return psi.Pressure{}, fmt.Errorf("parse %s: %w", path, err)
	}
	return p, nil
}

// PressurePath returns the memory.pressure file of cgroup cg, for reading or
// for a PSI trigger.
func (r *Reader) PressurePath(cg string) (string, error) {
	if r.L.UnifiedDir == "" {
		return "", ErrNoPSI
	}
	dir, err := Dir(r.L.UnifiedDir, cg)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "memory.pressure"), nil
}

// Procs returns the PIDs in cgroup cg itself (not its descendants), from the
// memory hierarchy.
func (r *Reader) Procs(cg string) ([]int, error) {
	base := r.L.MemoryDir
	if base == "" {
		base = r.L.UnifiedDir
	}
	dir, err := Dir(base, cg)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "cgroup.procs")
	data, err := r.readFile(path)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range bytes.Fields(data) {
		pid, err := strconv.Atoi(string(f))
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// Children returns the names of the child cgroups of cg in the memory
// hierarchy, sorted.
func (r *Reader) Children(cg string) ([]string, error) {
	dir, err := Dir(r.L.MemoryDir, cg)
	if err != nil {
		return nil, err
	}
	// getdents64 directly, keeping only directories: a cgroup holds dozens
	// of files and a few children, and os.ReadDir made (and sorted) an
	// entry for every file of every cgroup on every rescan.
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, gone(&os.PathError{Op: "open", Path: dir, Err: err})
	}
	defer unix.Close(fd)
	if r.dents == nil {
		r.dents = make([]byte, 16384)
	}
	var out []string
	for {
		n, err := unix.Getdents(fd, r.dents)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, gone(&os.PathError{Op: "getdents", Path: dir, Err: err})
		}
		if n <= 0 {
			break
		}
		for b := r.dents[:n]; len(b) >= direntName; {
			reclen := int(b[16]) | int(b[17])<<8
			if reclen < direntName || reclen > len(b) {
				return nil, fmt.Errorf("read directory %s: bad entry length %d", dir, reclen)
			}
			typ, name := b[18], b[direntName:reclen]
			b = b[reclen:]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			isDir := typ == unix.DT_DIR
			if typ == unix.DT_UNKNOWN { // not from kernfs, but some file systems
				var st unix.Stat_t
				isDir = unix.Fstatat(fd, string(name), &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
			}
			if isDir && string(name) != "." && string(name) != ".." {
				out = append(out, string(name))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// direntName is the offset of the name in a linux_dirent64: inode (8),
// offset (8), record length (2), type (1).
const direntName = 19

// Walk returns cg's descendants down to depth levels below it (1: children
// only), parents before children, as paths relative to the root. Cgroups that
// vanish while walking are skipped.
func (r *Reader) Walk(cg string, depth int) ([]string, error) {
	if depth <= 0 {
		return nil, nil
	}
	kids, err := r.Children(cg)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range kids {
		p := strings.TrimPrefix(cg+"/"+k, "/")
		out = append(out, p)
		sub, err := r.Walk(p, depth-1)
		if err != nil && !errors.Is(err, ErrGone) {
			return nil, err
		}
		out = append(out, sub...)
	}
	return out, nil
}

// Controllers returns the controllers enabled for cg's children on the v2
// tree (cgroup.subtree_control), or those available at the root
// (cgroup.controllers) when file is "cgroup.controllers".
func (r *Reader) Controllers(cg, file string) ([]string, error) {
	if r.L.UnifiedDir == "" {
		return nil, errors.New("no v2 tree")
	}
	dir, err := Dir(r.L.UnifiedDir, cg)
	if err != nil {
		return nil, err
	}
	data, err := r.readFile(filepath.Join(dir, file))
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(data)), nil
}
