// Package cgroupfs is memrelief's only door to the cgroup file system: it
// works out which hierarchy the host runs (unified v2, hybrid, legacy v1),
// reads memory and pressure figures of a cgroup in whichever of them holds
// them, maps systemd unit names to cgroup paths and writes the knobs
// memrelief is allowed to touch.
package cgroupfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Mode is the cgroup hierarchy layout of a host.
type Mode string

// The three layouts systemd can boot with.
const (
	Unified Mode = "unified" // cgroup v2 only
	Hybrid  Mode = "hybrid"  // v1 controllers, plus a controller-less v2 tree at unified/
	Legacy  Mode = "legacy"  // v1 only
)

// File system magic numbers from statfs(2) (linux/magic.h).
const (
	Cgroup2Magic = 0x63677270
	CgroupMagic  = 0x27e0eb
	TmpfsMagic   = 0x01021994
)

// StatFS returns the file system magic of path. SysStatFS is the real one;
// tests pass a fake so fixture trees on any file system can pose as a host.
type StatFS func(path string) (int64, error)

// FromFiles is a StatFS for trees that are not the live host (fixtures,
// copies): it reports no magic, so DetectLayout infers the layout from the
// files present whatever file system holds them.
func FromFiles(string) (int64, error) { return 0, nil }

// SysStatFS calls statfs(2).
func SysStatFS(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return int64(st.Type), nil
}

// Layout says where a host keeps its cgroup files.
type Layout struct {
	Mode Mode
	// Root is the cgroup mount point (/sys/fs/cgroup).
	Root string
	// MemoryDir holds the memory controller's files of every cgroup: Root on
	// unified hosts, Root/memory on hybrid and legacy ones. Empty when the
	// memory controller is not mounted at all.
	MemoryDir string
	// UnifiedDir is the v2 tree, which alone carries per-cgroup PSI: Root on
	// unified hosts, Root/unified on hybrid ones, empty on legacy ones.
	UnifiedDir string
	// Evidence lists, in order, the observations the answer rests on.
	Evidence []string
}

// DetectLayout works out the layout of the hierarchy mounted at root.
//
// It trusts statfs magic numbers first (kernel-facts: cgroup2 magic at the
// root means unified; tmpfs at the root with cgroup2 at unified/ means
// hybrid). When the root is not a cgroup or tmpfs mount at all, which is the
// case for fixture trees and for chroots with bind-mounted copies, it falls
// back to the files present and says so in Evidence. It returns an error only
// when root does not exist or fits no layout.
func DetectLayout(root string, statfs StatFS) (Layout, error) {
	l := Layout{Root: root}
	if _, err := os.Stat(root); err != nil {
		return l, fmt.Errorf("cgroup root: %w", err)
	}
	magic, err := statfs(root)
	if err != nil {
		return l, err
	}
	switch magic {
	case Cgroup2Magic:
		l.Evidence = append(l.Evidence, fmt.Sprintf("statfs(%s) = 0x%x (cgroup2): unified hierarchy", root, magic))
		l.setUnified()
		return l, nil
	case TmpfsMagic:
		l.Evidence = append(l.Evidence, fmt.Sprintf("statfs(%s) = 0x%x (tmpfs): v1 controllers mounted below it", root, magic))
		uni := filepath.Join(root, "unified")
		if m, err := statfs(uni); err == nil && m == Cgroup2Magic {
			l.Evidence = append(l.Evidence, fmt.Sprintf("statfs(%s) = 0x%x (cgroup2): hybrid", uni, m))
			l.setV1(Hybrid)
		} else {
			l.Evidence = append(l.Evidence, fmt.Sprintf("%s is not a cgroup2 mount: legacy", uni))
			l.setV1(Legacy)
		}
		return l, nil
	}
	if magic == 0 {
		l.Evidence = append(l.Evidence, fmt.Sprintf("%s is not the live host's: layout inferred from the files present", root))
	} else {
		l.Evidence = append(l.Evidence, fmt.Sprintf("statfs(%s) = 0x%x is neither cgroup2 nor tmpfs: layout inferred from the files present", root, magic))
	}
	switch {
	case exists(filepath.Join(root, "cgroup.controllers")):
		l.Evidence = append(l.Evidence, "cgroup.controllers at the root: unified")
		l.setUnified()
	case exists(filepath.Join(root, "unified", "cgroup.controllers")):
		l.Evidence = append(l.Evidence, "unified/cgroup.controllers present: hybrid")
		l.setV1(Hybrid)
	case isDir(filepath.Join(root, "memory")) || isDir(filepath.Join(root, "systemd")):
		l.Evidence = append(l.Evidence, "v1 controller directories and no v2 tree: legacy")
		l.setV1(Legacy)
	default:
		return l, fmt.Errorf("%s holds no cgroup hierarchy (no cgroup.controllers, unified/ or memory/)", root)
	}
	return l, nil
}

func (l *Layout) setUnified() {
	l.Mode, l.MemoryDir, l.UnifiedDir = Unified, l.Root, l.Root
}

func (l *Layout) setV1(m Mode) {
	l.Mode = m
	if m == Hybrid {
		l.UnifiedDir = filepath.Join(l.Root, "unified")
	}
	mem := filepath.Join(l.Root, "memory")
	if isDir(mem) {
		l.MemoryDir = mem
	} else {
		l.Evidence = append(l.Evidence, mem+" is missing: the v1 memory controller is not mounted")
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// ErrGone marks a cgroup that vanished between listing and reading, which is
// normal (pods and scopes come and go) and never a reason to stop.
var ErrGone = errors.New("cgroup is gone")

// gone maps the errors a removed cgroup produces (ENOENT on open, ENODEV on
// read of an already opened file) to ErrGone, keeping the original.
func gone(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENODEV) {
		return fmt.Errorf("%w: %w", ErrGone, err)
	}
	return err
}
