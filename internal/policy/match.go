package policy

import (
	"path"
	"strings"
)

// RuleFor returns the rule that applies to a cgroup, given the unit that
// owns it ("" when none does, as under the cgroupfs driver) and its path
// relative to the cgroup root (a leading "/" is ignored). It is pure and
// cheap enough to call for every cgroup on every rescan.
//
// The order, first match wins:
//  1. Policy-wide exclusions (exclude_units, exclude_paths): no rule.
//  2. Rules in file order. A rule matches when the unit matches one of its
//     units globs or the path matches one of its paths globs, and neither
//     matches its exclude_units/exclude_paths. A cgroup a rule excludes
//     falls through to the next rule.
//  3. Profiles (rules with neither units nor paths) never match here; only a
//     drop-in's Rule= chooses them (see Effective).
//
// The node rule is not a cgroup rule and is never returned.
// Globs use path.Match syntax; "*" does not cross "/" in paths, so
// "kubepods/burstable/pod*" matches the pod, not its containers.
func (p *Policy) RuleFor(unit, cgroupPath string) (*Rule, bool) {
	cgroupPath = strings.TrimPrefix(cgroupPath, "/")
	if p.Excluded(unit, cgroupPath) {
		return nil, false
	}
	for i := range p.Rules {
		if p.Rules[i].Matches(unit, cgroupPath) {
			return &p.Rules[i], true
		}
	}
	return nil, false
}

// Excluded reports whether the policy-wide exclusions cover the cgroup.
func (p *Policy) Excluded(unit, cgroupPath string) bool {
	cgroupPath = strings.TrimPrefix(cgroupPath, "/")
	return anyMatch(p.ExcludeUnits, unit) || anyMatch(p.ExcludePaths, cgroupPath)
}

// Matches reports whether r applies to the cgroup by its own globs and
// exclusions.
func (r *Rule) Matches(unit, cgroupPath string) bool {
	cgroupPath = strings.TrimPrefix(cgroupPath, "/")
	if !anyMatch(r.Units, unit) && !anyMatch(r.Paths, cgroupPath) {
		return false
	}
	return !anyMatch(r.ExcludeUnits, unit) && !anyMatch(r.ExcludePaths, cgroupPath)
}

// Profile reports whether the rule only applies when a drop-in chooses it.
func (r *Rule) Profile() bool { return len(r.Units) == 0 && len(r.Paths) == 0 }

func anyMatch(globs []string, name string) bool {
	if name == "" {
		return false
	}
	for _, g := range globs {
		// Validation rejected malformed globs, so an error cannot occur.
		if ok, _ := path.Match(strings.TrimPrefix(g, "/"), name); ok {
			return true
		}
	}
	return false
}
