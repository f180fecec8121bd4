package history

import (
	"math"
	"time"
)

// Quality says how far a growth estimate can be trusted.
type Quality uint8

// Qualities, from none to high. They depend on how many buckets the
// estimate rests on and how many pairs of them agree on the direction,
// never on hours of wall clock, so a leak compressed into minutes is judged
// like one spread over days.
const (
	QualityNone   Quality = iota // too few buckets: no estimate
	QualityLow                   // an estimate, but the buckets disagree
	QualityMedium                // >= 12 buckets, >= 75% of pairs agree
	QualityHigh                  // >= 30 buckets, >= 90% of pairs agree
)

func (q Quality) String() string {
	switch q {
	case QualityNone:
		return "none"
	case QualityLow:
		return "low"
	case QualityMedium:
		return "medium"
	case QualityHigh:
		return "high"
	}
	return "unknown"
}

// Growth is the trend of one component.
type Growth struct {
	// Known is false when the host does not give the component or too few
	// buckets hold it; the other fields are then zero.
	Known bool
	// BytesPerSec is the Theil–Sen slope of the bucket minima; Low and High
	// are the quartiles of the pairwise slopes, a spread in the same unit.
	BytesPerSec, Low, High float64
	// Agreement is the share of pairwise slopes with the sign of the
	// estimate (0.5 is a coin toss, 1 is every pair).
	Agreement float64
	Quality   Quality
	// Level is the trend of the minima at To, in bytes.
	Level float64
	// From and To bound the buckets used; Step is their width.
	From, To time.Time
	Step     time.Duration
	Points   int
	// Restart is set when From is where the workload restarted (the series
	// fell to near zero), so older buckets were left out.
	Restart bool
}

// Growing reports whether the component grows by at least minBytesPerSec
// with at least medium quality.
func (g Growth) Growing(minBytesPerSec float64) bool {
	return g.Known && g.Quality >= QualityMedium && g.BytesPerSec > 0 && g.BytesPerSec >= minBytesPerSec
}

// Estimate is the trend of every component of a series.
type Estimate struct {
	Key string
	At  time.Time
	C   [NumComponents]Growth
	// Peak is the upper envelope of Current at C[Current].To: the 90th
	// percentile of the bucket means about the trend line, the level a
	// limit is met at first when the series is a sawtooth. Means rather
	// than bucket maxima, so sampling noise does not read as a tooth.
	Peak float64
}

// Estimator holds scratch space so estimates do not allocate once warm.
// One Estimator serves any number of series, one at a time.
type Estimator struct {
	ts, peaks, mean0 []float64
	mins, means      [NumComponents][]float64
	known            []uint8
	xs, ys, slopes   []float64
	selY, resid      []float64
}

const (
	// maxEstimatePoints caps the buckets an estimate looks at; longer
	// windows are merged (minimum of minima) down to it, which keeps the
	// pairwise slopes to a few thousand. It holds the default 6-hour tier
	// (72 buckets and the open one) whole: merging those in pairs halved
	// the lags a sawtooth is recognised at, and a 45-minute one was then
	// taken for growth (forecasts 11-13% short), and the 14-day one of
	// 84 four-hour buckets and the open one.
	maxEstimatePoints = 88
	minEstimatePoints = 6
	// A restart is a bucket whose mean falls below resetFraction of the
	// median of the 5 before, when that median is at least minResetBytes.
	resetFraction = 0.2
	minResetBytes = 1 << 20
)

// Estimate computes the growth of every component of s as of now.
//
// Why Theil–Sen on bucket minima: the minimum of a bucket is where reclaim
// (memrelief's own, or the kernel's) left the series, so a sawtooth of
// grow-and-reclaim reduces to its floor, whose trend is the part reclaim
// cannot take back. Theil–Sen (the median of pairwise slopes) ignores up to
// ~29% of wild buckets (a spike, a reclaim that freed more than usual, the
// ramp after a restart) where least squares would follow them. Pairs closer
// than a quarter of the window are skipped: a sawtooth with a period longer
// than a bucket makes near pairs follow each tooth, while far pairs see
// the floor move.
//
// Each component is estimated on the finest tier since the last restart
// and on every coarser tier, of which the best (see longer) is the long
// estimate; when that holds a longer stretch, it wins unless the recent one
// disagrees with it, which means the trend changed (a leak began, or was
// fixed).
func (e *Estimator) Estimate(s *Series, now time.Time) Estimate {
	out := Estimate{Key: s.key, At: now}
	end := s.last
	if end.IsZero() || end.After(now) {
		end = now
	}
	var recent [NumComponents]Growth
	var peakRecent float64
	restarted := false
	if len(s.tiers) > 0 {
		restarted, peakRecent = e.tierEstimate(s, 0, end, &recent)
	}
	out.C = recent
	out.Peak = peakRecent
	if restarted || len(s.tiers) == 1 {
		return out
	}
	var long, cand [NumComponents]Growth
	var peakLong float64 // the upper envelope of the tier long[Current] is from
	for i := 1; i < len(s.tiers); i++ {
		_, peak := e.tierEstimate(s, i, end, &cand)
		for c := range NumComponents {
			if longer(cand[c], long[c]) {
				long[c] = cand[c]
				if c == Current {
					peakLong = peak
				}
			}
		}
	}
	for c := range NumComponents {
		r, l := recent[c], long[c]
		if !l.Known || l.Quality < QualityMedium {
			continue
		}
		// The coarse tier must add history, not just repeat the fine one.
		if r.Known && l.To.Sub(l.From) < r.To.Sub(r.From)*3/2 {
			continue
		}
		if r.Known && r.Quality >= QualityMedium && !agrees(r, l.BytesPerSec) {
			continue
		}
		out.C[c] = l
		if c == Current {
			out.Peak = peakLong
		}
	}
	return out
}

// longer reports whether a, an estimate on a coarser tier, is to be
// preferred to b as the long-term trend: a better quality, or as good
// over a longer window. The default tiers give a component's trend from
// the hourly tier while it holds more than the 4-hour one (its first
// days: 12 hourly buckets are a medium estimate where 12 of 4 hours take
// two days) and from the 4-hour tier once that reaches as far back at
// as good a quality.
func longer(a, b Growth) bool {
	switch {
	case !a.Known:
		return false
	case !b.Known || a.Quality != b.Quality:
		return !b.Known || a.Quality > b.Quality
	}
	return a.To.Sub(a.From) > b.To.Sub(b.From)
}

// agrees reports whether slope lies within the spread of r's pairwise
// slopes, widened by 10% of r's rate and by what r's buckets can resolve,
// so rounding never makes two equal trends disagree.
func agrees(r Growth, slope float64) bool {
	tol := 0.1*math.Abs(r.BytesPerSec) + 1e-9
	// Buckets keep 12 significant bits, a step of up to 1/2048 of the
	// figure: over r's window a floor may move by a step at either end
	// unseen, so a slope smaller than that is within what r can resolve (a
	// 3 GiB cgroup's 6 hours read a 2 MiB/day leak as flat).
	if span := r.To.Sub(r.From).Seconds(); span > 0 {
		tol += 2 * math.Max(kib, r.Level/2048) / span
	}
	return slope >= r.Low-tol && slope <= r.High+tol
}

// tierEstimate fills g from tier i and returns whether a restart cut the
// window and the upper envelope of Current.
func (e *Estimator) tierEstimate(s *Series, i int, end time.Time, g *[NumComponents]Growth) (bool, float64) {
	t := &s.tiers[i]
	e.gather(t, end)
	n := len(e.ts)
	if n == 0 {
		return false, 0
	}
	start := e.restartIndex()
	restarted := start > 0
	e.cut(start)
	n = len(e.ts)
	e.thin()
	step := time.Duration(t.step) * time.Second
	if len(e.ts) > 1 && len(e.ts) < n {
		step = time.Duration(float64(time.Second) * (e.ts[len(e.ts)-1] - e.ts[0]) / float64(len(e.ts)-1))
	}
	var peak float64
	for c := range NumComponents {
		xs, ys := e.xs[:0], e.ys[:0]
		for j := range e.ts {
			if e.known[j]&(1<<c) != 0 {
				xs = append(xs, e.ts[j])
				ys = append(ys, e.mins[c][j])
			}
		}
		e.xs, e.ys = xs, ys
		if len(xs) < minEstimatePoints {
			continue
		}
		gr := e.floorTrend(xs, ys)
		gr.From = end.Add(time.Duration(xs[0]*float64(time.Second)) - step/2)
		gr.To = end
		gr.Step = step
		gr.Restart = restarted
		g[c] = gr
		if c == Current {
			res := e.ys[:0]
			for j := range e.ts {
				if e.known[j]&1 != 0 {
					res = append(res, e.means[Current][j]-gr.BytesPerSec*e.ts[j])
				}
			}
			e.ys = res
			peak = quantile(res, 0.9)
		}
	}
	return restarted, peak
}

// gather loads the non-empty buckets of t up to end, times in seconds
// relative to end (so negative), at the middle of what each bucket covers.
func (e *Estimator) gather(t *tier, end time.Time) {
	e.ts, e.peaks, e.known = e.ts[:0], e.peaks[:0], e.known[:0]
	for c := range NumComponents {
		e.mins[c], e.means[c] = e.mins[c][:0], e.means[c][:0]
	}
	endSec := float64(end.UnixNano()) / 1e9
	push := func(p *point, mid float64) {
		if p.n == 0 || mid > endSec {
			return
		}
		e.ts = append(e.ts, mid-endSec)
		e.peaks = append(e.peaks, float64(p.peak)*kib)
		e.known = append(e.known, p.known)
		for c := range NumComponents {
			e.mins[c] = append(e.mins[c], float64(p.min[c])*kib)
			e.means[c] = append(e.means[c], float64(p.mean[c])*kib)
		}
	}
	for j := range t.count {
		p, slot := t.at(j)
		push(&p, float64(slot*t.step)+float64(t.step)/2)
	}
	if t.open.n > 0 {
		p := t.open.point()
		// The open bucket covers its start up to the newest sample.
		startSec := float64(t.openSlot * t.step)
		mid := startSec + (min(endSec, startSec+float64(t.step))-startSec)/2
		push(&p, min(mid, endSec))
	}
}

// restartIndex finds the last bucket where the workload restarted: Anon
// (Current when Anon is not known) falls to near zero. Slab and page cache
// are left out on purpose: reclaim empties them without any restart.
func (e *Estimator) restartIndex() int {
	c := Current
	anon := 0
	for _, k := range e.known {
		if k&(1<<Anon) != 0 {
			anon++
		}
	}
	if anon*2 >= len(e.known) {
		c = Anon
	}
	last := 0
	const look = 5
	for j := 1; j < len(e.ts); j++ {
		if e.known[j]&(1<<c) == 0 {
			continue
		}
		ref := e.mean0[:0]
		for k := max(last, j-look); k < j; k++ {
			if e.known[k]&(1<<c) != 0 {
				ref = append(ref, e.means[c][k])
			}
		}
		e.mean0 = ref
		if len(ref) == 0 {
			continue
		}
		m := quantile(ref, 0.5)
		if m >= minResetBytes && e.means[c][j] < resetFraction*m {
			last = j
		}
	}
	return last
}

// cut drops the buckets before index from.
func (e *Estimator) cut(from int) {
	if from == 0 {
		return
	}
	e.ts = e.ts[from:]
	e.peaks = e.peaks[from:]
	e.known = e.known[from:]
	for c := range NumComponents {
		e.mins[c] = e.mins[c][from:]
		e.means[c] = e.means[c][from:]
	}
}

// thin merges neighbouring buckets until at most maxEstimatePoints remain,
// keeping the minimum of minima, the mean of means and the largest peak.
func (e *Estimator) thin() {
	n := len(e.ts)
	if n <= maxEstimatePoints {
		return
	}
	g := (n + maxEstimatePoints - 1) / maxEstimatePoints
	w := 0
	for r := 0; r < n; r += g {
		hi := min(r+g, n)
		var ts float64
		k := uint8(0xff)
		pk := 0.0
		var mn, me [NumComponents]float64
		for c := range mn {
			mn[c] = math.Inf(1)
		}
		for j := r; j < hi; j++ {
			ts += e.ts[j]
			k &= e.known[j]
			pk = max(pk, e.peaks[j])
			for c := range NumComponents {
				mn[c] = min(mn[c], e.mins[c][j])
				me[c] += e.means[c][j]
			}
		}
		cnt := float64(hi - r)
		e.ts[w], e.known[w], e.peaks[w] = ts/cnt, k, pk
		for c := range NumComponents {
			e.mins[c][w], e.means[c][w] = mn[c], me[c]/cnt
		}
		w++
	}
	e.ts, e.known, e.peaks = e.ts[:w], e.known[:w], e.peaks[:w]
	for c := range NumComponents {
		e.mins[c], e.means[c] = e.mins[c][:w], e.means[c][:w]
	}
}

// floorTrend estimates the trend of the floor of ys over xs (seconds).
// It starts with Theil–Sen on the bucket minima. When what is left after
// that trend still has structure in time (the residuals correlate with
// themselves some buckets later, as in a sawtooth slower than a bucket, or
// steps), it estimates again on the rolling minimum of ys across an
// eighth of the window: each bucket's minimum then follows the tooth, while the minimum across a window as long
// as a tooth is the floor reclaim left, whose slope is the leak. Plain
// noise keeps the first estimate, because a rolling minimum of noise rests
// on a few extreme samples and is less precise. Sawtooth periods up to an
// eighth of the window are flattened this way; slower ones still tilt the
// estimate.
func (e *Estimator) floorTrend(xs, ys []float64) Growth {
	g := e.theilSen(xs, ys)
	if !g.Known || e.shapeCorrelation(xs, ys, g.BytesPerSec) < 0.5 {
		return g
	}
	n := len(xs)
	half := (xs[n-1] - xs[0]) / 16
	env := e.selY[:0]
	lo, hi := 0, 0
	for i := range n {
		for xs[lo] < xs[i]-half {
			lo++
		}
		for hi+1 < n && xs[hi+1] <= xs[i]+half {
			hi++
		}
		m := ys[lo]
		for j := lo + 1; j <= hi; j++ {
			m = min(m, ys[j])
		}
		env = append(env, m)
	}
	e.selY = env
	// Near the start of a rising series (the end of a falling one) the
	// window is cut short and its minimum sits above the floor, bending
	// the slope toward flat: leave those buckets out. The other end needs
	// no trim: there the cut window still holds the lowest part.
	eps := 1e-6 * (xs[n-1] - xs[0])
	a, b := 0, n-1
	if g.BytesPerSec > 0 {
		for a < n && xs[a]-half < xs[0]-eps {
			a++
		}
	} else {
		for b >= 0 && xs[b]+half > xs[n-1]+eps {
			b--
		}
	}
	if b-a+1 >= minEstimatePoints {
		return e.theilSen(xs[a:b+1], env[a:b+1])
	}
	return e.theilSen(xs, env)
}

// shapeCorrelation is the largest autocorrelation of the residuals of ys
// against slope over lags of 1 to n/8 buckets: near 0 for noise, near 1
// when the residuals repeat a shape (a sawtooth whose period is within the
// lags, steps) or wander slowly.
func (e *Estimator) shapeCorrelation(xs, ys []float64, slope float64) float64 {
	n := len(xs)
	r := e.resid[:0]
	var mean float64
	for i := range n {
		v := ys[i] - slope*xs[i]
		r = append(r, v)
		mean += v
	}
	e.resid = r
	mean /= float64(n)
	var den float64
	for i := range r {
		r[i] -= mean
		den += r[i] * r[i]
	}
	if den == 0 {
		return 0
	}
	best := 0.0
	for lag := 1; lag <= max(1, n/8); lag++ {
		var num float64
		for i := lag; i < n; i++ {
			num += r[i-lag] * r[i]
		}
		best = max(best, num/den)
	}
	return best
}

// theilSen estimates the slope of ys over xs (seconds) from pairs at least
// a quarter of the span apart.
func (e *Estimator) theilSen(xs, ys []float64) Growth {
	n := len(xs)
	span := xs[n-1] - xs[0]
	minLag := span / 4
	sl := e.slopes[:0]
	for i := range n {
		for j := i + 1; j < n; j++ {
			dx := xs[j] - xs[i]
			if dx < minLag || dx <= 0 {
				continue
			}
			sl = append(sl, (ys[j]-ys[i])/dx)
		}
	}
	e.slopes = sl
	if len(sl) == 0 {
		return Growth{}
	}
	med := quantile(sl, 0.5)
	g := Growth{Known: true, BytesPerSec: med, Low: quantile(sl, 0.25), High: quantile(sl, 0.75), Points: n}
	// A slope within a KiB over the whole span is no slope: figures are
	// stored to the KiB at best (below 2 MiB; above, to 1/4096).
	flat := kib / math.Max(span, 1)
	agree := 0
	for _, s := range sl {
		switch {
		case math.Abs(med) <= flat && math.Abs(s) <= flat,
			med > flat && s > 0,
			med < -flat && s < 0:
			agree++
		}
	}
	g.Agreement = float64(agree) / float64(len(sl))
	g.Quality = quality(n, g.Agreement)
	// The level is where the floor sits at the end of the window: the
	// median of what is left of each minimum after taking the trend out.
	res := sl[:0]
	for i := range n {
		res = append(res, ys[i]-med*xs[i])
	}
	g.Level = quantile(res, 0.5)
	return g
}

func quality(points int, agreement float64) Quality {
	switch {
	case points >= 30 && agreement >= 0.9:
		return QualityHigh
	case points >= 12 && agreement >= 0.75:
		return QualityMedium
	}
	return QualityLow
}

// quantile returns the q-quantile of v (linear between neighbouring
// ranks), reordering v. It selects rather than sorts: the slopes of an
// estimate run to a couple of thousand, and three selections cost less than
// one sort.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	pos := q * float64(len(v)-1)
	lo := int(pos)
	a := selectK(v, lo)
	f := pos - float64(lo)
	if f == 0 || lo+1 >= len(v) {
		return a
	}
	// After selection everything past lo is at least v[lo]; the next
	// rank is the smallest of them.
	b := v[lo+1]
	for _, x := range v[lo+2:] {
		b = min(b, x)
	}
	return a*(1-f) + b*f
}

// selectK reorders v so v[k] is the value of rank k, everything before it
// no larger and everything after no smaller, and returns v[k]. Three-way
// partitioning keeps runs of equal values (the zero slopes of a flat
// series) linear.
func selectK(v []float64, k int) float64 {
	lo, hi := 0, len(v)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// Median of three as the pivot: sorted or reversed input stays
		// linear.
		a, b, c := v[lo], v[mid], v[hi]
		p := max(min(a, b), min(max(a, b), c))
		lt, i, gt := lo, lo, hi
		for i <= gt {
			switch {
			case v[i] < p:
				v[lt], v[i] = v[i], v[lt]
				lt++
				i++
			case v[i] > p:
				v[gt], v[i] = v[i], v[gt]
				gt--
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt - 1
		case k > gt:
			lo = gt + 1
		default:
			return v[k]
		}
	}
	return v[k]
}
