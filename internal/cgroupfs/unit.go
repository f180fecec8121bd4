package cgroupfs

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// unitSuffixes are the unit types that own a cgroup.
var unitSuffixes = []string{".slice", ".scope", ".service", ".socket", ".mount", ".swap"}

// UnitOf returns the systemd unit a cgroup path belongs to: its last element
// when that is a unit name ("" when no unit owns it, as under a cgroupfs
// driver's kubepods/ tree).
func UnitOf(cg string) string {
	base := path.Base("/" + cg)
	for _, s := range unitSuffixes {
		if strings.HasSuffix(base, s) && len(base) > len(s) {
			return base
		}
	}
	return ""
}

// IsUnitName reports whether name looks like a systemd unit that owns a
// cgroup.
func IsUnitName(name string) bool {
	return !strings.Contains(name, "/") && UnitOf(name) == name
}

// SlicePath returns the cgroup path of a slice unit, which systemd derives
// from the name: every dash opens a parent slice, so
// "kubepods-burstable-pod1.slice" lives at
// "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice".
// "-.slice" is the root. Escaped dashes (\x2d) do not split.
func SlicePath(name string) (string, error) {
	stem, ok := strings.CutSuffix(name, ".slice")
	if !ok || stem == "" {
		return "", fmt.Errorf("%q is not a slice name", name)
	}
	if stem == "-" {
		return "", nil
	}
	if strings.HasPrefix(stem, "-") || strings.HasSuffix(stem, "-") || strings.Contains(stem, "--") || strings.Contains(stem, "/") {
		return "", fmt.Errorf("%q is not a valid slice name", name)
	}
	parts := strings.Split(stem, "-")
	elems := make([]string, len(parts))
	for i := range parts {
		elems[i] = strings.Join(parts[:i+1], "-") + ".slice"
	}
	return strings.Join(elems, "/"), nil
}

// ErrNoUnit means no cgroup of that unit exists (not started, or no such
// unit).
var ErrNoUnit = errors.New("no cgroup for unit")

// FindUnit returns the cgroup path of a unit. Slices are found from their
// name; other units are searched for in the memory hierarchy, depth first,
// down to maxDepth levels (their slice is not part of their name).
func (r *Reader) FindUnit(name string, maxDepth int) (string, error) {
	if !IsUnitName(name) {
		return "", fmt.Errorf("%q is not a unit name", name)
	}
	if strings.HasSuffix(name, ".slice") {
		p, err := SlicePath(name)
		if err != nil {
			return "", err
		}
		if _, err := r.Children(p); err != nil {
			return "", fmt.Errorf("%w %s: %w", ErrNoUnit, name, err)
		}
		return p, nil
	}
	all, err := r.Walk("", maxDepth)
	if err != nil {
		return "", err
	}
	for _, p := range all {
		if path.Base(p) == name {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w %s within %d levels of %s", ErrNoUnit, name, maxDepth, r.L.MemoryDir)
}
