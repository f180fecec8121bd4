package dropin

import (
	"context"
	"strings"

	"github.com/memrelief/memrelief/internal/policy"
)

// Ancestors returns the slices above a slice unit, outermost first:
// "kubepods-burstable-pod1.slice" -> ["kubepods.slice",
// "kubepods-burstable.slice"]. The root slice is left out. Other units get
// nil: their slice is wherever systemd put them, which the cgroup path
// says (see UnitsOnPath).
func Ancestors(unitName string) []string {
	name, ok := strings.CutSuffix(unitName, ".slice")
	if !ok || name == "-" {
		return nil
	}
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == '-' && i > 0 {
			out = append(out, name[:i]+".slice")
		}
	}
	return out
}

// UnitsOnPath returns the units a cgroup path passes through, outermost
// first: "/kubepods.slice/kubepods-burstable.slice/x.scope" ->
// ["kubepods.slice", "kubepods-burstable.slice", "x.scope"]. Components
// that are not unit names (cgroupfs-driver directories) are skipped.
func UnitsOnPath(cgroupPath string) []string {
	var out []string
	for _, c := range strings.Split(strings.Trim(cgroupPath, "/"), "/") {
		for _, suffix := range []string{".slice", ".service", ".scope", ".socket", ".mount", ".swap"} {
			if strings.HasSuffix(c, suffix) && len(c) > len(suffix) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// LoadChain loads the overrides of units (outermost first, the cgroup's
// own unit last), ready for policy.Effective, with the files they came
// from. Errors in drop-ins are collected; err is for failures to look.
func LoadChain(ctx context.Context, f Finder, units []string) (chain []policy.Override, files []string, via string, errs policy.Errors, err error) {
	for _, u := range units {
		o, fs, v, es, err := Load(ctx, f, u)
		if err != nil {
			return nil, nil, v, nil, err
		}
		via = v
		files = append(files, fs...)
		errs = append(errs, es...)
		if !o.Empty() {
			chain = append(chain, o)
		}
	}
	return chain, files, via, errs, nil
}
