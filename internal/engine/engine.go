package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/memrelief/memrelief/internal/action"
	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/dropin"
	"github.com/memrelief/memrelief/internal/history"
	"github.com/memrelief/memrelief/internal/human"
	"github.com/memrelief/memrelief/internal/kube"
	"github.com/memrelief/memrelief/internal/paths"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/procinfo"
	"github.com/memrelief/memrelief/internal/psi"
	"github.com/memrelief/memrelief/internal/report"
	"github.com/memrelief/memrelief/internal/state"
	"github.com/memrelief/memrelief/internal/systemd"
	"github.com/memrelief/memrelief/internal/treewatch"
)

// Config wires an Engine to its host.
type Config struct {
	Roots  paths.Roots
	Layout cgroupfs.Layout
	Policy *policy.Policy
	// LoadPolicy reads the policy again on reload. A policy it returns with
	// an error is never used.
	LoadPolicy func() (*policy.Policy, error)
	// DryRun forces dry run whatever the policy says.
	DryRun bool
	// Observer, when set, says why this run must change nothing on the
	// host, not even what an earlier run left changed: another memrelief
	// acts here, or the run is a --dry-run trial next to one. It forces dry
	// run, and the engine recovers and restores no knob and writes no
	// history (it reads it).
	Observer string
	Sink     report.Sink
	// Units is systemd's unit API; nil without systemd on D-Bus.
	Units action.Units
	// DropIns finds [X-MemRelief] overrides; nil disables them.
	DropIns *dropin.Finder
	// Notify sends sd_notify states (READY=1, STATUS=..., WATCHDOG=1); nil
	// when not run by systemd.
	Notify func(state string)
	// WatchdogEvery is how often a tick pings systemd's watchdog: a third
	// of WatchdogSec leaves two chances before systemd gives up. 0 pings on
	// every tick. STATUS is sent when it changes.
	WatchdogEvery time.Duration
	// Triggers enables kernel PSI triggers (live hosts only), at most
	// MaxTriggers open at once (0: a quarter of RLIMIT_NOFILE).
	Triggers    bool
	MaxTriggers int
	// SelfCgroup is memrelief's own cgroup, never acted on.
	SelfCgroup string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MaxDepth bounds discovery below the root (containers of pods sit at
	// depth 4 under the systemd driver).
	MaxDepth int
	// RescanEvery is how often limits are read again, and the tree walked
	// for new and removed cgroups when no tree watcher sees them come.
	RescanEvery time.Duration
	// Rescan, when a unit appears or goes (systemd's UnitNew/UnitRemoved),
	// makes the next tick walk the tree instead of waiting for the period.
	// Cgroups no unit owns (cgroupfs-driver pods) come without it.
	Rescan <-chan struct{}
	// WatchTree has inotify say when a directory the walk lists gains or
	// loses a subdirectory, whoever made it (systemd, a runtime, the
	// kubelet's cgroupfs driver): the tree is then walked when it changed,
	// at most every minRescanGap, and every WatchedRescanEvery in case,
	// instead of every RescanEvery. Above MaxTreeWatches directories (0:
	// defaultTreeWatches; less where fs.inotify.max_user_watches is small)
	// it is walked every RescanEvery again.
	WatchTree          bool
	MaxTreeWatches     int
	WatchedRescanEvery time.Duration
}

const (
	// defaultTreeWatches is room for a node's 250 pods with their
	// containers and QoS slices several times over; each watch is a little
	// kernel memory charged to memrelief and one of root's
	// fs.inotify.max_user_watches.
	defaultTreeWatches = 4096
	// minRescanGap bounds the walks that changes in the tree ask for: at
	// most one a tick at the default interval (2 s), less than the tick
	// itself so that a tick a little late does not put the walk off to
	// the next one.
	minRescanGap = 1500 * time.Millisecond
)

// watched is everything the engine keeps about one cgroup: dropping the
// cgroup is deleting its record, and nothing else needs clearing.
type watched struct {
	cg string
	// unit is the unit the cgroup's name claims, for rules and reports;
	// owner is the unit systemd confirms owns exactly this cgroup, the only
	// one memrelief acts on ("" when none); delegatedBy names the unit whose
	// delegated subtree holds the cgroup.
	unit, owner, delegatedBy string
	// units are the units whose [X-MemRelief] drop-ins apply, outermost
	// first.
	units []string
	pod   string // "namespace/name[/container]", "" when not a pod
	rule  *policy.Rule
	st    State
	cur   sample
	// h keeps the cgroup's hot files open between ticks; limitsAt is when
	// memory.high and memory.max were last read (they change rarely).
	h        *cgroupfs.Handle
	limitsAt time.Time
	// rate is the growth of the cgroup's slab, memrelief's reclaims left out.
	rate slabRate
	// reclaim is the cgroup's reclaim budget and in-flight write, the
	// directory's whatever rule watches it: a record made anew for a rule
	// change takes it over (reclaimFor), so a write still running for the
	// old one is not joined by a second, nor the budget begun again. busy
	// is true while a job of this record's actions runs.
	reclaim *action.CgroupReclaim
	busy    bool
	// skipped is set once a decision found the cgroup busy, so that is
	// said once per job, not every cooldown.
	skipped bool
	// stalls are the times of the kernel trigger events of the last
	// policy.StallMemory (psi_stall); armed is true while a trigger is set
	// on the cgroup's pressure file and the kernel has not refused it. wokeAt is the wake-up being decided on,
	// zero in a regular tick.
	stalls []time.Time
	armed  bool
	// armedAt is when the trigger was set.
	armedAt time.Time
	wokeAt  time.Time
	// reported are the problems of this cgroup already reported once.
	reported map[string]bool
	// psi caches rule.HasPSI(): whether pressure must be read each tick.
	psi bool
	// seen is the scan generation that last found the cgroup.
	seen int
	// tr is the cgroup's history, nil when history is off; members are
	// the containers of a pod, by cgroup path.
	tr      *trend
	members map[string]*member
}

// Engine runs the loop. Create with New; not safe for concurrent use except
// where noted.
type Engine struct {
	cfg       Config
	pol       *policy.Policy
	rd        *cgroupfs.Reader
	sys       *action.Live
	reclaimer *action.Reclaimer
	knobs     *action.Knobs
	// targets are the knobs memrelief moves or has moved, by ID.
	targets map[string]*target
	pool    *pool
	owners  *systemd.Owners
	// kinds says how each action type is carried out (kinds.go).
	kinds map[policy.ActionType]any
	// dry is the dry-run switch actions read at the moment they act; the
	// loop sets it at start and on reload.
	dry atomic.Bool
	// walked is how many cgroups the last scan found, for a status that
	// says why nothing is watched; leftOut is how many the last scan left
	// out at daemon.max_cgroups.
	walked, leftOut int
	// stopping is set once shutdown has begun: nothing moves a knob but
	// the undo.
	stopping bool

	watched map[string]*watched
	node    *watched
	nodeNow nodeSample
	// needs says which node files the policy's conditions read each tick.
	needs nodeNeeds
	// nodePSI keeps /proc/pressure/memory open, read every tick.
	nodePSI  *psi.File
	scanGen  int
	lastScan time.Time
	// unitsChanged is set when systemd said a unit appeared or went since
	// the last scan.
	unitsChanged bool
	// tree, when Config.WatchTree, says when the walked directories change;
	// treeWatched is whether it watches every one of them (so the periodic
	// walk can wait), treeDirty whether one changed since the last walk.
	tree                   treeWatcher
	treeWatched, treeDirty bool
	// recordsDir holds the knobs' intent records (daemon.state_dir at start;
	// a reload does not move them).
	recordsDir string
	// handover holds, until the next walk that works, the reclaim state of
	// the records a reload dropped with their rule: a rule renamed or
	// replaced must not begin a cgroup's budget again (reclaimFor).
	handover map[string]*action.CgroupReclaim
	// status is the last STATUS sent to systemd, pinged when the last
	// watchdog ping was.
	status string
	pinged time.Time
	pods   *kube.Index

	overrides map[string]dropinResult // by unit; cleared on reload
	// usedOverrides are the units whose drop-ins this scan needed.
	usedOverrides map[string]bool
	reported      map[string]bool // one-time problems already reported

	triggers *triggerWatcher
	wake     chan wakeup
	// byPressure finds the record (or the node) of a pressure file whose
	// trigger fired; rebuilt at each scan.
	byPressure map[string]*watched
	// triggerGen is the generation of the watcher's refusals last looked
	// at; triggersOver how many pressure files were then over its budget.
	triggerGen   uint64
	triggersOver int
	// rejected is set while the last reload failed, so the status says the
	// daemon runs on the previous policy.
	rejected bool
	// queries are snapshot requests from other goroutines, served by the
	// loop between ticks.
	queries  chan chan Snapshot
	lastTick time.Duration
	recent   []RecentEvent // the latest events, for Snapshot

	// hist keeps the series behind trends; nil when history is off.
	// nodeTr is the node's, kept whether or not a node rule exists.
	hist   *histories
	nodeTr *trend
	// calls run on the loop's goroutine between ticks (History).
	calls chan func()
	// sorted caches order(); nil when the watched set changed.
	sorted []string
}

type dropinResult struct {
	o    policy.Override
	errs policy.Errors
}

// New builds an engine. It touches nothing yet: Run does.
func New(cfg Config) *Engine {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxDepth == 0 {
		cfg.MaxDepth = 6
	}
	if cfg.RescanEvery == 0 {
		// A pod created between rescans grows unwatched until the next one;
		// walking even thousands of directories costs milliseconds.
		cfg.RescanEvery = 10 * time.Second
	}
	if cfg.WatchedRescanEvery == 0 {
		// Only what inotify cannot see: events lost in between.
		cfg.WatchedRescanEvery = time.Minute
	}
	if cfg.MaxTreeWatches == 0 {
		cfg.MaxTreeWatches = defaultTreeWatches
	}
	e := &Engine{cfg: cfg, pol: cfg.Policy, watched: map[string]*watched{}, overrides: map[string]dropinResult{}, reported: map[string]bool{}, wake: make(chan wakeup, 64), queries: make(chan chan Snapshot), calls: make(chan func())}
	e.rd = cgroupfs.NewReader(cfg.Layout)
	e.dry.Store(e.dryUnder(cfg.Policy))
	e.sys = &action.Live{Cgroups: cgroupfs.NewReader(cfg.Layout), Proc: cfg.Roots.Proc, UnitAPI: cfg.Units, Dry: e.dry.Load}
	e.reclaimer = &action.Reclaimer{Sys: e.sys}
	e.reclaimer.SetNodeBudget(uint64(cfg.Policy.Daemon.ReclaimBudget))
	e.recordsDir = stateDir(cfg.Roots, cfg.Policy.Daemon.StateDir)
	e.knobs = &action.Knobs{Records: state.Store{Dir: e.recordsDir}, Build: e.buildKnob}
	e.targets = map[string]*target{}
	e.kinds = kinds()
	e.pool = newPool()
	var lookup systemd.UnitLookup
	if cfg.Units != nil {
		lookup = cfg.Units
	}
	e.owners = &systemd.Owners{Marked: delegateMarks(cfg.Layout), Lookup: lookup}
	e.hist = newHistories(cfg.Policy.History, cfg.Roots.Lib)
	e.needs = nodeNeedsOf(cfg.Policy)
	e.nodePSI = psi.NewFile(nodePressure(cfg.Roots.Proc))
	return e
}

// stateDir maps the policy's host path under the injected roots, so tests
// and chroots keep their state inside their tree.
func stateDir(r paths.Roots, dir string) string {
	if dir == "" {
		dir = "/run/memrelief"
	}
	return rehome(dir, "/run", r.Run)
}

// rehome moves dir, a path on the host, from below host to below root
// (the injected root of that host path); a dir elsewhere, or no root,
// leaves it as it is.
func rehome(dir, host, root string) string {
	if root == "" {
		return dir
	}
	if dir == host {
		return root
	}
	if rest, ok := strings.CutPrefix(dir, host+"/"); ok {
		return filepath.Join(root, rest)
	}
	return dir
}

func (e *Engine) dryRun() bool { return e.dry.Load() }

// dryUnder is whether a run under p writes nothing: --dry-run, an
// observer, or the policy's dry_run.
func (e *Engine) dryUnder(p *policy.Policy) bool {
	return e.cfg.DryRun || e.cfg.Observer != "" || p.Daemon.DryRun
}

func (e *Engine) emit(ev report.Event) {
	if ev.Time.IsZero() {
		ev.Time = e.cfg.Now()
	}
	if _, said := ev.Fields[report.FieldDryRun]; !said && e.dryRun() && ev.Fields[report.FieldResult] != report.ResultOK {
		// An action's event says itself whether it ran dry, as it ran; the
		// rest are marked by the mode in force now.
		if ev.Fields == nil {
			ev.Fields = map[string]string{}
		}
		ev.Fields[report.FieldDryRun] = "1"
	}
	e.remember(ev)
	e.cfg.Sink.Emit(ev)
}

func (e *Engine) notify(s string) {
	if e.cfg.Notify != nil {
		e.cfg.Notify(s)
	}
}

// Run recovers what a previous run left changed, takes the first sample,
// reports READY, and loops until ctx is done, re-reading the policy on
// each receive from reload. On the way out it undoes every change it made.
func (e *Engine) Run(ctx context.Context, reload <-chan struct{}) error {
	if e.cfg.Observer == "" {
		e.recover(ctx)
	}
	if e.cfg.Triggers {
		e.triggers = newTriggerWatcher(e.wake, cmp.Or(e.cfg.MaxTriggers, triggerBudget()))
		go e.triggers.run(ctx)
	}
	treeChanged := e.watchForChanges()
	e.Tick(ctx)
	e.emit(e.startedEvent())
	e.ready()

	interval := e.pol.Daemon.Interval.Std()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			e.shutdown()
			return nil
		case <-ticker.C:
			e.Tick(ctx)
		case wk := <-e.wake:
			e.stalled(wk)
		case reply := <-e.queries:
			reply <- e.snapshot()
		case f := <-e.calls:
			f()
		case f := <-e.pool.done:
			e.pool.finish(f)
		case <-e.cfg.Rescan:
			e.lastScan = time.Time{}
			e.unitsChanged = true
		case <-treeChanged:
			e.treeDirty = true
		case <-reload:
			e.notify("RELOADING=1")
			e.Reload(ctx)
			if d := e.pol.Daemon.Interval.Std(); d != interval {
				interval = d
				ticker.Reset(d)
			}
			e.ready()
		}
	}
}

// watchForChanges starts the tree watcher when Config.WatchTree asks for
// it, and returns what receives when the tree changed: nil (never) without.
func (e *Engine) watchForChanges() <-chan struct{} {
	if !e.cfg.WatchTree {
		return nil
	}
	t, err := treewatch.New(treeWatches(e.cfg.Roots.Proc, e.cfg.MaxTreeWatches))
	if err != nil {
		e.dropTreeWatch(err)
		return nil
	}
	e.tree = t
	return t.C()
}

// delegateMarks are the hierarchies where systemd marks the cgroups it
// delegates (trusted.delegate, user.delegate): its own, which is the
// cgroup2 tree on unified hosts and name=systemd elsewhere. The memory
// hierarchy of hybrid and legacy hosts carries no mark.
func delegateMarks(l cgroupfs.Layout) []string {
	if l.Mode == cgroupfs.Unified {
		return []string{l.Root}
	}
	marks := []string{filepath.Join(l.Root, "systemd")}
	if l.UnifiedDir != "" {
		marks = append(marks, l.UnifiedDir)
	}
	return marks
}

// treeWatcher is what the engine uses of a treewatch.Watcher, so a test
// can give it one whose reads failed.
type treeWatcher interface {
	Set(dirs []string) (complete bool, added int, err error)
	Len() int
	Max() int
	Close() error
}

// dropTreeWatch closes the tree watcher, if any, so the tree is walked
// every RescanEvery; why, when not nil, is said once.
func (e *Engine) dropTreeWatch(why error) {
	if why != nil {
		e.once("treewatch", fmt.Sprintf("new cgroups are found by walking the tree every %v: %v", e.cfg.RescanEvery, why))
	}
	if e.tree != nil {
		e.tree.Close()
	}
	e.tree, e.treeWatched = nil, false
}

// treeWatches is how many inotify watches the tree watcher may hold:
// bound, or an eighth of fs.inotify.max_user_watches when that is less. The limit
// is shared by every daemon running as root (the kubelet, log agents, the
// runtime), and kernels before 5.11 default it to 8192.
func treeWatches(proc string, bound int) int {
	data, err := os.ReadFile(filepath.Join(proc, "sys/fs/inotify/max_user_watches"))
	if err != nil {
		return bound
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || n <= 0 {
		return bound
	}
	return min(bound, max(n/8, 1))
}

// Close releases the descriptors the engine holds and waits (a few
// seconds at most) for the history writes it queued; Run does it on exit.
func (e *Engine) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.hist.close(ctx); err != nil {
		e.once("history-save-stop", fmt.Sprintf("history not all saved on stop: %v", err))
	}
	e.nodePSI.Close() // opened again on the next read
	e.dropTreeWatch(nil)
	for _, w := range e.watched {
		if w.h != nil {
			w.h.Close()
			w.h = nil
		}
		for _, m := range w.members {
			if m.h != nil {
				m.h.Close()
				m.h = nil
			}
		}
	}
}

func (e *Engine) shutdown() {
	defer e.Close()
	e.notify("STOPPING=1")
	// Hooks are killed and reclaim writes abandoned, and their results
	// collected; then every knob is put back, on fresh deadlines.
	e.stopping = true
	e.pool.cancel()
	e.Settle()
	e.pool = newPool()
	e.undoAll("memrelief is stopping")
	e.saveAll(5 * time.Second)
	e.emit(e.stoppedEvent())
}

// stoppedEvent says the daemon stopped, and what it could not undo: the
// knobs whose intent records remain, which the next start puts back. Not
// the same as undone, and an operator stopping memrelief for good needs to
// know.
func (e *Engine) stoppedEvent() report.Event {
	ev := report.Event{Kind: report.Stopped, Priority: report.Notice, Message: "memrelief stopped; its changes are undone"}
	if e.cfg.Observer != "" {
		return ev // it changed nothing; the records are another memrelief's
	}
	left, err := e.knobs.Recorded()
	if err != nil {
		ev.Priority = report.Warning
		ev.Message = "memrelief stopped; whether its changes are undone is not known: " + err.Error()
		return ev
	}
	if len(left) == 0 {
		return ev
	}
	var what []string
	for _, r := range left {
		name, _ := knobNames(r.Knob)
		what = append(what, fmt.Sprintf("%s %s (was %s)", name, fmtKnob(r.Knob, r.Set), fmtKnob(r.Knob, r.Original)))
	}
	ev.Priority = report.Warning
	ev.Message = fmt.Sprintf("memrelief stopped; %d of its changes could not be undone: %s. Their records are kept in %s; start memrelief again to put them back",
		len(left), strings.Join(what, ", "), e.recordsDir)
	return ev
}

// Tick samples and decides once, and starts the actions decided; it never
// waits for an action.
func (e *Engine) Tick(ctx context.Context) {
	start := time.Now()
	defer func() { e.lastTick = time.Since(start) }()
	now := e.cfg.Now()
	if e.scanDue(now) {
		e.scan(ctx, now)
	}
	e.sampleNode(now)
	if e.nodeNow.hasMem && e.nodeNow.memFresh {
		e.nodeTr.add(now, history.FromMeminfo(&e.nodeNow.mem))
	}
	if e.node != nil {
		e.node.cur = e.nodeSampleOf(now)
		e.step(e.node, now)
	}
	for _, cg := range e.order() {
		w := e.watched[cg]
		if w == nil {
			continue // dropped earlier in this tick
		}
		if !e.sampleCgroup(w, now) {
			e.drop(w, "cgroup removed")
			continue
		}
		if w.cur.hasMem && w.cur.statFresh {
			w.tr.add(now, history.FromMemory(&w.cur.mem))
		}
		e.sampleMembers(w, now)
		e.step(w, now)
	}
	e.updateTrends(now)
	e.reconcile(now)
	if e.triggers != nil {
		e.refusedTriggers(now)
	}
	e.ping(now)
}

// ready tells systemd the loop is ready, with the status.
func (e *Engine) ready() {
	e.status = e.Status()
	e.notify("READY=1\nSTATUS=" + e.status)
}

// ping tells systemd the loop is alive, at most every WatchdogEvery, and
// the status when it changed: each message is a socket made and closed
// (sd_notify), a sixth of the idle daemon's CPU when it was sent every
// tick.
func (e *Engine) ping(now time.Time) {
	st := e.Status()
	switch {
	case st != e.status:
		e.status = st
		e.notify("STATUS=" + st + "\nWATCHDOG=1")
	case e.cfg.WatchdogEvery <= 0 || now.Sub(e.pinged) >= e.cfg.WatchdogEvery:
		e.notify("WATCHDOG=1")
	default:
		return
	}
	e.pinged = now
}

func (e *Engine) nodeSampleOf(now time.Time) sample {
	s := sample{at: now, isNode: true, node: &e.nodeNow, tr: e.nodeTr, nodeTr: e.nodeTr}
	s.stalls, s.hasStalls = e.node.stallsAt(now)
	if slab, ok := s.slab(); ok && e.nodeNow.memFresh {
		s.rate, s.hasRate = e.node.rate.observe(slab, now)
	}
	return s
}

// stalled decides, the moment the kernel reports a stall on a pressure
// file, for the cgroup (or the node) it belongs to: psi_stall conditions
// hold now, not at the next tick, and the actions start at once.
func (e *Engine) stalled(wk wakeup) {
	w := e.byPressure[wk.path]
	if w == nil || !w.armed || (w != e.node && e.watched[w.cg] != w) {
		return // the cgroup left since the trigger was set
	}
	now := e.cfg.Now()
	// Counted on the engine's clock; the latency is measured on the wall
	// clock from wk.at.
	w.stalls = append(w.stalls, now)
	if len(w.stalls) > maxStalls {
		w.stalls = w.stalls[len(w.stalls)-maxStalls:]
	}
	if w == e.node {
		e.sampleNode(now)
		w.cur = e.nodeSampleOf(now)
	} else if !e.sampleCgroup(w, now) {
		e.drop(w, "cgroup removed")
		return
	}
	w.wokeAt = wk.at
	e.step(w, now)
	w.wokeAt = time.Time{}
	e.reconcile(now)
}

// maxStalls bounds the stall times kept per cgroup: the kernel reports at
// most one event per trigger window (500ms at the least), so a minute holds
// at most 120.
const maxStalls = 128

// stallsAt counts the trigger events of the last policy.StallMemory. The
// count is known wherever the rule asks for a trigger: where the kernel
// refused one, it stays 0 (no event seen), so "psi_stall <= 0" lets a level
// go and the rule's averages are the fallback that enters it.
func (w *watched) stallsAt(now time.Time) (n int, ok bool) {
	keep := w.stalls[:0]
	for _, t := range w.stalls {
		if now.Sub(t) < policy.StallMemory {
			keep = append(keep, t)
		}
	}
	w.stalls = keep
	return len(keep), w.rule != nil && w.rule.PSITrigger != nil
}

// order is the watched cgroups sorted by path, so ticks are reproducible.
// It is kept between ticks and rebuilt only when the set changes: sorting
// a thousand paths every tick cost more than sampling a dozen cgroups.
func (e *Engine) order() []string {
	if e.sorted != nil && len(e.sorted) == len(e.watched) {
		return e.sorted
	}
	out := make([]string, 0, len(e.watched))
	for cg := range e.watched {
		out = append(out, cg)
	}
	sort.Strings(out)
	e.sorted = out
	return out
}

func (e *Engine) sampleNode(now time.Time) {
	n := &e.nodeNow
	n.at, n.hasPSI, n.memFresh, n.dentryFresh = now, false, false, false
	var err error
	if e.needs.meminfo || e.due(n.memAt, now) {
		n.memAt = now
		if n.mem, err = procinfo.ReadMeminfo(e.cfg.Roots.Proc); err == nil {
			n.hasMem, n.memFresh = true, true
		} else {
			n.hasMem = false
			e.once("meminfo", err.Error())
		}
	}
	n.psi, err = e.nodePSI.Read()
	switch {
	case err == nil:
		n.hasPSI = true
	case !errors.Is(err, fs.ErrNotExist): // a kernel without PSI is not a problem
		e.once("node-psi", err.Error())
	}
	if e.needs.dentry || e.due(n.dentryAt, now) {
		n.dentryAt = now
		n.dentry, err = procinfo.ReadDentryState(e.cfg.Roots.Proc)
		n.hasDentry, n.dentryFresh = err == nil, err == nil
	}
}

// sampleCgroup reads one cgroup; false means it is gone.
func (e *Engine) sampleCgroup(w *watched, now time.Time) bool {
	s := &w.cur
	s.at, s.node, s.hasRate, s.psiFresh = now, &e.nodeNow, false, false
	// A trigger bounds the averages once it has watched for a minute.
	s.armed, s.trigger = w.armed && now.Sub(w.armedAt) >= policy.StallMemory, w.rule.PSITrigger
	s.tr, s.nodeTr = w.tr, e.nodeTr
	s.stalls, s.hasStalls = w.stallsAt(now)
	s.kmemAsSlab = e.cfg.Layout.Mode != cgroupfs.Unified
	if w.h == nil {
		h, err := e.rd.Open(w.cg)
		if err != nil {
			w.once(e, "open", err.Error())
			return true
		}
		w.h = h
	}
	limits := w.limitsAt.IsZero() || now.Sub(w.limitsAt) >= e.cfg.RescanEvery
	s.statFresh = false
	if err := w.h.Usage(&s.mem, limits); err != nil {
		if errors.Is(err, cgroupfs.ErrGone) {
			return false
		}
		s.hasMem = false
		w.once(e, "mem", err.Error())
	} else {
		s.hasMem = true
		if limits {
			w.limitsAt = now
		}
	}
	if w.psi && e.needPressure(w, now) {
		s.psiAt = now
		p, err := w.h.Pressure()
		switch {
		case err == nil:
			s.psi, s.hasPSI, s.psiFresh = p, true, true
		case errors.Is(err, cgroupfs.ErrGone), errors.Is(err, cgroupfs.ErrNoPSI), errors.Is(err, psi.ErrEmpty):
			s.hasPSI = false
		default:
			s.hasPSI = false
			w.once(e, "psi", err.Error())
		}
	}
	if s.hasMem && e.needStat(w, now) {
		if err := w.h.Stat(&s.mem); err != nil {
			if errors.Is(err, cgroupfs.ErrGone) {
				return false
			}
			s.hasMem = false
			w.once(e, "mem", err.Error())
		} else {
			s.statFresh, s.statAt = true, now
		}
	}
	if slab, ok := s.slab(); ok && s.statFresh {
		s.rate, s.hasRate = w.rate.observe(slab, now)
	}
	return true
}

// needPressure reports whether this tick must read the cgroup's
// memory.pressure: as needStat, for the levels whose enter conditions read
// a PSI average. Since the last read an average can only have moved as far
// as the kernel's updates allow (sample.driftBound): "psi_some_avg60 >=
// 90%" is out of reach of a cgroup at 0% for two minutes. Where the kernel
// holds a trigger on the file and reported no stall for a minute, the
// averages are below the trigger's own rate (sample.triggerBound), so
// "psi_some_avg10 >= 20%" cannot hold under a trigger of 100 ms a second,
// and a stall wakes the daemon at once anyway.
func (e *Engine) needPressure(w *watched, now time.Time) bool {
	s := &w.cur
	if w.st.Level != Normal || e.due(s.psiAt, now) || s.stalls > 0 {
		return true
	}
	for i := range w.rule.Levels {
		if cs := w.rule.Levels[i].Enter; readsPSIAverage(cs) && cs.Possible(s) {
			return true
		}
	}
	return false
}

func readsPSIAverage(cs policy.Conditions) bool {
	for _, list := range [][]policy.Condition{cs.All, cs.Any} {
		for _, c := range list {
			if psiAverage(c.Metric) {
				return true
			}
		}
	}
	return false
}

// statMaxAge bounds how old a watched cgroup's memory.stat figures may get
// in reports and metrics while no condition needs them.
const statMaxAge = 30 * time.Second

// statEvery is how often memory.stat is read where no condition needs it:
// every statMaxAge, and at least ten times per finest history bucket, as
// containers are (memberEvery), so history keeps its resolution.
func (e *Engine) statEvery() time.Duration {
	if e.hist == nil {
		return statMaxAge
	}
	return min(statMaxAge, e.hist.tiers[0].Step/10)
}

// due reports whether a figure last read at is due again where no
// condition needs it: never read, statEvery old, or read "later" than now
// (the clock stepped back).
func (e *Engine) due(at, now time.Time) bool {
	return at.IsZero() || now.Sub(at) >= e.statEvery() || now.Before(at)
}

// needStat reports whether this tick must read the cgroup's memory.stat:
// when a level holds (its exit conditions and actions read it), when a
// level could be entered on figures its charge allows (a charge under
// 32M rules out "slab_reclaimable >= 32M"), or when the last read is
// statEvery old. Most cgroups are far from every threshold, and
// memory.stat costs the kernel and the daemon many times memory.current.
func (e *Engine) needStat(w *watched, now time.Time) bool {
	s := &w.cur
	if w.st.Level != Normal || e.due(s.statAt, now) {
		return true
	}
	for i := range w.rule.Levels {
		if w.rule.Levels[i].Enter.Possible(s) {
			return true
		}
	}
	return false
}

// once reports a problem the first time it happens.
func (e *Engine) once(key, msg string) {
	if e.reported[key] {
		return
	}
	e.reported[key] = true
	e.emit(report.Event{Kind: report.Problem, Priority: report.Warning, Message: msg, Fields: map[string]string{report.FieldError: msg}})
}

// once reports a problem of this cgroup the first time it happens.
func (w *watched) once(e *Engine, key, msg string) {
	if w.reported[key] {
		return
	}
	if w.reported == nil {
		w.reported = map[string]bool{}
	}
	w.reported[key] = true
	e.emit(e.withCgroup(w, problemEvent(msg)))
}

func (e *Engine) step(w *watched, now time.Time) {
	st, d := Step(w.rule, w.st, &w.cur, now)
	w.st = st
	e.handle(w, d, now)
}

// handle reports a decision and starts its one-shot actions. Stateful
// actions need nothing here: the level is their desired state, which
// reconcile reads.
func (e *Engine) handle(w *watched, d Decision, now time.Time) {
	if d.Changed() {
		e.emit(e.levelEvent(w, d))
	}
	for i := range d.Run {
		if k, ok := e.kinds[d.Run[i].Type].(eventKind); ok {
			k.now(e, w, d)
		}
	}
	if acts := e.oneShots(d.Run); len(acts) > 0 {
		e.dispatch(w, d, acts, now)
	}
}

// drop forgets a cgroup. What memrelief changed for it is undone by the
// next reconcile, which finds nobody wanting it any more.
func (e *Engine) drop(w *watched, why string) {
	if w.st.Level != Normal {
		e.emit(report.Event{Kind: report.LevelChanged, Priority: report.Info,
			Message: fmt.Sprintf("%s left level %s: %s", e.name(w), e.levelName(w, w.st.Level), why),
			Fields:  e.merge(e.fields(w), map[string]string{report.FieldPreviousLevel: e.levelName(w, w.st.Level), report.FieldLevel: "normal"})})
	}
	if w.h != nil {
		w.h.Close()
	}
	e.dropMembers(w)
	delete(e.reported, "history-load:/"+w.cg)
	delete(e.watched, w.cg)
	e.sorted = nil
}

// reclaimFor is the reclaim state of a new record of cg: that of old, the
// record it replaces for a rule change, or the one a reload handed over
// when it dropped the cgroup's record with its rule, or a new one.
func (e *Engine) reclaimFor(cg string, old *watched) *action.CgroupReclaim {
	if old != nil && old.reclaim != nil {
		return old.reclaim
	}
	if cr := e.handover[cg]; cr != nil {
		return cr
	}
	return &action.CgroupReclaim{}
}

func (e *Engine) name(w *watched) string {
	switch {
	case w == e.node:
		return "node"
	case w.pod != "":
		return "pod " + w.pod
	case w.unit != "":
		return w.unit
	}
	return w.cg
}

func (e *Engine) levelName(w *watched, i int) string {
	if i == Normal || i >= len(w.rule.Levels) {
		return "normal"
	}
	return w.rule.Levels[i].Name
}

func (e *Engine) fields(w *watched) map[string]string {
	f := map[string]string{report.FieldRule: w.rule.Name, report.FieldLevel: e.levelName(w, w.st.Level)}
	if w == e.node {
		f[report.FieldCgroup] = "/"
	} else {
		f[report.FieldCgroup] = "/" + w.cg
	}
	if w.unit != "" {
		f[report.FieldUnit] = w.unit
	}
	if w.pod != "" {
		ns, name, _ := strings.Cut(w.pod, "/")
		name, _, _ = strings.Cut(name, "/")
		f[report.FieldPodNamespace], f[report.FieldPodName] = ns, name
	}
	s := &w.cur
	if k, ok := s.mem.Stat.Get(cgroupfs.Kernel); ok && s.kmemAsSlab && !s.isNode {
		// v1: the per-cgroup figure is kernel memory; say so.
		f[report.FieldKernelMemory] = strconv.FormatUint(k, 10)
	} else if slab, ok := s.slab(); ok {
		f[report.FieldSlabReclaimable] = strconv.FormatUint(slab, 10)
	}
	if s.hasMem && !s.isNode {
		f[report.FieldMemoryCurrent] = strconv.FormatUint(s.mem.Current, 10)
	}
	if v, ok := s.Value(policy.PSISomeAvg10); ok {
		f[report.FieldPSISomeAvg10] = strconv.FormatFloat(v, 'f', 2, 64)
	}
	if v, ok := s.Value(policy.PSIFullAvg10); ok {
		f[report.FieldPSIFullAvg10] = strconv.FormatFloat(v, 'f', 2, 64)
	}
	return f
}

func (e *Engine) merge(a, b map[string]string) map[string]string {
	for k, v := range b {
		a[k] = v
	}
	return a
}

func (e *Engine) withCgroup(w *watched, ev report.Event) report.Event {
	for k, v := range e.fields(w) {
		if _, set := ev.Fields[k]; !set {
			ev.Fields[k] = v
		}
	}
	return ev
}

func (e *Engine) levelEvent(w *watched, d Decision) report.Event {
	f := e.fields(w)
	f[report.FieldLevel] = e.levelName(w, d.To)
	f[report.FieldPreviousLevel] = e.levelName(w, d.From)
	f[report.FieldReasons] = strings.Join(d.Reasons, "; ")
	verb := "entered"
	prio := report.Notice
	if d.To < d.From {
		verb, prio = "left level "+e.levelName(w, d.From)+" for", report.Info
	}
	msg := fmt.Sprintf("%s %s level %s: %s", e.name(w), verb, e.levelName(w, d.To), strings.Join(d.Reasons, ", "))
	if d.Escalated {
		msg = fmt.Sprintf("%s escalated to level %s: %s", e.name(w), e.levelName(w, d.To), strings.Join(d.Reasons, ", "))
	}
	return report.Event{Kind: report.LevelChanged, Priority: prio, Message: msg, Fields: f}
}

func (e *Engine) reclaimEvent(w *watched, o action.ReclaimOutcome) report.Event {
	f := e.fields(w)
	f[report.FieldAction] = string(policy.ActReclaim)
	f[report.FieldResult] = o.Result
	f[report.FieldRequestedBytes] = strconv.FormatUint(o.Requested, 10)
	f[report.FieldReclaimedBytes] = strconv.FormatUint(max(o.Freed(), o.SlabFreed()), 10)
	f[report.FieldMemoryCurrent] = strconv.FormatUint(o.CurrentBefore, 10)
	f[report.FieldMemoryCurrentAfter] = strconv.FormatUint(o.CurrentAfter, 10)
	if o.HasSlab {
		f[report.FieldSlabReclaimable] = strconv.FormatUint(o.SlabBefore, 10)
		f[report.FieldSlabReclaimableAfter] = strconv.FormatUint(o.SlabAfter, 10)
	}
	f[report.FieldDurationMs] = strconv.FormatInt(o.Duration.Milliseconds(), 10)
	prio := report.Notice
	msg := fmt.Sprintf("reclaim %s: %s; asked %s in %d batches, memory.current %s -> %s",
		e.name(w), o.Result, human.Bytes(o.Requested), o.Batches, human.Bytes(o.CurrentBefore), human.Bytes(o.CurrentAfter))
	if o.HasSlab {
		msg += fmt.Sprintf(", slab_reclaimable %s -> %s", human.Bytes(o.SlabBefore), human.Bytes(o.SlabAfter))
	}
	if o.Stop != "" {
		msg += " (" + o.Stop + ")"
	}
	if o.Err != nil {
		f[report.FieldError] = o.Err.Error()
		msg += ": " + o.Err.Error()
		prio = report.Warning
	}
	if o.Result == report.ResultSkipped || o.Result == report.ResultUnsupported {
		prio = report.Info
	}
	return report.Event{Kind: report.ActionTaken, Priority: prio, Message: msg, Fields: f}
}

// Status is the one-line summary for sd_notify STATUS= and logs.
func (e *Engine) Status() string {
	counts := map[string]int{}
	var names []string
	for _, w := range e.watched {
		if w.st.Level != Normal {
			n := e.levelName(w, w.st.Level)
			if counts[n] == 0 {
				names = append(names, n)
			}
			counts[n]++
		}
	}
	sort.Strings(names)
	s := fmt.Sprintf("watching %d cgroups", len(e.watched))
	if len(e.watched) == 0 && e.scanGen > 0 {
		var rules []string
		for _, r := range e.pol.Rules {
			rules = append(rules, r.Name)
		}
		s += fmt.Sprintf(" (no rule matches any of the %d cgroups here; rules: %s)", e.walked, strings.Join(rules, ", "))
	}
	for _, n := range names {
		s += fmt.Sprintf("; %d at level %s", counts[n], n)
	}
	if e.node != nil && e.node.st.Level != Normal {
		s += "; node at level " + e.levelName(e.node, e.node.st.Level)
	}
	for _, k := range e.managedKnobs() {
		s += "; " + k
	}
	if e.dryRun() {
		s += "; dry run"
	}
	if e.rejected {
		s += "; last reload rejected, running on the previous policy"
	}
	return s
}

func (e *Engine) startedEvent() report.Event {
	caps := []string{"cgroup " + string(e.cfg.Layout.Mode)}
	if e.cfg.Layout.Mode == cgroupfs.Unified {
		caps = append(caps, "memory.reclaim")
	} else {
		caps = append(caps, "cgroup v1 memory controller: actions here are events, vm.vfs_cache_pressure, unit properties and hooks; "+
			"there is no memory.reclaim, so reclaim actions are reported unsupported once per cgroup",
			"per-cgroup slab is kernel memory (memory.kmem.usage_in_bytes: KERNEL_MEMORY_BYTES in events, kernel_memory in policies; slab_reclaimable conditions read it as an upper bound)")
	}
	if e.cfg.Layout.UnifiedDir == "" {
		caps = append(caps, "no per-cgroup PSI")
	}
	var triggered []string
	if e.pol.Node != nil && e.pol.Node.PSITrigger != nil {
		triggered = append(triggered, "node")
	}
	for _, r := range e.pol.Rules {
		if r.PSITrigger != nil {
			triggered = append(triggered, r.Name)
		}
	}
	switch {
	case len(triggered) == 0:
		caps = append(caps, "PSI polled every "+e.pol.Daemon.Interval.String()+" (no rule asks for triggers)")
	case e.cfg.Triggers:
		caps = append(caps, "PSI triggers for "+strings.Join(triggered, ", ")+" (where the kernel refuses one, or "+strconv.Itoa(e.triggers.max)+" are open, that cgroup is polled every "+e.pol.Daemon.Interval.String()+" and a warning says so)")
	default:
		caps = append(caps, "PSI polled every "+e.pol.Daemon.Interval.String()+": kernel triggers are off for this run (not a live host)")
	}
	switch {
	case e.treeWatched:
		caps = append(caps, fmt.Sprintf("new cgroups found as they appear (inotify on %d directories; the tree is also walked every %v)", e.tree.Len(), e.cfg.WatchedRescanEvery))
	default:
		caps = append(caps, fmt.Sprintf("new cgroups found by walking the tree every %v", e.cfg.RescanEvery))
	}
	if e.cfg.Units == nil {
		caps = append(caps, "no systemd unit API: unit_property unavailable")
	}
	msg := fmt.Sprintf("memrelief started with %s: %s; %s", e.pol.Source, e.Status(), strings.Join(caps, ", "))
	if e.cfg.Observer != "" {
		msg += "; observing only, changing nothing (not even what an earlier run left): " + e.cfg.Observer
	}
	return report.Event{Kind: report.Started, Priority: report.Notice, Message: msg,
		Fields: map[string]string{report.FieldPolicy: e.pol.Source}}
}
