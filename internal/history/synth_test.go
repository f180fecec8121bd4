package history

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

const mib = 1 << 20

// epoch is an arbitrary fixed start, not aligned to any bucket on purpose.
var epoch = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// shape gives the noise-free components at t seconds from epoch.
type shape func(t float64) (anon, file, slabR, slabU, kern float64)

func (f shape) current(t float64) float64 {
	a, fi, sr, su, k := f(t)
	return a + fi + sr + su + k
}

// feed adds samples every every from epoch+from to epoch+to, with
// Gaussian noise of sigma bytes on anon and file (so Current carries it
// too), from a fixed seed.
func feed(t testing.TB, s *Series, f shape, from, to, every time.Duration, sigma float64, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for d := from; d < to; d += every {
		sec := d.Seconds()
		a, fi, sr, su, k := f(sec)
		a += r.NormFloat64() * sigma
		fi += r.NormFloat64() * sigma
		var v Values
		clamp := func(x float64) uint64 { return uint64(math.Max(0, x)) }
		v.Set(Anon, clamp(a))
		v.Set(File, clamp(fi))
		v.Set(SlabReclaimable, clamp(sr))
		v.Set(SlabUnreclaimable, clamp(su))
		v.Set(OtherKernel, clamp(k))
		v.Set(Current, clamp(a+fi+sr+su+k))
		if !s.Add(epoch.Add(d), v) {
			t.Fatalf("sample at %v dropped", d)
		}
	}
}

// trueTimeTo scans the noise-free shape forward from t0 (seconds) in
// 10-second steps for the first moment Current reaches limit.
func trueTimeTo(f shape, t0 float64, limit float64) (time.Duration, bool) {
	for dt := 0.0; dt < 90*24*3600; dt += 10 {
		if f.current(t0+dt) >= limit {
			return time.Duration(dt * float64(time.Second)), true
		}
	}
	return 0, false
}

func newTestSeries(t testing.TB) *Series {
	t.Helper()
	return newTiersSeries(t, nil)
}

func newTiersSeries(t testing.TB, tiers []Tier) *Series {
	t.Helper()
	s, err := NewSeries("/test.slice", tiers)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// minuteTiers are 1-minute buckets for 6 hours and 15-minute ones for 14
// days: tests of the ring that count in minutes use them, whatever the
// defaults are.
// previousDefaultTiers are DefaultTiers before the 14-day tier went from
// 1 hour to 4, as files saved then hold them.
var previousDefaultTiers = []Tier{{Step: 5 * time.Minute, Len: 72}, {Step: time.Hour, Len: 336}}

var minuteTiers = []Tier{{Step: time.Minute, Len: 360}, {Step: 15 * time.Minute, Len: 14 * 24 * 4}}

// e2eTiers are the resolution of the e2e policy
// (packaging/e2e/scenarios/policy-e2e.toml, "5s/30m" and "1m/12h"), which
// compresses leaks into minutes.
var e2eTiers = []Tier{{Step: 5 * time.Second, Len: 360}, {Step: time.Minute, Len: 720}}
