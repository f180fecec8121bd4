// Package procinfo reads the node-wide and per-process figures memrelief
// needs from procfs: /proc/meminfo, /proc/sys/fs/dentry-state,
// vm.vfs_cache_pressure, and a process's RSS, command and inotify watches.
package procinfo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
)

// Meminfo holds the /proc/meminfo figures memrelief uses, in bytes.
type Meminfo struct {
	MemTotal, MemAvailable     uint64
	SReclaimable, SUnreclaim   uint64
	KernelStack, PageTables    uint64
	Active, Inactive           uint64
	InactiveFile, Shmem        uint64
	AnonPages, Cached, Buffers uint64
}

// ReadMeminfo reads procRoot/meminfo. A file without MemTotal, MemAvailable
// (kernel >= 3.14), SReclaimable or SUnreclaim is an error: a node row of
// zeros would read as a healthy node.
func ReadMeminfo(procRoot string) (Meminfo, error) {
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return Meminfo{}, fmt.Errorf("open procfs at %s: %w", procRoot, err)
	}
	mi, err := fs.Meminfo()
	if err != nil {
		return Meminfo{}, fmt.Errorf("read %s: %w", filepath.Join(procRoot, "meminfo"), err)
	}
	var out Meminfo
	var missing []string
	for _, f := range []struct {
		name string
		src  *uint64
		dst  *uint64
		need bool
	}{
		{"MemTotal", mi.MemTotalBytes, &out.MemTotal, true},
		{"MemAvailable", mi.MemAvailableBytes, &out.MemAvailable, true},
		{"SReclaimable", mi.SReclaimableBytes, &out.SReclaimable, true},
		{"SUnreclaim", mi.SUnreclaimBytes, &out.SUnreclaim, true},
		{"KernelStack", mi.KernelStackBytes, &out.KernelStack, false},
		{"PageTables", mi.PageTablesBytes, &out.PageTables, false},
		{"Active", mi.ActiveBytes, &out.Active, false},
		{"Inactive", mi.InactiveBytes, &out.Inactive, false},
		{"Inactive(file)", mi.InactiveFileBytes, &out.InactiveFile, false},
		{"Shmem", mi.ShmemBytes, &out.Shmem, false},
		{"AnonPages", mi.AnonPagesBytes, &out.AnonPages, false},
		{"Cached", mi.CachedBytes, &out.Cached, false},
		{"Buffers", mi.BuffersBytes, &out.Buffers, false},
	} {
		if f.src == nil {
			if f.need {
				missing = append(missing, f.name)
			}
			continue
		}
		*f.dst = *f.src
	}
	if len(missing) > 0 {
		return Meminfo{}, fmt.Errorf("read %s: missing %s", filepath.Join(procRoot, "meminfo"), strings.Join(missing, ", "))
	}
	return out, nil
}

// DentryState is /proc/sys/fs/dentry-state. NrNegative is 0 on kernels
// before 5.0, where HasNegative is false.
type DentryState struct {
	NrDentry, NrUnused, AgeLimitSec, WantPages, NrNegative uint64
	HasNegative                                            bool
}

// ParseDentryState parses dentry-state: six unsigned numbers separated by
// white space (nr_dentry nr_unused age_limit want_pages nr_negative dummy).
// Kernels before 5.0 print 0 in the nr_negative place, which is indistinguishable
// from none; the six numbers are required.
func ParseDentryState(data []byte) (DentryState, error) {
	f := bytes.Fields(data)
	if len(f) != 6 {
		return DentryState{}, fmt.Errorf("dentry-state: want 6 numbers, got %d fields", len(f))
	}
	var n [6]uint64
	for i := range f {
		v, err := strconv.ParseUint(string(f[i]), 10, 64)
		if err != nil {
			return DentryState{}, fmt.Errorf("dentry-state field %d: %w", i+1, err)
		}
		n[i] = v
	}
	return DentryState{NrDentry: n[0], NrUnused: n[1], AgeLimitSec: n[2], WantPages: n[3], NrNegative: n[4], HasNegative: true}, nil
}

// ReadDentryState reads procRoot/sys/fs/dentry-state.
func ReadDentryState(procRoot string) (DentryState, error) {
	path := filepath.Join(procRoot, "sys/fs/dentry-state")
	data, err := os.ReadFile(path)
	if err != nil {
		return DentryState{}, fmt.Errorf("read dentry state: %w", err)
	}
	d, err := ParseDentryState(data)
	if err != nil {
		return DentryState{}, fmt.Errorf("parse %s: %w", path, err)
	}
	return d, nil
}

// KernelRelease reads procRoot/sys/kernel/osrelease ("6.1.0-26-amd64").
func KernelRelease(procRoot string) (string, error) {
	data, err := os.ReadFile(filepath.Join(procRoot, "sys/kernel/osrelease"))
	if err != nil {
		return "", fmt.Errorf("read kernel release: %w", err)
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", errors.New("kernel release is empty")
	}
	return s, nil
}

// KernelVersion returns the major and minor number of a release string.
func KernelVersion(release string) (major, minor int, err error) {
	maj, rest, ok := strings.Cut(release, ".")
	if !ok {
		return 0, 0, fmt.Errorf("kernel release %q has no minor version", release)
	}
	min := rest
	if i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		min = rest[:i]
	}
	if major, err = strconv.Atoi(maj); err != nil {
		return 0, 0, fmt.Errorf("kernel release %q: %w", release, err)
	}
	if minor, err = strconv.Atoi(min); err != nil {
		return 0, 0, fmt.Errorf("kernel release %q: %w", release, err)
	}
	return major, minor, nil
}
