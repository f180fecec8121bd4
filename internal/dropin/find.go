// Package dropin reads memrelief's per-unit overrides from the
// [X-MemRelief] sections of systemd unit drop-ins (systemd ignores X-
// sections, so the settings can live next to the unit's own).
//
// Which drop-ins apply to a unit is systemd's decision: where D-Bus is
// available the unit's DropInPaths property says so exactly. Elsewhere
// (no systemd, fixture trees) Scan reproduces systemd's own search: the
// unit load path in priority order, the unit's name, template and dash
// prefixes ("kubepods-burstable-.slice.d/"), the top-level type directory
// ("slice.d/"), one file per name from the highest-priority directory, and
// all files applied in file-name order, later names winning.
package dropin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/memrelief/memrelief/internal/paths"
	"github.com/memrelief/memrelief/internal/policy"
)

// Bus is the one question memrelief asks systemd about drop-ins.
type Bus interface {
	// DropInPaths returns the unit's drop-in files in the order systemd
	// applies them.
	DropInPaths(ctx context.Context, unit string) ([]string, error)
}

// FakeBus answers DropInPaths from a map, for tests. A unit missing from
// the map has no drop-ins; Err, when set, is returned for every unit.
type FakeBus struct {
	Paths map[string][]string
	Err   error
}

// DropInPaths implements Bus.
func (f FakeBus) DropInPaths(_ context.Context, unit string) ([]string, error) {
	if f.Err != nil {
		return nil, f.Err
	}
	return f.Paths[unit], nil
}

var _ Bus = FakeBus{}

// SearchPath returns systemd's system unit load path under the given roots,
// highest priority first, as listed in systemd.unit(5) and used by
// systemd's lookup_paths_init: the D-Bus control directories and transient
// units come before /etc/systemd/system, which comes before
// /run/systemd/system, which comes before /usr/lib/systemd/system. So /etc
// overrides /run for drop-ins of the same name, and runtime drop-ins made
// with SetUnitProperties (system.control) override both.
//
// Distributions that still ship units in /lib/systemd/system have it
// merged into /usr/lib on every current release; it is not searched.
func SearchPath(r paths.Roots) []string {
	return []string{
		filepath.Join(r.Etc, "systemd/system.control"),
		filepath.Join(r.Run, "systemd/system.control"),
		filepath.Join(r.Run, "systemd/transient"),
		filepath.Join(r.Run, "systemd/generator.early"),
		filepath.Join(r.Etc, "systemd/system"),
		filepath.Join(r.Etc, "systemd/system.attached"),
		filepath.Join(r.Run, "systemd/system"),
		filepath.Join(r.Run, "systemd/system.attached"),
		filepath.Join(r.Run, "systemd/generator"),
		filepath.Join(r.Usr, "local/lib/systemd/system"),
		filepath.Join(r.Usr, "lib/systemd/system"),
		filepath.Join(r.Run, "systemd/generator.late"),
	}
}

// DirNames returns the names of the drop-in directories systemd consults
// for a unit, most specific first: the unit itself, its template, then
// each dash prefix ("foo-bar-baz.service" -> "foo-bar-.service.d",
// "foo-.service.d"), and last the top-level type directory
// ("service.d"). It follows systemd's unit_file_find_dirs.
func DirNames(unit string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(d string) {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	unitDirs(unit, add, 0)
	if dot := strings.LastIndexByte(unit, '.'); dot >= 0 && dot+1 < len(unit) {
		add(unit[dot+1:] + ".d")
	}
	return out
}

func unitDirs(name string, add func(string), depth int) {
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 || depth > 64 {
		return
	}
	add(name + ".d")
	typ := name[dot+1:]
	prefix, instance, isInstance := name[:dot], "", false
	if at := strings.IndexByte(name[:dot], '@'); at >= 0 {
		prefix, instance = name[:at], name[at+1:dot]
		isInstance = instance != ""
		if isInstance {
			unitDirs(prefix+"@."+typ, add, depth+1)
		}
	}
	// Walk up one dash: "foo-bar-baz" -> "foo-bar-"; a name that already
	// ends in a dash ("foo-bar-") loses it first -> "foo-".
	chopped := false
	for {
		i := strings.LastIndexByte(prefix, '-')
		if i <= 0 {
			return
		}
		if i+1 != len(prefix) || chopped {
			prefix = prefix[:i+1]
			break
		}
		prefix = prefix[:i]
		chopped = true
	}
	if isInstance {
		unitDirs(prefix+"@"+instance+"."+typ, add, depth+1)
	} else {
		unitDirs(prefix+"."+typ, add, depth+1)
	}
}

// Scan lists the drop-in files that apply to unit, in the order systemd
// applies them, by searching the directories under r. Directories that do
// not exist are normal; other read errors are returned. warns names the
// entries ending in .conf that systemd passes over but whose author likely
// meant a drop-in: a directory or other non-regular file, a dangling
// symlink. Masks (a symlink to /dev/null, an empty file) are silent.
//
// When r is under a root other than "/" (paths.Under), symlinks are
// resolved inside that root (see readConfined), never out of it.
func Scan(r paths.Roots, unit string) (files []string, warns policy.Errors, err error) {
	names := DirNames(unit)
	var dirs []string
	// The unit's own name, template and prefixes in every load-path
	// directory first, then the type-wide directory: systemd adds the
	// type-wide one last "as it is the most generic".
	typeDir := names[len(names)-1]
	for _, lp := range SearchPath(r) {
		for _, n := range names[:len(names)-1] {
			dirs = append(dirs, filepath.Join(lp, n))
		}
	}
	for _, lp := range SearchPath(r) {
		dirs = append(dirs, filepath.Join(lp, typeDir))
	}
	chosen := map[string]string{} // file name -> path; first directory wins
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				continue
			}
			return nil, nil, fmt.Errorf("scan drop-ins of %s: %w", unit, err)
		}
		for _, e := range entries {
			n := e.Name()
			if !strings.HasSuffix(n, ".conf") || strings.HasPrefix(n, ".") {
				continue
			}
			if _, taken := chosen[n]; taken {
				continue
			}
			p := filepath.Join(d, n)
			if e.IsDir() {
				warns = append(warns, policy.Error{File: p, Msg: "a directory named *.conf is not a drop-in; systemd and memrelief ignore it"})
				continue
			}
			chosen[n] = p // even a mask: it hides same-named files below
		}
	}
	names = names[:0]
	for n := range chosen {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := chosen[n]
		m, why := masked(r, p)
		if why != "" {
			warns = append(warns, policy.Error{File: p, Msg: why})
		}
		if m {
			continue
		}
		files = append(files, p)
	}
	return files, warns, nil
}

// masked reports whether a drop-in contributes nothing: a mask (a symlink
// to /dev/null or an empty file), silently, or something that is not a
// readable regular file, with why for a warning.
func masked(r paths.Roots, p string) (bool, string) {
	if t, err := os.Readlink(p); err == nil && t == "/dev/null" {
		return true, ""
	}
	st, err := statConfined(r, p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if root := rootOf(r, p); root != "" && root != "/" {
			return true, fmt.Sprintf("a symlink to nothing under %s (symlinks are resolved inside the root, as systemd --root does), ignored", root)
		}
		return true, "a symlink to nothing, ignored"
	case err != nil:
		return true, fmt.Sprintf("ignored: %v", err)
	case !st.Mode().IsRegular():
		return true, fmt.Sprintf("ignored: not a regular file (%s)", st.Mode().Type())
	}
	return st.Size() == 0, ""
}

// Finder finds a unit's drop-ins: through Bus when it is set, else by
// scanning the directories under Roots.
type Finder struct {
	Roots paths.Roots
	Bus   Bus
}

// How drop-ins were found, for reports.
const (
	ViaBus  = "systemd (DropInPaths over D-Bus)"
	ViaScan = "a scan of systemd's unit directories"
)

// Files returns the unit's drop-in files in the order systemd applies
// them and how they were found. When the bus fails, it falls back to a
// scan and says so in via. warns are Scan's.
func (f Finder) Files(ctx context.Context, unit string) (files []string, via string, warns policy.Errors, err error) {
	if f.Bus != nil {
		files, err := f.Bus.DropInPaths(ctx, unit)
		if err == nil {
			return files, ViaBus, nil, nil
		}
		files, warns, serr := Scan(f.Roots, unit)
		return files, fmt.Sprintf("%s (D-Bus failed: %v)", ViaScan, err), warns, serr
	}
	files, warns, err = Scan(f.Roots, unit)
	return files, ViaScan, warns, err
}

// ReadFile reads one of the files Files returned, with policy's size
// limit and symlinks resolved inside the injected root (see Scan).
func (f Finder) ReadFile(file string) ([]byte, error) {
	return readConfined(f.Roots, file)
}
