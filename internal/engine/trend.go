package engine

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/history"
	"github.com/memrelief/memrelief/internal/human"
	"github.com/memrelief/memrelief/internal/kube"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
)

// trend is the history of one cgroup (or the node) and what the engine
// last concluded from it.
type trend struct {
	s      *history.Series
	est    history.Estimate
	hasEst bool
	fc     history.CgroupForecast // cgroups
	oom    history.Forecast       // the node: MemAvailable reaching 0
	cls    history.Classification
	remind history.Reminder
	// phase spreads estimates and saves of many series over their period,
	// so they do not all fall on one tick.
	phase             time.Duration
	nextEst, nextSave time.Time
	dirty             bool
}

// member is a container of a watched pod: it has a history, so the
// container that grows can be named, but no rule of its own.
type member struct {
	cg, name string
	// pod is namespace/name/container as the kubelet names them, "" until
	// its log directory says so.
	pod       string
	h         *cgroupfs.Handle
	mem       cgroupfs.Memory
	sampledAt time.Time
	tr        *trend
	seen      int
}

// histories is the engine's part that keeps series: settings fixed at
// start (tiers and directory change only on restart, so a reload never
// throws weeks of history away) and the scratch space of estimates.
type histories struct {
	tiers    []history.Tier
	store    history.Store
	est      history.Estimator
	prunedAt time.Time
	// w writes and prunes files off the loop; started at the first save.
	w *history.Writer
}

// saveQueue bounds the saves waiting for the disk: ~7 KB each for a full
// default series, and a disk that keeps up empties it within a tick.
const saveQueue = 64

func (h *histories) writer() *history.Writer {
	if h.w == nil {
		h.w = history.NewWriter(h.store, saveQueue)
	}
	return h.w
}

// close waits for the writer's queue until ctx ends, and says what did
// not get written: what was still queued, and the saves that failed since
// the last tick looked (the last ones of a stop among them).
func (h *histories) close(ctx context.Context) error {
	if h == nil || h.w == nil {
		return nil
	}
	err := h.w.Close(ctx)
	if n, ferr := h.w.Failed(); ferr != nil {
		err = errors.Join(err, fmt.Errorf("%d history saves failed: %w", n, ferr))
	}
	h.w = nil
	return err
}

func newHistories(r policy.History, roots string) *histories {
	if !r.Enabled {
		return nil
	}
	h := &histories{store: history.Store{Dir: HistoryDir(roots, r.Dir)}}
	for _, res := range r.Resolutions {
		h.tiers = append(h.tiers, history.Tier{Step: res.Step.Std(), Len: res.Points()})
	}
	return h
}

// HistoryDir maps the policy's history.dir under /var/lib/memrelief to the
// injected root lib (paths.Roots.Lib), as stateDir does for /run, so tests
// and chroots keep their history inside their tree, and explain finds it
// where the daemon wrote it.
func HistoryDir(lib, dir string) string { return rehome(dir, "/var/lib/memrelief", lib) }

// estimateEvery is how often each series is estimated: once per finest
// bucket (a new point is what changes an estimate), at most every 5
// minutes and at least every interval.
func (e *Engine) estimateEvery() time.Duration {
	d := min(e.hist.tiers[0].Step, 5*time.Minute)
	return max(d, e.pol.Daemon.Interval.Std())
}

// memberEvery is how often containers of pods are sampled: ten samples
// per finest bucket are plenty for its minimum and mean, and cost a tenth
// of sampling them every tick.
func (e *Engine) memberEvery() time.Duration {
	return max(e.hist.tiers[0].Step/10, e.pol.Daemon.Interval.Std())
}

// newTrend loads the stored history of key, or starts an empty one. A file
// that cannot be trusted has been set aside by the store; that is worth
// a warning, never a failure.
func (e *Engine) newTrend(key string) *trend {
	if e.hist == nil {
		return nil
	}
	s, err := e.hist.store.Load(key, e.hist.tiers)
	if err != nil {
		e.once("history-load:"+key, fmt.Sprintf("history of %s not used, starting afresh: %v", key, err))
	}
	if s == nil {
		if s, err = history.NewSeries(key, e.hist.tiers); err != nil {
			e.once("history", err.Error())
			return nil
		}
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return &trend{s: s, phase: time.Duration(h.Sum64() % uint64(time.Hour))}
}

func (t *trend) add(now time.Time, v history.Values) {
	if t != nil && t.s.Add(now, v) {
		t.dirty = true
	}
}

// due reports whether a periodic job of period every, next due at *next,
// should run at now, and if so schedules the next run. A series' first run
// falls at its phase within one period, which spreads the runs of many
// series evenly over the period.
func (t *trend) due(next *time.Time, now time.Time, every time.Duration) bool {
	if next.IsZero() {
		*next = now.Add(t.phase % every)
	}
	if now.Before(*next) {
		return false
	}
	*next = now.Add(every)
	return true
}

// scanMembers finds the containers of a watched pod: a cgroup the
// kubelet's naming says is a pod, whether or not its name is known yet.
func (e *Engine) scanMembers(w *watched) {
	if e.hist == nil || !e.pol.History.Containers || !isPod(w.cg) {
		e.dropMembers(w)
		return
	}
	kids, err := e.rd.Children(w.cg)
	if err != nil {
		return // the pod went; the next sample finds out
	}
	if w.members == nil {
		w.members = map[string]*member{}
	}
	for _, k := range kids {
		cg := w.cg + "/" + k
		if _, ok := e.watched[cg]; ok {
			continue // a rule watches the container itself
		}
		m := w.members[cg]
		if m == nil {
			m = &member{cg: cg}
			if m.tr = e.newTrend("/" + cg); m.tr == nil {
				continue
			}
			w.members[cg] = m
		}
		// The kubelet's names may come later than the cgroup.
		m.pod = e.podName(cg)
		m.name = containerName(m.pod, cg)
		m.seen = e.scanGen
	}
	for cg, m := range w.members {
		if m.seen != e.scanGen {
			e.dropMember(w, cg, m)
		}
	}
}

// isPod reports whether cg is a pod's own cgroup (not a container's, not a
// QoS slice), by the kubelet's naming under either driver.
func isPod(cg string) bool {
	ref, err := kube.ParsePath(cg)
	return err == nil && ref.PodUID != "" && ref.ContainerID == ""
}

// containerName is the kubelet's name of a container when its pod's log
// directory gives one, else the cgroup's unit or directory name.
func containerName(pod, cg string) string {
	if strings.Count(pod, "/") == 2 {
		return pod[strings.LastIndexByte(pod, '/')+1:]
	}
	if u := cgroupfs.UnitOf(cg); u != "" {
		return u
	}
	return path.Base(cg)
}

func (e *Engine) dropMember(w *watched, cg string, m *member) {
	if m.h != nil {
		m.h.Close()
	}
	delete(e.reported, "history-load:/"+cg)
	delete(w.members, cg)
}

func (e *Engine) dropMembers(w *watched) {
	for cg, m := range w.members {
		e.dropMember(w, cg, m)
	}
}

// sampleMembers reads the containers of w when their period is due.
func (e *Engine) sampleMembers(w *watched, now time.Time) {
	if len(w.members) == 0 {
		return
	}
	every := e.memberEvery()
	for cg, m := range w.members {
		if !m.sampledAt.IsZero() && now.Sub(m.sampledAt) < every {
			continue
		}
		m.sampledAt = now
		if m.h == nil {
			h, err := e.rd.Open(cg)
			if err != nil {
				continue
			}
			m.h = h
		}
		err := m.h.Memory(&m.mem, true)
		switch {
		case errors.Is(err, cgroupfs.ErrGone):
			e.dropMember(w, cg, m)
		case err == nil:
			m.tr.add(now, history.FromMemory(&m.mem))
		}
	}
}

// updateTrends estimates the series that are due, reports growth, and
// writes the series that are due to disk.
func (e *Engine) updateTrends(now time.Time) {
	if e.hist == nil {
		return
	}
	every := e.estimateEvery()
	save := e.pol.History.SaveEvery.Std()
	// w is nil for the node, m set for a container of w.
	visit := func(w *watched, m *member, t *trend) {
		if t == nil {
			return
		}
		if t.due(&t.nextEst, now, every) {
			e.estimate(w, m, t, now)
		}
		if t.dirty && t.due(&t.nextSave, now, save) {
			e.save(t)
		}
	}
	visit(nil, nil, e.nodeTr)
	for _, cg := range e.order() {
		w := e.watched[cg]
		if w == nil {
			continue
		}
		visit(w, nil, w.tr)
		for _, m := range w.members {
			visit(w, m, m.tr)
		}
	}
	if now.Sub(e.hist.prunedAt) >= time.Hour {
		e.hist.prunedAt = now
		e.prune(now)
	}
	if e.hist.w != nil {
		if n, err := e.hist.w.Failed(); err != nil {
			e.once("history-save", fmt.Sprintf("history not saved (%d failures; kept in memory, retried at the next save): %v", n, err))
		}
	}
}

// save hands t to the writer. A failed write is reported by the writer
// later (updateTrends); the series gets dirty again with its next sample
// and is tried again at its next save.
func (e *Engine) save(t *trend) {
	if e.cfg.Observer != "" {
		t.dirty = false // the files are the acting memrelief's to write
		return
	}
	if !e.hist.writer().Save(t.s) {
		e.once("history-behind", fmt.Sprintf("history saves are behind the disk (%d waiting): kept in memory, retried at the next save", saveQueue))
		return
	}
	t.dirty = false
}

// prune removes the files of cgroups gone for longer than the longest
// tier holds: their history has nothing left to say.
func (e *Engine) prune(now time.Time) {
	if e.cfg.Observer != "" {
		return
	}
	last := e.hist.tiers[len(e.hist.tiers)-1]
	e.hist.writer().Prune(now, last.Step*time.Duration(last.Len)) // failures come back as the saves' do
}

// saveAll writes every changed series, on the way out, for at most
// budget: a restart must not lose the hours since the last save, and a
// slow disk must not hold up the stop.
func (e *Engine) saveAll(budget time.Duration) {
	if e.hist == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	behind := false
	e.eachTrend(func(t *trend) {
		if !t.dirty || behind {
			return
		}
		if e.cfg.Observer != "" {
			t.dirty = false
			return
		}
		if !e.hist.writer().SaveWait(ctx, t.s) {
			behind = true
			return
		}
		t.dirty = false
	})
	switch err := e.hist.close(ctx); {
	case err != nil:
		e.once("history-save-stop", fmt.Sprintf("history not all saved on stop: %v", err))
	case behind:
		e.once("history-save-stop", "history not all saved on stop: the disk is too slow")
	}
}

// eachTrend calls f for every series kept: the node's, the watched
// cgroups' and their containers'.
func (e *Engine) eachTrend(f func(*trend)) {
	if e.nodeTr != nil {
		f(e.nodeTr)
	}
	for _, w := range e.watched {
		if w.tr != nil {
			f(w.tr)
		}
		for _, m := range w.members {
			f(m.tr)
		}
	}
}

// estimate updates t's trend and forecast and reports growth; w is nil
// for the node, m set for a container of w.
func (e *Engine) estimate(w *watched, m *member, t *trend, now time.Time) {
	t.est = e.hist.est.Estimate(t.s, now)
	t.hasEst = true
	minGrowth := float64(e.pol.History.MinGrowth)
	t.cls = history.Classify(t.est, minGrowth)
	switch {
	case w == nil:
		if e.nodeNow.hasMem {
			t.oom = t.est.ForecastNode(e.nodeNow.mem.MemTotal)
		}
	case m != nil:
		t.fc = t.est.ForecastCgroup(m.mem.High, m.mem.Max, m.mem.HasHigh)
	default:
		t.fc = t.est.ForecastCgroup(w.cur.mem.High, w.cur.mem.Max, w.cur.mem.HasHigh)
	}
	o := history.Observation{Growing: e.worthReporting(t)}
	if in, ok := nearest(t.fc, t.oom); ok && in <= e.pol.History.Horizon.Std() {
		o.In, o.HasIn = in, true
	}
	rp := history.ReminderPolicy{Every: e.pol.History.RemindEvery.Std(), MinGap: min(time.Hour, e.pol.History.RemindEvery.Std())}
	next, why := rp.Step(t.remind, o, now)
	t.remind = next
	if why != history.ReasonNone {
		e.emit(e.growthEvent(w, m, t, why))
	}
}

// worthReporting is growth an operator should hear about (TrendOf's
// Growing).
func (e *Engine) worthReporting(t *trend) bool {
	return growing(t.est, t.cls, t.fc, t.oom, float64(e.pol.History.MinGrowth), e.pol.History.Horizon.Std())
}

// growing reports growth worth reporting: memory.current grows by at
// least minGrowth with at least medium quality, and not only by page cache
// (which the kernel drops under pressure) unless even that meets a limit
// within the horizon.
func growing(est history.Estimate, cls history.Classification, fc history.CgroupForecast, oom history.Forecast, minGrowth float64, horizon time.Duration) bool {
	if !est.C[history.Current].Growing(minGrowth) {
		return false
	}
	if len(cls.Causes) > 0 && cls.Causes[0].Component != history.File {
		return true
	}
	in, soon := nearest(fc, oom)
	return soon && in <= horizon
}

// TrendOf is what the daemon reports of an estimate and its forecasts
// (oom: the node's; zero for cgroups), so that explain, judging saved
// history without a daemon, concludes exactly what the daemon would.
func TrendOf(est history.Estimate, fc history.CgroupForecast, oom history.Forecast, minGrowth float64, horizon time.Duration) *TrendStatus {
	return judge(est, history.Classify(est, minGrowth), fc, oom, minGrowth, horizon)
}

// judge builds the TrendStatus.
func judge(est history.Estimate, cls history.Classification, fc history.CgroupForecast, oom history.Forecast, minGrowth float64, horizon time.Duration) *TrendStatus {
	g := est.C[history.Current]
	ts := &TrendStatus{BytesPerSec: g.BytesPerSec, Quality: g.Quality.String(), Since: g.From,
		Causes: cls.Text, ToHigh: NeverMet, ToMax: NeverMet, ToOOM: NeverMet, Components: map[string]float64{}}
	for c := range history.NumComponents {
		if gc := est.C[c]; gc.Known && gc.Quality >= history.QualityLow {
			ts.Components[c.String()] = gc.BytesPerSec
		}
	}
	if len(cls.Causes) > 0 {
		ts.Dominant = cls.Causes[0].Component.String()
	}
	if g.Quality >= history.QualityMedium {
		for _, f := range []struct {
			f   history.Forecast
			dst *time.Duration
		}{{fc.High, &ts.ToHigh}, {fc.Max, &ts.ToMax}, {oom, &ts.ToOOM}} {
			if f.f.Reachable {
				*f.dst = f.f.In
			}
		}
	}
	ts.Growing = growing(est, cls, fc, oom, minGrowth, horizon)
	return ts
}

// nearest is the time until the first limit is met, when one is.
func nearest(fc history.CgroupForecast, oom history.Forecast) (time.Duration, bool) {
	best, ok := time.Duration(math.MaxInt64), false
	for _, f := range []history.Forecast{fc.High, fc.Max, oom} {
		if f.Reachable && f.Quality >= history.QualityMedium && f.In < best {
			best, ok = f.In, true
		}
	}
	return best, ok
}

// growthEvent reports growth of w (nil: the node) or of its container m.
func (e *Engine) growthEvent(w *watched, m *member, t *trend, why history.Reason) report.Event {
	var f map[string]string
	var name string
	if w == nil {
		f, name = map[string]string{report.FieldCgroup: "/"}, "node"
	} else {
		f, name = e.fields(w), e.name(w)
	}
	if m != nil {
		f[report.FieldCgroup], f[report.FieldContainer] = "/"+m.cg, m.name
		if u := cgroupfs.UnitOf(m.cg); u != "" {
			f[report.FieldUnit] = u
		}
		f[report.FieldMemoryCurrent] = strconv.FormatUint(m.mem.Current, 10)
		delete(f, report.FieldSlabReclaimable)
		name += " container " + m.name
	}
	delete(f, report.FieldLevel)
	g := t.est.C[history.Current]
	f[report.FieldGrowthReason] = why.String()
	f[report.FieldGrowthBytesPerSec] = strconv.FormatInt(int64(math.Round(g.BytesPerSec)), 10)
	f[report.FieldGrowthQuality] = g.Quality.String()
	if !g.From.IsZero() {
		f[report.FieldGrowthSince] = g.From.UTC().Format(time.RFC3339)
	}
	if len(t.cls.Causes) > 0 {
		f[report.FieldGrowthComponent] = t.cls.Causes[0].Component.String()
		f[report.FieldGrowthClassification] = t.cls.Text
	}
	prio := report.Notice
	var limits []string
	for _, l := range []struct {
		f     history.Forecast
		field string
		what  string
	}{{t.fc.High, report.FieldTimeToMemoryHigh, "memory.high"}, {t.fc.Max, report.FieldTimeToMemoryMax, "memory.max"}, {t.oom, report.FieldTimeToOOM, "the node's MemAvailable 0"}} {
		if !l.f.Reachable || l.f.Quality < history.QualityMedium {
			continue
		}
		f[l.field] = strconv.FormatInt(int64(l.f.In.Seconds()), 10)
		if l.f.Reached {
			limits = append(limits, "at "+l.what+" already")
		} else {
			limits = append(limits, "reaches "+l.what+" in "+human.Duration(l.f.In))
		}
		if l.field != report.FieldTimeToMemoryHigh && l.f.In <= 7*24*time.Hour {
			prio = report.Warning
		}
	}
	var msg string
	if why == history.ReasonStopped {
		prio = report.Info
		msg = fmt.Sprintf("%s no longer grows", name)
		for _, k := range []string{report.FieldGrowthComponent, report.FieldGrowthClassification, report.FieldTimeToMemoryHigh, report.FieldTimeToMemoryMax, report.FieldTimeToOOM} {
			delete(f, k)
		}
	} else {
		msg = fmt.Sprintf("%s grows %s", name, human.Rate(g.BytesPerSec))
		if !g.From.IsZero() {
			msg += " since " + g.From.Local().Format("2006-01-02 15:04")
		}
		var parts []string
		for _, c := range t.cls.Causes {
			if c.Dominant {
				parts = append(parts, fmt.Sprintf("%s %.0f%% (%s)", c.Component, 100*c.Share, c.Meaning))
			}
		}
		if len(parts) > 0 {
			msg += ": " + strings.Join(parts, ", ")
		}
		if len(limits) > 0 {
			msg += "; " + strings.Join(limits, ", ")
		}
	}
	return report.Event{Kind: report.Growth, Priority: prio, Message: msg, Fields: f}
}

// trendComponent maps a trend metric to the component it follows.
func trendComponent(m policy.Metric) (history.Component, bool) {
	switch m {
	case policy.MemoryTrend:
		return history.Current, true
	case policy.AnonTrend:
		return history.Anon, true
	case policy.FileTrend:
		return history.File, true
	case policy.SlabReclaimableTrend:
		return history.SlabReclaimable, true
	case policy.SlabUnreclaimableTrend:
		return history.SlabUnreclaimable, true
	case policy.KernelTrend:
		return history.OtherKernel, true
	}
	return 0, false
}

// value answers the trend metrics of a cgroup or the node.
func (t *trend) value(m policy.Metric) (float64, bool) {
	if t == nil || !t.hasEst {
		return 0, false
	}
	if c, ok := trendComponent(m); ok {
		g := t.est.C[c]
		if !g.Known || g.Quality < history.QualityMedium {
			return 0, false
		}
		return g.BytesPerSec, true
	}
	var f history.Forecast
	switch m {
	case policy.TimeToMemoryHigh:
		f = t.fc.High
	case policy.TimeToMemoryMax:
		f = t.fc.Max
	case policy.NodeTimeToOOM:
		f = t.oom
	default:
		return 0, false
	}
	g := t.est.C[history.Current]
	if !g.Known || g.Quality < history.QualityMedium {
		return 0, false
	}
	if !f.Reachable {
		return policy.Never, true
	}
	return f.In.Seconds(), true
}
