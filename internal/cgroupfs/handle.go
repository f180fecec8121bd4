package cgroupfs

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/memrelief/memrelief/internal/psi"
)

// Handle reads the files of one cgroup that change every tick through file
// descriptors kept open between reads. A cgroup file read again from
// offset 0 gives fresh figures, so one pread(2) replaces open, read and
// close (and the Go runtime's poller registration) on every tick; with
// thousands of cgroups that is most of a tick's cost. Limits change rarely
// and are read by path on request. A Handle belongs to the Reader's
// goroutine.
//
// Past the descriptor budget a file is read by path: open, pread, close,
// through the path built NUL-terminated in the Reader's scratch space, so
// that costs two more system calls and no allocation, and a Handle keeps
// no copy of its paths (thousands of cgroups would keep three each). Once
// the budget has run out, memory.stat and memory.pressure (read only when
// a condition could need them) give their descriptors back at their next
// read, so memory.current, read every tick, is the file that keeps one.
type Handle struct {
	r      *Reader
	cg     string
	memDir string
	psiDir string // "" without per-cgroup PSI
	fds    [numHot]int
}

type hotFile int

const (
	hotCurrent hotFile = iota
	hotStat
	hotPressure
	numHot
)

// Open returns a Handle for cgroup cg. Files are opened on first read.
func (r *Reader) Open(cg string) (*Handle, error) {
	if r.L.MemoryDir == "" {
		return nil, errors.New("the memory controller is not mounted")
	}
	memDir, err := Dir(r.L.MemoryDir, cg)
	if err != nil {
		return nil, err
	}
	h := &Handle{r: r, cg: cg, memDir: memDir}
	for i := range h.fds {
		h.fds[i] = -1
	}
	switch r.L.UnifiedDir {
	case "":
	case r.L.MemoryDir:
		h.psiDir = memDir // v2: one directory, one string
	default:
		if h.psiDir, err = Dir(r.L.UnifiedDir, cg); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Cgroup returns the path the Handle reads.
func (h *Handle) Cgroup() string { return h.cg }

// file gives the directory and the name of hot file f.
func (h *Handle) file(f hotFile) (dir, name string) {
	switch f {
	case hotCurrent:
		if h.r.L.Mode == Unified {
			return h.memDir, "memory.current"
		}
		return h.memDir, "memory.usage_in_bytes"
	case hotStat:
		return h.memDir, "memory.stat"
	}
	return h.psiDir, "memory.pressure"
}

// name is the path of hot file f, for messages.
func (h *Handle) name(f hotFile) string { return filepath.Join(h.file(f)) }

// cpath builds the path of hot file f, NUL-terminated, in the Reader's
// scratch space: valid until the next call.
func (h *Handle) cpath(f hotFile) []byte {
	dir, name := h.file(f)
	b := append(h.r.cpath[:0], dir...)
	b = append(append(b, '/'), name...)
	h.r.cpath = append(b, 0)
	return h.r.cpath
}

// read returns the current contents of a hot file in the Reader's buffer.
func (h *Handle) read(f hotFile) ([]byte, error) {
	cold := f != hotCurrent
	if h.fds[f] < 0 {
		if h.r.openFDs >= h.r.maxOpen() {
			h.r.tight = true
			return h.readOnce(f)
		}
		if cold && h.r.tight {
			return h.readOnce(f)
		}
		fd, err := openRaw(h.cpath(f))
		if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
			h.r.tight = true
			return h.readOnce(f)
		}
		if err != nil {
			return nil, gone(fmt.Errorf("open %s: %w", h.name(f), err))
		}
		h.fds[f] = fd
		h.r.openFDs++
	}
	data, err := h.r.pread(h.fds[f])
	if err != nil {
		return nil, gone(fmt.Errorf("read %s: %w", h.name(f), err))
	}
	if cold && h.r.tight {
		h.closeFile(f)
	}
	return data, nil
}

// readOnce reads hot file f without keeping a descriptor.
func (h *Handle) readOnce(f hotFile) ([]byte, error) {
	fd, err := openRaw(h.cpath(f))
	if err != nil {
		return nil, gone(fmt.Errorf("open %s: %w", h.name(f), err))
	}
	data, err := h.r.pread(fd)
	unix.Close(fd)
	if err != nil {
		return nil, gone(fmt.Errorf("read %s: %w", h.name(f), err))
	}
	return data, nil
}

// pread reads a whole cgroup file from offset 0 into the Reader's buffer.
// A cgroup file is generated whole on a read that has room for it, so a
// short read is all of it.
func (r *Reader) pread(fd int) ([]byte, error) {
	buf := r.buf[:cap(r.buf)]
	for {
		n, err := unix.Pread(fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n < len(buf) {
			r.buf = buf
			return buf[:n], nil
		}
		buf = make([]byte, 2*len(buf)) // the file outgrew the buffer
	}
}

// openRaw opens a NUL-terminated path for reading: unix.Open would copy
// the path into a new C string on every call, one allocation per file per
// tick for every cgroup past the descriptor budget.
func openRaw(cpath []byte) (int, error) {
	atFDCWD := unix.AT_FDCWD
	for {
		fd, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(&cpath[0])),
			uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
		switch errno {
		case 0:
			return int(fd), nil
		case unix.EINTR:
			continue
		}
		return -1, errno
	}
}

// Memory reads the cgroup's figures into m: Usage and Stat. With limits
// false it keeps m.High, m.Max and m.HasHigh from the previous read, for
// callers that refresh limits less often than usage.
func (h *Handle) Memory(m *Memory, limits bool) error {
	if err := h.Usage(m, limits); err != nil {
		return err
	}
	return h.Stat(m)
}

// Usage reads the charge (memory.current) and, with limits, memory.high and
// memory.max into m, and leaves m.Stat as it was: one number the kernel
// keeps ready, where memory.stat is dozens it must gather first.
func (h *Handle) Usage(m *Memory, limits bool) error {
	data, err := h.read(hotCurrent)
	if err != nil {
		return err
	}
	cur, err := strconv.ParseUint(string(bytes.TrimSpace(data)), 10, 64)
	if err != nil {
		return fmt.Errorf("parse %s: %w", h.name(hotCurrent), err)
	}
	m.Current = cur
	if !limits {
		return nil
	}
	if h.r.L.Mode == Unified {
		if m.High, err = h.r.readUint(filepath.Join(h.memDir, "memory.high")); err != nil {
			return err
		}
		m.HasHigh = true
		m.Max, err = h.r.readUint(filepath.Join(h.memDir, "memory.max"))
		return err
	}
	if m.Max, err = h.r.readUint(filepath.Join(h.memDir, "memory.limit_in_bytes")); err != nil {
		return err
	}
	if m.Max >= v1NoLimit {
		m.Max = Unlimited
	}
	m.High, m.HasHigh = Unlimited, false
	return nil
}

// Stat reads memory.stat into m.Stat (and, on v1, kmem usage as Kernel).
func (h *Handle) Stat(m *Memory) error {
	data, err := h.read(hotStat)
	if err != nil {
		return err
	}
	parse := ParseStatV2
	if h.r.L.Mode != Unified {
		parse = ParseStatV1
	}
	if err := parse(data, &m.Stat); err != nil {
		return fmt.Errorf("parse %s: %w", h.name(hotStat), err)
	}
	if h.r.L.Mode != Unified {
		// v1 kmem: one more file, read by path; absent with nokmem.
		kmem, err := h.r.readUint(filepath.Join(h.memDir, "memory.kmem.usage_in_bytes"))
		switch {
		case err == nil:
			m.Stat.Set(Kernel, kmem)
		case !errors.Is(err, ErrGone):
			return err
		}
	}
	return nil
}

// Pressure reads memory.pressure; errors as Reader.Pressure.
func (h *Handle) Pressure() (psi.Pressure, error) {
	if h.psiDir == "" {
		return psi.Pressure{}, ErrNoPSI
	}
	data, err := h.read(hotPressure)
	if err != nil {
		return psi.Pressure{}, err
	}
	p, err := psi.Parse(data)
	if err != nil {
		return psi.Pressure{}, fmt.Errorf("parse %s: %w", h.name(hotPressure), err)
	}
	return p, nil
}

// Close releases the descriptors.
func (h *Handle) Close() {
	for f := range h.fds {
		h.closeFile(hotFile(f))
	}
	// Cgroups have gone: with half the budget free, files read only when
	// needed may keep descriptors again. (Not when they give theirs back
	// to memory.current: that frees half the budget by design.)
	if h.r.openFDs < h.r.maxOpen()/2 {
		h.r.tight = false
	}
}

func (h *Handle) closeFile(f hotFile) {
	if h.fds[f] >= 0 {
		unix.Close(h.fds[f])
		h.fds[f] = -1
		h.r.openFDs--
	}
}

// maxOpen is how many descriptors Handles may keep open: half the soft
// RLIMIT_NOFILE (which Go raises to the hard limit at start), leaving the
// rest for everything else. MaxOpenFDs overrides it.
func (r *Reader) maxOpen() int {
	if r.MaxOpenFDs > 0 {
		return r.MaxOpenFDs
	}
	if r.fdLimit == 0 {
		var lim unix.Rlimit
		r.fdLimit = 512
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil && lim.Cur/2 > 512 {
			r.fdLimit = int(min(lim.Cur/2, 1<<20))
		}
	}
	return r.fdLimit
}
