package systemd

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/memrelief/memrelief/internal/cgroupfs"
)

// UnitState is what systemd says of a unit.
type UnitState struct {
	// LoadState is "loaded", "not-found", ...
	LoadState string
	// ControlGroup is the unit's cgroup ("/system.slice/x.service"), empty
	// while it has none.
	ControlGroup string
	// Transient units (systemd-run, kubelet's pod slices, runtimes'
	// scopes) get their runtime drop-ins under /run/systemd/transient, not
	// /run/systemd/system.control (seen on systemd 252).
	Transient bool
	// Delegate is the unit's Delegate= (services and scopes): its
	// processes make and remove cgroups below its own at will.
	Delegate bool
}

// UnitLookup asks systemd about a unit; action.SystemdUnits is the real one.
type UnitLookup interface {
	Unit(ctx context.Context, unit string) (UnitState, error)
}

// Ownership is who owns a cgroup, as far as systemd's own units go.
type Ownership struct {
	// Unit owns exactly this cgroup; "" when no unit does (a cgroupfs-driver
	// pod, a cgroup inside a delegated subtree, a name systemd disowns).
	Unit string
	// Units are the units on the cgroup's path whose settings apply to it
	// (drop-ins), outermost first: systemd's own, never names chosen inside
	// a delegated subtree.
	Units []string
	// DelegatedBy names the unit whose delegated subtree holds the cgroup
	// (user@1000.service, a unit with Delegate=yes), "" when none.
	DelegatedBy string
}

// Owners finds the Ownership of cgroups. The name of a cgroup is only a
// claim: anyone with a delegated subtree (every logged-in user has one under
// user@UID.service) can create ".../app.slice/postgresql.service". A unit
// is trusted for a path component only when systemd confirms that the unit
// of that name has exactly that cgroup (its ControlGroup property); without
// systemd on D-Bus, only when no ancestor is known to delegate. Below a unit
// that delegates, no name is a system unit: a user@.service, a unit whose
// Delegate property systemd reports true, or one whose cgroup systemd marked
// with the trusted.delegate or user.delegate extended attribute (all there
// is to go by without systemd on D-Bus).
//
// A unit's Delegate= cannot change while it runs (systemd takes it only
// when a transient unit is made, or from the unit file at start), and a
// restart makes its cgroup anew; an answer is kept while the cgroup's
// directory stays, so a walk that misses a restart keeps the old one.
type Owners struct {
	// Marked are the hierarchies where systemd marks a delegated cgroup
	// with the attributes: the cgroup2 tree, or on hybrid and legacy hosts
	// the name=systemd one (and the cgroup2 one, where mounted).
	Marked []string
	// Lookup is nil without systemd on D-Bus.
	Lookup UnitLookup
	// Xattr reads an extended attribute; nil means the real getxattr(2).
	Xattr func(path, name string) bool

	cache map[string]verdict // by prefix path
}

// verdict is what systemd said of a prefix path.
type verdict struct {
	owns      bool // the unit of the path's last name has exactly this cgroup
	delegates bool // and its Delegate= is on
}

// Retain keeps the answers for the paths present still holds, and forgets
// the rest, so the cache never outgrows the tree. Answers are kept between
// discovery passes: a cgroup's owner cannot change while its directory
// stays (a unit moved to another slice gets another path), so asking
// systemd again about every cgroup on every pass only cost D-Bus round
// trips. With negatives false, every "not systemd's" answer is forgotten
// too: a unit that has just appeared may own a path it did not before.
func (o *Owners) Retain(present func(prefix string) bool, negatives bool) {
	for p, v := range o.cache {
		if !present(p) || (!v.owns && !negatives) {
			delete(o.cache, p)
		}
	}
}

// Of returns the ownership of cg (a path below the cgroup root).
func (o *Owners) Of(ctx context.Context, cg string) Ownership {
	var own Ownership
	last := "" // the last confirmed unit
	prefix := ""
	parts := strings.Split(strings.Trim(cg, "/"), "/")
	for i, c := range parts {
		parent := prefix
		prefix = strings.TrimPrefix(prefix+"/"+c, "/")
		if last != "" && o.Delegates(ctx, last, parent) {
			own.DelegatedBy = last
			return own
		}
		if !cgroupfs.IsUnitName(c) || !o.owns(ctx, c, prefix) {
			// A directory systemd did not make (someone else's: a
			// cgroupfs-driver runtime, a unit's delegated subtree, or a
			// name systemd's unit of that name does not live at).
			return own
		}
		last = c
		own.Units = append(own.Units, c)
		if i == len(parts)-1 {
			own.Unit = c
		}
	}
	return own
}

// Delegates reports whether unit, whose cgroup is dir, hands its subtree
// to someone else. systemd's answer over D-Bus comes first: the attributes
// alone miss a Delegate=yes unit where memrelief cannot read trusted.*
// (without CAP_SYS_ADMIN, as the packaged unit runs) and systemd sets no
// user.delegate (before v251).
func (o *Owners) Delegates(ctx context.Context, unit, dir string) bool {
	if strings.HasPrefix(unit, "user@") && strings.HasSuffix(unit, ".service") {
		return true
	}
	if o.Lookup != nil && o.owns(ctx, unit, dir) && o.cache[dir].delegates {
		return true
	}
	xattr := o.Xattr
	if xattr == nil {
		xattr = hasXattr
	}
	for _, root := range o.Marked {
		path := filepath.Join(root, dir)
		if xattr(path, "trusted.delegate") || xattr(path, "user.delegate") {
			return true
		}
	}
	return false
}

// owns reports whether systemd's unit of that name has exactly the cgroup
// prefix; true without systemd to ask.
func (o *Owners) owns(ctx context.Context, unit, prefix string) bool {
	if o.Lookup == nil {
		return true
	}
	if v, ok := o.cache[prefix]; ok {
		return v.owns
	}
	st, err := o.Lookup.Unit(ctx, unit)
	ok := err == nil && st.ControlGroup == "/"+prefix
	if err != nil && ctx.Err() != nil {
		return false // not cached: ask again next time
	}
	if o.cache == nil {
		o.cache = map[string]verdict{}
	}
	o.cache[prefix] = verdict{owns: ok, delegates: ok && st.Delegate}
	return ok
}

func hasXattr(path, name string) bool {
	var buf [8]byte
	n, err := syscall.Getxattr(path, name, buf[:])
	if err != nil {
		return false
	}
	// systemd writes "1"; treat any value but "0" as set.
	return n > 0 && !(n == 1 && buf[0] == '0') && !errors.Is(err, syscall.ENODATA)
}
