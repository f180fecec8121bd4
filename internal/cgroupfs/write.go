package cgroupfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// ErrNoReclaim means the host has no memory.reclaim for the cgroup: a v1
// memory controller, or a v2 kernel older than 5.19.
var ErrNoReclaim = errors.New("no memory.reclaim")

// ReclaimRequest is the text written to memory.reclaim: a byte count and,
// when swappiness is not nil, the swappiness= argument of newer kernels.
func ReclaimRequest(bytes uint64, swappiness *int) string {
	s := strconv.FormatUint(bytes, 10)
	if swappiness != nil {
		s += " swappiness=" + strconv.Itoa(*swappiness)
	}
	return s
}

// Reclaim asks the kernel to reclaim bytes from cgroup cg by writing
// memory.reclaim. The write blocks while the kernel reclaims. The kernel's
// errors come back unwrapped enough for errors.Is: EAGAIN when it reclaimed
// less than asked (normal for slab, whose freeing is not counted), EINVAL
// for an argument it does not know (swappiness= before ~6.9), EBUSY, and
// ErrGone when the cgroup vanished.
func (r *Reader) Reclaim(cg string, bytes uint64, swappiness *int) error {
	if r.L.Mode != Unified {
		return fmt.Errorf("%w: cgroup %s hierarchy", ErrNoReclaim, r.L.Mode)
	}
	dir, err := Dir(r.L.MemoryDir, cg)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "memory.reclaim")
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		if _, serr := os.Stat(dir); serr == nil && errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s is missing (kernel older than 5.19)", ErrNoReclaim, path)
		}
		return gone(fmt.Errorf("open %s: %w", path, err))
	}
	defer f.Close()
	if _, err := f.WriteString(ReclaimRequest(bytes, swappiness)); err != nil {
		return gone(fmt.Errorf("write %q to %s: %w", ReclaimRequest(bytes, swappiness), path, err))
	}
	return nil
}
