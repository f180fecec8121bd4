package cgroupfs

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

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
type Handle struct {
	r      *Reader
	cg     string
	memDir string
	psiDir string // "" without per-cgroup PSI
	paths  [numHot]string
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
	if r.L.UnifiedDir != "" {
		if h.psiDir, err = Dir(r.L.UnifiedDir, cg); err != nil {
			return nil, err
		}
	}
	for i := range h.fds {
		h.fds[i] = -1
		h.paths[i] = h.path(hotFile(i))
	}
	return h, nil
}

// Cgroup returns the path the Handle reads.
func (h *Handle) Cgroup() string { return h.cg }

func (h *Handle) path(f hotFile) string {
	switch f {
	case hotCurrent:
		if h.r.L.Mode == Unified {
			return filepath.Join(h.memDir, "memory.current")
		}
		return filepath.Join(h.memDir, "memory.usage_in_bytes")
	case hotStat:
		return filepath.Join(h.memDir, "memory.stat")
	}
	return filepath.Join(h.psiDir, "memory.pressure")
}

// read returns the current contents of a hot file in the Reader's buffer.
func (h *Handle) read(f hotFile) ([]byte, error) {
	path := h.paths[f]
	if h.fds[f] < 0 {
		if h.r.openFDs >= h.r.maxOpen() {
			// Over the descriptor budget: read by path, as a Reader does.
			return h.r.readFile(path)
		}
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
			return h.r.readFile(path)
		}
		if err != nil {
			return nil, gone(fmt.Errorf("open %s: %w", path, err))
		}
		h.fds[f] = fd
		h.r.openFDs++
	}
	buf := h.r.buf[:cap(h.r.buf)]
	for {
		n, err := unix.Pread(h.fds[f], buf, 0)
		if err != nil {
			return nil, gone(fmt.Errorf("read %s: %w", path, err))
		}
		if n < len(buf) {
			h.r.buf = buf
			return buf[:n], nil
		}
		buf = make([]byte, 2*len(buf)) // the file outgrew the buffer
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
		return fmt.Errorf("parse %s: %w", h.paths[hotCurrent], err)
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
		return fmt.Errorf("parse %s: %w", h.paths[hotStat], err)
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
		return psi.Pressure{}, fmt.Errorf("parse %s: %w", h.paths[hotPressure], err)
	}
	return p, nil
}

// Close releases the descriptors.
func (h *Handle) Close() {
	for i, fd := range h.fds {
		if fd >= 0 {
			unix.Close(fd)
			h.fds[i] = -1
			h.r.openFDs--
		}
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
