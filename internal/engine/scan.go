package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/memrelief/memrelief/internal/action"
	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/dropin"
	"github.com/memrelief/memrelief/internal/kube"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
	"github.com/memrelief/memrelief/internal/systemd"
	"github.com/memrelief/memrelief/internal/treewatch"
)

// scan walks the memory hierarchy, starts watching cgroups a rule now
// matches, and stops watching (undoing their changes) those that left or
// that no rule matches any more. Vanished cgroups are normal.
func (e *Engine) scan(ctx context.Context, now time.Time) {
	e.scanGen++
	e.lastScan, e.treeDirty = now, false
	if ix, err := kube.LoadIndex(e.cfg.Roots); err == nil {
		e.pods = ix
	} else {
		e.once("pods", fmt.Sprintf("pod names unavailable: %v", err))
	}
	if e.pol.Node != nil {
		if e.node == nil || e.node.rule.Name != e.pol.Node.Name {
			e.node = &watched{rule: e.pol.Node, st: NewState(), reclaim: e.reclaimFor("", e.node)}
		} else {
			e.node.rule = e.pol.Node
		}
	} else {
		e.node = nil
	}
	all, err := e.rd.Walk("", e.cfg.MaxDepth)
	if err != nil && !errors.Is(err, cgroupfs.ErrGone) {
		e.once("walk", fmt.Sprintf("list cgroups: %v", err))
		e.treeWatched = false // walked again in RescanEvery, not a minute
		return
	}
	e.walked = len(all)
	// Cgroups that are gone make room before new ones are counted against
	// daemon.max_cgroups.
	present := make(map[string]bool, len(all))
	for _, cg := range all {
		present[cg] = true
	}
	for cg, w := range e.watched {
		if !present[cg] {
			e.drop(w, "cgroup removed")
		}
	}
	e.usedOverrides = map[string]bool{}
	// Owners stay known while their cgroups do; a unit that appeared may
	// own a path systemd disowned before.
	e.owners.Retain(func(p string) bool { return present[p] }, !e.unitsChanged)
	e.unitsChanged = false
	keep := func(w *watched) {
		w.seen = e.scanGen
		w.psi = w.rule.HasPSI()
		if w.tr == nil {
			w.tr = e.newTrend("/" + w.cg)
		}
	}
	// New cgroups wait until the walk is done: watched ones keep their
	// place, and what room daemon.max_cgroups leaves goes to the new ones
	// in admitRank's order.
	var fresh []candidate
	var dirs []string // for the tree watcher
	for _, cg := range all {
		if cg == e.cfg.SelfCgroup {
			continue
		}
		w := e.watched[cg]
		own := e.ownership(ctx, cg, w)
		if e.tree != nil && e.watchesBelow(ctx, cg, own) {
			dirs = append(dirs, cg)
		}
		rule := e.ruleFor(ctx, cg, own)
		switch {
		case rule == nil && w != nil:
			e.drop(w, "no rule matches it any more")
			w = nil
		case rule == nil:
		case w == nil:
			fresh = append(fresh, candidate{cg: cg, own: own, rule: rule, rank: admitRank(cg)})
		case w.rule.Name != rule.Name:
			e.drop(w, "rule changed to "+rule.Name)
			w = e.newWatched(cg, own, rule, w)
		default:
			w.rule = rule // same rule, maybe new thresholds after a reload
			if w.pod == "" {
				// The kubelet may write /var/log/pods after the pod's
				// cgroup appears: look again until the pod is known.
				w.pod = e.podName(cg)
			}
		}
		if w != nil {
			keep(w)
		}
	}
	e.watchTree(dirs)
	var leftOut []string
	if room := max(e.pol.Daemon.MaxCgroups-len(e.watched), 0); len(fresh) > room {
		slices.SortStableFunc(fresh, func(a, b candidate) int { return a.rank - b.rank })
		for _, c := range fresh[room:] {
			leftOut = append(leftOut, c.cg)
		}
		fresh = fresh[:room]
	}
	for _, c := range fresh {
		keep(e.newWatched(c.cg, c.own, c.rule, nil))
	}
	e.handover = nil // taken, or its cgroups left the policy or the tree
	for _, w := range e.watched {
		if w.seen != e.scanGen {
			e.drop(w, "cgroup removed")
		}
	}
	e.reportLeftOut(leftOut)
	if e.hist != nil && e.nodeTr == nil {
		e.nodeTr = e.newTrend("/")
	}
	for _, w := range e.watched {
		e.scanMembers(w)
	}
	// Drop-ins of units that are gone are not needed any more.
	for u := range e.overrides {
		if !e.usedOverrides[u] {
			delete(e.overrides, u)
		}
	}
	if e.triggers != nil {
		e.triggers.set(e.triggerSpecs(), nodePressure(e.cfg.Roots.Proc))
	}
}

// scanDue is whether this tick walks the tree: at the first, when systemd
// or the tree itself said it changed, and on a period, long when inotify
// watches the whole tree and RescanEvery otherwise.
func (e *Engine) scanDue(now time.Time) bool {
	if e.scanGen == 0 || e.lastScan.IsZero() {
		return true
	}
	since := now.Sub(e.lastScan)
	switch {
	case e.treeDirty:
		return since >= minRescanGap
	case e.treeWatched:
		return since >= e.cfg.WatchedRescanEvery
	default:
		return since >= e.cfg.RescanEvery
	}
}

// watchesBelow is whether a new cgroup below cg is worth a walk at once:
// not past MaxDepth, where the walk does not look, and not in a delegated
// subtree (a user's, a Delegate=yes unit's), whose owner can make and
// remove cgroups at will; those are found by the walk once a minute.
func (e *Engine) watchesBelow(ctx context.Context, cg string, own systemd.Ownership) bool {
	if strings.Count(cg, "/")+1 >= e.cfg.MaxDepth || own.DelegatedBy != "" {
		return false
	}
	return own.Unit == "" || !e.owners.Delegates(ctx, own.Unit, cg)
}

// watchTree has the tree watcher watch the directories where the next
// walk could find something new that matters: the root, the cgroups
// watchesBelow allows, and the kubelet's pod log directory (pod names), or
// the directory it will be made in.
func (e *Engine) watchTree(cgs []string) {
	if e.tree == nil {
		return
	}
	base := e.cfg.Layout.MemoryDir
	dirs := make([]string, 0, len(cgs)+2)
	dirs = append(dirs, base)
	if e.cfg.Roots.Log != "" {
		pods := filepath.Join(e.cfg.Roots.Log, "pods")
		if _, err := os.Stat(pods); err != nil {
			pods = e.cfg.Roots.Log
		}
		dirs = append(dirs, pods)
	}
	for _, cg := range cgs {
		if d, err := cgroupfs.Dir(base, cg); err == nil {
			dirs = append(dirs, d)
		}
	}
	complete, added, err := e.tree.Set(dirs)
	if errors.Is(err, treewatch.ErrStopped) {
		e.dropTreeWatch(err)
		return
	}
	e.treeWatched = complete
	if added > 0 {
		// Read before they were watched: what came into them between the
		// two is found by walking once more.
		e.treeDirty = true
	}
	switch {
	case err != nil:
		e.once("treewatch-set", fmt.Sprintf("cgroups may come and go unseen until the next walk (%v); the tree is walked every %v", err, e.cfg.RescanEvery))
	case !complete:
		e.once("treewatch-full", fmt.Sprintf("the cgroup tree has more than the %d directories memrelief watches for new cgroups (inotify); it is walked every %v instead", e.tree.Max(), e.cfg.RescanEvery))
	}
}

// candidate is a cgroup a rule matches and nothing watches yet.
type candidate struct {
	cg   string
	own  systemd.Ownership
	rule *policy.Rule
	rank int // admitRank(cg)
}

// admitRank orders new cgroups for the places daemon.max_cgroups leaves:
// the host's own (slices, services, machines) before Kubernetes' tree,
// and shallower before deeper within each. Pods outnumber services and
// their tree sorts before system.slice/, so in walk order a start with
// more pods than the limit (guaranteed pods are as shallow as services)
// would leave every system service unwatched.
func admitRank(cg string) int {
	r := strings.Count(cg, "/")
	if top, _, _ := strings.Cut(cg, "/"); strings.HasPrefix(top, "kubepods") {
		r += 1 << 16
	}
	return r
}

// reportLeftOut says when cgroups a rule matches are not watched because
// daemon.max_cgroups is reached, naming a few, and again whenever their
// number changes; and once when none are left out any more.
func (e *Engine) reportLeftOut(leftOut []string) {
	if len(leftOut) == e.leftOut {
		return
	}
	e.leftOut = len(leftOut)
	if len(leftOut) == 0 {
		e.emit(report.Event{Kind: report.Problem, Priority: report.Notice,
			Message: "every cgroup the policy matches is watched again (daemon.max_cgroups no longer reached)"})
		return
	}
	names := leftOut[:min(len(leftOut), 5)]
	msg := fmt.Sprintf("watching the limit of %d cgroups (daemon.max_cgroups); %d more that rules match are left out, among them /%s",
		e.pol.Daemon.MaxCgroups, len(leftOut), strings.Join(names, ", /"))
	e.emit(report.Event{Kind: report.Problem, Priority: report.Warning, Message: msg, Fields: map[string]string{report.FieldError: msg}})
}

// newWatched makes and registers the record of cg; old is the record it
// replaces for a rule change, nil for a cgroup not watched before.
func (e *Engine) newWatched(cg string, own systemd.Ownership, rule *policy.Rule, old *watched) *watched {
	w := &watched{cg: cg, unit: own.Unit, owner: own.Unit, delegatedBy: own.DelegatedBy, units: own.Units,
		rule: rule, st: NewState(), pod: e.podName(cg), reclaim: e.reclaimFor(cg, old)}
	if e.cfg.Units == nil {
		w.owner = "" // named, but nobody confirmed it; and nothing to act through
	}
	e.watched[cg] = w
	e.sorted = nil
	return w
}

// ownership is who owns cg: systemd is asked once per cgroup, when it is
// first seen.
func (e *Engine) ownership(ctx context.Context, cg string, w *watched) systemd.Ownership {
	if w != nil {
		return systemd.Ownership{Unit: w.unit, Units: w.units, DelegatedBy: w.delegatedBy}
	}
	return e.owners.Of(ctx, cg)
}

// ruleFor applies the policy and the [X-MemRelief] drop-ins of the units on
// the cgroup's path. A cgroup is matched by unit name only when that name is
// systemd's own unit (never a name chosen inside a delegated subtree, which
// only rules naming its path match), and only drop-ins of such units apply.
// Drop-in problems are reported once with file and line, and only the bad
// override is ignored.
func (e *Engine) ruleFor(ctx context.Context, cg string, own systemd.Ownership) *policy.Rule {
	unit := own.Unit
	if e.cfg.DropIns == nil {
		r, _ := e.pol.RuleFor(unit, cg)
		return r
	}
	var chain []policy.Override
	for _, u := range own.Units {
		e.usedOverrides[u] = true
		res, ok := e.overrides[u]
		if !ok {
			o, _, _, errs, err := dropin.Load(ctx, *e.cfg.DropIns, u)
			if err != nil {
				errs = append(errs, policy.Error{Key: u, Msg: err.Error()})
			}
			res = dropinResult{o: o, errs: errs}
			e.overrides[u] = res
			for _, perr := range errs {
				e.once("dropin:"+perr.Error(), "ignoring a drop-in override: "+perr.Error())
			}
		}
		if !res.o.Empty() {
			chain = append(chain, res.o)
		}
	}
	if len(chain) == 0 {
		// What Effective gives without overrides, without its copy,
		// validation and listing of every setting: most cgroups on most
		// scans.
		r, _ := e.pol.RuleFor(unit, cg)
		return r
	}
	eff, errs := e.pol.Effective(unit, cg, chain)
	for _, perr := range errs {
		e.once("effective:"+perr.Error(), "ignoring a drop-in override: "+perr.Error())
	}
	if eff.Excluded {
		return nil
	}
	return eff.Rule
}

func (e *Engine) podName(cg string) string {
	if e.pods == nil {
		return ""
	}
	ref, err := kube.ParsePath(cg)
	if err != nil {
		return ""
	}
	pod, container, ok := e.pods.Identify(ref)
	if !ok {
		return ""
	}
	name := pod.Namespace + "/" + pod.Name
	if container != "" {
		name += "/" + container
	}
	return name
}

// Reload reads the policy again. A policy that fails validation is
// rejected as a whole and the old one stays in force; a good one replaces
// it, and whatever a dropped rule changed is undone by the rescan.
func (e *Engine) Reload(ctx context.Context) {
	if e.cfg.LoadPolicy == nil {
		return
	}
	p, err := e.cfg.LoadPolicy()
	if err != nil {
		msg := "new policy rejected, still running on " + e.pol.Source + ":\n" + err.Error()
		f := map[string]string{report.FieldPolicy: e.pol.Source, report.FieldError: err.Error()}
		var perrs policy.Errors
		if errors.As(err, &perrs) && len(perrs) > 0 {
			f[report.FieldPolicy] = perrs[0].File
			msg = fmt.Sprintf("new policy rejected (%d problems, first %s); still running on %s", len(perrs), perrs[0].Error(), e.pol.Source)
		}
		e.emit(report.Event{Kind: report.PolicyRejected, Priority: report.Err, Message: msg, Fields: f})
		e.rejected = true
		return
	}
	if old, nw := e.pol.History, p.History; old.Enabled != nw.Enabled || old.Dir != nw.Dir || !slices.Equal(old.Resolutions, nw.Resolutions) {
		// Changing them live would throw away or split weeks of history.
		e.emit(report.Event{Kind: report.Problem, Priority: report.Warning,
			Message: "history.enabled, history.dir and history.resolution take effect at the next restart; the running daemon keeps its history as it is",
			Fields:  map[string]string{report.FieldPolicy: p.Source}})
	}
	e.pol = p
	e.needs = nodeNeedsOf(p)
	e.rejected = false
	e.overrides = map[string]dropinResult{}
	e.reclaimer.SetNodeBudget(uint64(p.Daemon.ReclaimBudget))
	// Actions read it as they act: the next one obeys the new policy.
	e.dry.Store(e.dryUnder(p))
	for _, w := range e.watched {
		if _, ok := p.Rule(w.rule.Name); !ok {
			if e.handover == nil {
				e.handover = map[string]*action.CgroupReclaim{}
			}
			e.handover[w.cg] = w.reclaim
			e.drop(w, "rule "+w.rule.Name+" removed from the policy")
		}
	}
	e.scan(ctx, e.cfg.Now())
	e.emit(report.Event{Kind: report.PolicyLoaded, Priority: report.Notice,
		Message: "policy reloaded from " + p.Source + ": " + e.Status(), Fields: map[string]string{report.FieldPolicy: p.Source}})
}

// triggerSpecs lists the pressure files to put kernel triggers on, and
// maps each back to its record.
func (e *Engine) triggerSpecs() map[string]policy.PSITrigger {
	out := map[string]policy.PSITrigger{}
	e.byPressure = map[string]*watched{}
	now := e.cfg.Now()
	arm := func(w *watched, path string) {
		out[path] = *w.rule.PSITrigger
		e.byPressure[path] = w
		if !w.armed {
			w.armedAt = now
		}
		w.armed = true
	}
	if e.node != nil && e.node.rule.PSITrigger != nil {
		arm(e.node, nodePressure(e.cfg.Roots.Proc))
	}
	for _, w := range e.watched {
		if w.rule.PSITrigger == nil {
			w.armed = false
			continue
		}
		if p, err := e.rd.PressurePath(w.cg); err == nil {
			arm(w, p)
		}
	}
	return out
}

func nodePressure(proc string) string { return strings.TrimSuffix(proc, "/") + "/pressure/memory" }
