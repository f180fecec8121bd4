package history

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"
	"unsafe"
)

// Tier is one resolution of a Series: Len buckets of Step each, so it
// remembers Step*Len of history. Policies spell it "STEP/SPAN", as in
// "5m/6h" (policy.Resolution).
type Tier struct {
	Step time.Duration
	Len  int
}

// DefaultTiers keeps 5-minute points for 6 hours, for fast leaks and the
// charts of explain; hourly points for 2 days, for the first days of a
// slow leak; and 4-hour points for 14 days, for slow leaks that take weeks
// to hurt: 204 buckets, 4.7 KiB per series once all are full (72 fpoints
// of 30 bytes, 48 + 84 compact ones of 20) and ~6 KiB with the rest of
// the series (BenchmarkFortnight1000), so 1,000 cgroups take about 6 MiB.
// Six hours at 5 minutes is 72 buckets, enough for an estimate of high
// quality; finer steps cost memory without making the 10% forecast better
// (see TestForecastAccuracy), and a test that compresses a leak into
// minutes picks finer tiers itself. The 14-day tier was hourly once (336
// buckets; 11.3 KiB a series with 56-byte points) but the estimator
// merged it to about 5-hour points anyway (maxEstimatePoints); the 2-day
// tier keeps the hourly buckets a young series' estimate needs (see
// longer). Files saved with an hourly 14-day tier fill the 4-hour one on
// load (resample).
func DefaultTiers() []Tier {
	return []Tier{{Step: 5 * time.Minute, Len: 6 * 12}, {Step: time.Hour, Len: 2 * 24}, {Step: 4 * time.Hour, Len: 14 * 6}}
}

// maxTierLen and maxTiers bound a series so a bad configuration or file
// cannot make it allocate without limit, and with it the largest history
// file (maxFileSize). They are the policy's own bounds on [history]
// resolutions (policy.MaxHistoryPoints and policy.MaxResolutions, which
// TestBoundsCoverThePolicy holds them to), so every file the daemon writes
// is readable and nothing larger is.
const (
	maxTierLen = 4096
	maxTiers   = 4
)

func checkTiers(tiers []Tier) error {
	if len(tiers) == 0 || len(tiers) > maxTiers {
		return fmt.Errorf("history needs 1 to %d tiers, got %d", maxTiers, len(tiers))
	}
	for i, t := range tiers {
		if t.Step < time.Second || t.Step%time.Second != 0 {
			return fmt.Errorf("tier %d: step %v is not a whole number of seconds", i, t.Step)
		}
		if t.Len < 2 || t.Len > maxTierLen {
			return fmt.Errorf("tier %d: length %d is outside 2..%d", i, t.Len, maxTierLen)
		}
		if i > 0 && t.Step <= tiers[i-1].Step {
			return fmt.Errorf("tier %d: step %v is not coarser than tier %d's %v", i, t.Step, i-1, tiers[i-1].Step)
		}
	}
	return nil
}

// kib is the unit buckets store figures in: uint32 KiB reach 4 TiB, and
// a KiB is far below any growth worth reporting.
const kib = 1024

// point is the form every tier's buckets are read in (and a saved file's
// finest tier is decoded to): 56 bytes; n == 0 marks a gap (no sample).
type point struct {
	mean, min [NumComponents]uint32 // KiB
	peak      uint32                // largest Current, KiB
	n         uint16                // samples folded in, saturating
	known     uint8                 // components known in every sample
}

// cpoint is one closed bucket of a tier past the first, which holds the
// 2 and 14 days of the default tiers in 48 and 84 of them: only what the
// estimator reads there (see Estimator.Estimate), the minimum of every
// component (its floor, whose trend is the growth) and the mean of Current
// and Anon (restart detection, and the upper envelope of Current), each to
// 12 significant bits (f16). 20 bytes where a point takes 56.
type cpoint struct {
	min               [NumComponents]f16
	meanCur, meanAnon f16
	n                 uint16
	known             uint8
}

// fpoint is one closed bucket of the finest tier as it is kept: all of a
// point, each figure to 12 significant bits (f16). 30 bytes where a point
// takes 56: the 72 of the default 6-hour tier are 2.1 KiB, not 3.9. A
// 5-minute bucket of a 1 GiB cgroup is then known to 256 KiB, against the
// 860 KiB a bucket the fastest case of TestForecastAccuracy grows by.
type fpoint struct {
	mean, min [NumComponents]f16
	peak      f16
	n         uint16
	known     uint8
}

func finePoint(p *point) fpoint {
	if p.n == 0 {
		return fpoint{}
	}
	f := fpoint{n: p.n, known: p.known, peak: toF16(p.peak)}
	for k := range NumComponents {
		f.mean[k], f.min[k] = toF16(p.mean[k]), toF16(p.min[k])
	}
	return f
}

func (f *fpoint) expand() point {
	if f.n == 0 {
		return point{}
	}
	p := point{n: f.n, known: f.known, peak: f.peak.kib()}
	for k := range NumComponents {
		p.mean[k], p.min[k] = f.mean[k].kib(), f.min[k].kib()
	}
	return p
}

// compactPoint keeps of p what a cpoint holds.
func compactPoint(p *point) cpoint {
	c := cpoint{n: p.n, known: p.known}
	if p.n == 0 {
		return cpoint{}
	}
	for k := range NumComponents {
		c.min[k] = toF16(p.min[k])
	}
	c.meanCur, c.meanAnon = toF16(p.mean[Current]), toF16(p.mean[Anon])
	return c
}

// expand gives the bucket as a point. What a cpoint does not keep is
// filled in from what it does: the mean of a component other than
// Current and Anon is its minimum, and the peak is the mean of Current.
func (c *cpoint) expand() point {
	p := point{n: c.n, known: c.known}
	if c.n == 0 {
		return point{}
	}
	for k := range NumComponents {
		if c.known&(1<<k) != 0 {
			p.min[k] = c.min[k].kib()
			p.mean[k] = p.min[k]
		}
	}
	if c.known&(1<<Current) != 0 {
		p.mean[Current] = c.meanCur.kib()
		p.peak = p.mean[Current]
	}
	if c.known&(1<<Anon) != 0 {
		p.mean[Anon] = c.meanAnon.kib()
	}
	return p
}

// f16 is a figure in KiB to 12 significant bits: exact below 2 MiB, and
// above within 1/4096 of the figure (rounded to the nearest), up to the
// 4 TiB a uint32 of KiB reaches. For a 1 GiB cgroup that is 256 KiB,
// against the MiB a day of the smallest growth memrelief reports, over
// buckets an hour apart. The top 5 bits are an exponent e, the low 11 a
// mantissa m: e == 0 is m itself, else (2048+m) << (e-1).
type f16 uint16

func toF16(k uint32) f16 {
	if k < 2048 {
		return f16(k)
	}
	shift := bits.Len32(k) - 12
	m := (uint64(k) + (1<<shift)>>1) >> shift
	if m == 4096 { // rounded up to the next power of two
		m, shift = 2048, shift+1
	}
	return f16(uint16(shift+1)<<11 | uint16(m-2048))
}

func (f f16) kib() uint32 {
	e, m := uint64(f>>11), uint64(f&2047)
	if e == 0 {
		return uint32(m)
	}
	return uint32(min((2048+m)<<(e-1), math.MaxUint32))
}

// acc folds the samples of the bucket still open.
type acc struct {
	sum   [NumComponents]float64
	min   [NumComponents]uint64
	peak  uint64
	n     uint32
	known uint8
}

func (a *acc) add(v *Values) {
	if a.n == 0 {
		a.known = v.known
		a.peak = 0
		for c := range a.min {
			a.min[c] = math.MaxUint64
			a.sum[c] = 0
		}
	}
	a.known &= v.known
	a.n++
	for c := range NumComponents {
		b := v.bytes[c]
		a.sum[c] += float64(b)
		a.min[c] = min(a.min[c], b)
	}
	a.peak = max(a.peak, v.bytes[Current])
}

func toKiB(b float64) uint32 {
	k := math.Round(b / kib)
	if k >= math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(k)
}

func (a *acc) point() point {
	p := point{known: a.known, peak: toKiB(float64(a.peak)), n: uint16(min(a.n, math.MaxUint16))}
	if a.n == 0 {
		return point{}
	}
	for c := range NumComponents {
		if a.known&(1<<c) == 0 {
			continue
		}
		p.mean[c] = toKiB(a.sum[c] / float64(a.n))
		p.min[c] = toKiB(float64(a.min[c]))
	}
	return p
}

// tier is a ring of closed buckets and the open one. The finest tier
// keeps them as fpoints, the others as cpoints (compact). Bucket k covers
// [k*step, (k+1)*step) in Unix seconds, so a bucket's time is implied by
// its place in the ring and no timestamps are stored.
//
// The ring is length buckets long, but its storage grows on demand: most
// pods live hours, and a series should not pay for 14 days of buckets it
// does not hold. pts is the storage (len == cap, never more than length);
// while it is shorter than length the ring wraps within it only until the
// next bucket finds it full, when grow copies it out in order into a larger
// one. Once pts reaches length it is never reallocated, so Add does not
// allocate in the steady state.
type tier struct {
	step     int64 // seconds
	length   int   // buckets the ring holds at most
	compact  bool  // storage is cpts, else pts
	pts      []fpoint
	cpts     []cpoint
	newest   int   // index in pts of the newest closed bucket
	count    int   // closed buckets held
	lastSlot int64 // slot of pts[newest] when count > 0
	open     acc
	openSlot int64
}

// Storage grows by a quarter of what it holds, at least minGrowPoints, up
// to the tier's length: a tier that fills does so in about a dozen copies,
// and a tier holding n buckets never reserves more than n/4 (or
// minGrowPoints) it does not use yet.
const minGrowPoints = 16

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// add folds v into the tier. A sample older than the open bucket (the
// clock stepped back) is dropped: it reports false.
func (t *tier) add(sec int64, v *Values) bool {
	slot := floorDiv(sec, t.step)
	if t.open.n > 0 {
		if slot < t.openSlot {
			return false
		}
		if slot > t.openSlot {
			t.push(t.open.point(), t.openSlot)
			t.open.n = 0
		}
	}
	t.openSlot = slot
	t.open.add(v)
	return true
}

// push appends a closed bucket, with empty buckets for the slots between,
// and forgets everything when the gap is longer than the ring.
func (t *tier) push(p point, slot int64) {
	if t.count > 0 {
		gap := slot - t.lastSlot - 1
		if gap < 0 {
			return
		}
		if gap >= int64(t.length) {
			t.count = 0
		} else {
			for range gap {
				t.advance(point{})
			}
		}
	}
	t.advance(p)
	t.lastSlot = slot
}

func (t *tier) advance(p point) {
	if size := t.size(); t.count == size && size < t.length {
		t.grow(size + max(minGrowPoints, size/4))
	}
	t.newest++
	if t.newest == t.size() {
		t.newest = 0
	}
	t.set(t.newest, &p)
	if t.count < t.size() {
		t.count++
	}
}

// size is the ring's storage in buckets.
func (t *tier) size() int {
	if t.compact {
		return len(t.cpts)
	}
	return len(t.pts)
}

func (t *tier) set(idx int, p *point) {
	if t.compact {
		t.cpts[idx] = compactPoint(p)
	} else {
		t.pts[idx] = finePoint(p)
	}
}

// grow moves the ring into storage of n buckets (at most the tier's
// length, at least what it holds), oldest first.
func (t *tier) grow(n int) {
	n = max(min(n, t.length), t.count)
	if t.compact {
		cpts := make([]cpoint, n)
		for i := range t.count {
			cpts[i] = t.cpts[t.index(i)]
		}
		t.cpts = cpts
	} else {
		pts := make([]fpoint, n)
		for i := range t.count {
			pts[i] = t.pts[t.index(i)]
		}
		t.pts = pts
	}
	t.newest = t.count - 1
}

// load replaces the ring's content with pts (oldest first, at most the
// tier's length), in storage of that size.
func (t *tier) load(pts []point) {
	t.pts, t.cpts = nil, nil
	if len(pts) > 0 {
		if t.compact {
			t.cpts = make([]cpoint, len(pts))
		} else {
			t.pts = make([]fpoint, len(pts))
		}
		for i := range pts {
			t.set(i, &pts[i])
		}
	}
	t.count, t.newest = len(pts), len(pts)-1
}

// adopt makes pts or cpts (oldest first, at most the tier's length, the
// kind the tier keeps) its storage as they are, without room to spare.
func (t *tier) adopt(pts []fpoint, cpts []cpoint) {
	t.pts, t.cpts = nil, nil
	n := len(pts)
	if t.compact {
		n = len(cpts)
	}
	if n > 0 {
		if t.compact {
			t.cpts = cpts[:n:n]
		} else {
			t.pts = pts[:n:n]
		}
	}
	t.count, t.newest = n, n-1
}

// index is the place in storage of the i-th closed bucket from the
// oldest.
func (t *tier) index(i int) int {
	idx := t.newest - t.count + 1 + i
	if idx < 0 {
		idx += t.size()
	}
	return idx
}

// at returns the i-th closed bucket from the oldest, as a point, and its
// slot.
func (t *tier) at(i int) (point, int64) {
	slot := t.lastSlot - int64(t.count-1-i)
	if t.compact {
		return t.cpts[t.index(i)].expand(), slot
	}
	return t.pts[t.index(i)].expand(), slot
}

// Series is the history of one cgroup or the node. Not safe for concurrent
// use: the engine's loop owns it.
type Series struct {
	key   string
	tiers []tier
	// last is the time of the newest sample taken, zero before any.
	last time.Time
}

// NewSeries returns an empty series named key (the cgroup path, "/" for
// the node) with the given tiers (DefaultTiers when nil).
func NewSeries(key string, tiers []Tier) (*Series, error) {
	if tiers == nil {
		tiers = DefaultTiers()
	}
	if err := checkTiers(tiers); err != nil {
		return nil, fmt.Errorf("history of %s: %w", key, err)
	}
	if key == "" {
		return nil, errors.New("history: empty series key")
	}
	s := &Series{key: key, tiers: make([]tier, len(tiers))}
	for i, t := range tiers {
		s.tiers[i] = tier{step: int64(t.Step / time.Second), length: t.Len, newest: -1, compact: i > 0}
	}
	return s, nil
}

// Key is the series' name.
func (s *Series) Key() string { return s.key }

// Last is the time of the newest sample, zero before any.
func (s *Series) Last() time.Time { return s.last }

// Tiers returns the resolutions the series keeps, finest first.
func (s *Series) Tiers() []Tier {
	out := make([]Tier, len(s.tiers))
	for i, t := range s.tiers {
		out[i] = Tier{Step: time.Duration(t.step) * time.Second, Len: t.length}
	}
	return out
}

// MemoryBytes is roughly the heap the series holds: the storage its tiers
// have grown so far and the fixed part (the Series, its tiers and key),
// for the daemon to sum over series for a metric. The allocator rounds
// each block up to its size class, which adds ~7% on a full default
// series (BenchmarkFootprint measures both).
func (s *Series) MemoryBytes() int {
	n := int(unsafe.Sizeof(Series{})) + len(s.key) + len(s.tiers)*int(unsafe.Sizeof(tier{}))
	for i := range s.tiers {
		n += cap(s.tiers[i].pts)*int(unsafe.Sizeof(fpoint{})) + cap(s.tiers[i].cpts)*int(unsafe.Sizeof(cpoint{}))
	}
	return n
}

// Add records a sample taken at t. Samples older than the newest one are
// dropped (the clock stepped back): Add reports false. It allocates only
// when a tier's storage grows (see tier), never once every tier is full.
func (s *Series) Add(t time.Time, v Values) bool {
	if !s.last.IsZero() && t.Before(s.last) {
		return false
	}
	sec := t.Unix()
	for i := range s.tiers {
		s.tiers[i].add(sec, &v)
	}
	s.last = t
	return true
}

// Point is one bucket of a tier.
type Point struct {
	Start time.Time
	Step  time.Duration
	// Samples is how many samples the bucket holds: 0 is a gap.
	Samples int
	// Open is set on the newest bucket, still filling.
	Open bool
	// Mean and Min of each component over the bucket, to the KiB below
	// 2 MiB and to 12 significant bits (1/4096) above, in every tier
	// (the open bucket to the KiB). Tiers past the first keep only the
	// minima and the means of Current and Anon: there the Mean of the
	// other components is their Min.
	Mean, Min Values
	// Peak is the largest Current in the bucket; in tiers past the first,
	// which do not keep it, the Mean of Current.
	Peak uint64
}

func (p *point) export(slot, step int64, open bool) Point {
	out := Point{Start: time.Unix(slot*step, 0), Step: time.Duration(step) * time.Second, Samples: int(p.n), Open: open}
	if p.n == 0 {
		return out
	}
	out.Peak = uint64(p.peak) * kib
	for c := range NumComponents {
		if p.known&(1<<c) != 0 {
			out.Mean.Set(c, uint64(p.mean[c])*kib)
			out.Min.Set(c, uint64(p.min[c])*kib)
		}
	}
	return out
}

// Points appends to dst the buckets of tier i (0 is the finest) that
// start in [from, to), oldest first, the open bucket last, gaps included,
// and returns the extended slice. An unknown tier appends nothing.
func (s *Series) Points(i int, from, to time.Time, dst []Point) []Point {
	if i < 0 || i >= len(s.tiers) {
		return dst
	}
	t := &s.tiers[i]
	inRange := func(slot int64) bool {
		st := time.Unix(slot*t.step, 0)
		return !st.Before(from) && st.Before(to)
	}
	for j := range t.count {
		p, slot := t.at(j)
		if inRange(slot) {
			dst = append(dst, p.export(slot, t.step, false))
		}
	}
	if t.open.n > 0 && t.count > 0 {
		// Buckets between the newest closed one and the open one are gaps
		// the ring records only when the open bucket closes.
		for slot := max(t.lastSlot+1, t.openSlot-int64(t.length)); slot < t.openSlot; slot++ {
			if inRange(slot) {
				dst = append(dst, Point{Start: time.Unix(slot*t.step, 0), Step: time.Duration(t.step) * time.Second})
			}
		}
	}
	if t.open.n > 0 && inRange(t.openSlot) {
		p := t.open.point()
		dst = append(dst, p.export(t.openSlot, t.step, true))
	}
	return dst
}
