package history

import (
	"math"
	"testing"
	"time"
)

func TestEstimateShapes(t *testing.T) {
	const perHour = 1.0 / 3600
	flat := func(t float64) (float64, float64, float64, float64, float64) {
		return 300 * mib, 100 * mib, 20 * mib, 5 * mib, 3 * mib
	}
	// Reclaim takes slab back to the same floor every 20 minutes: nothing
	// leaks, however steep each tooth is.
	reclaimedToFloor := func(t float64) (float64, float64, float64, float64, float64) {
		return 300 * mib, 100 * mib, 20*mib + 120*mib*perHour*math.Mod(t, 1200), 5 * mib, 3 * mib
	}
	// Flat for 10 days, then anon leaks 20 MiB/h for the last 6 hours: the
	// recent trend must win over the long flat one.
	lateLeak := func(t float64) (float64, float64, float64, float64, float64) {
		const start = 10 * 86400
		a := 300.0 * mib
		if t > start {
			a += 20 * mib * perHour * (t - start)
		}
		return a, 100 * mib, 20 * mib, 5 * mib, 3 * mib
	}
	// Anon falls to 2 MiB at 5 h (a restart) and leaks on from there.
	restart := func(t float64) (float64, float64, float64, float64, float64) {
		if t < 5*3600 {
			return 500*mib + 30*mib*perHour*t, 100 * mib, 20 * mib, 5 * mib, 3 * mib
		}
		return 2*mib + 5*mib*perHour*(t-5*3600), 100 * mib, 20 * mib, 5 * mib, 3 * mib
	}
	tests := []struct {
		name        string
		f           shape
		dur         time.Duration
		c           Component
		wantGrowing bool
		wantRate    float64 // bytes/s, checked within 15% when growing
		wantRestart bool
		minQuality  Quality
	}{
		{"flat anon", flat, 6 * time.Hour, Anon, false, 0, false, QualityNone},
		{"flat current", flat, 6 * time.Hour, Current, false, 0, false, QualityNone},
		{"slab reclaimed to a steady floor", reclaimedToFloor, 6 * time.Hour, SlabReclaimable, false, 0, false, QualityHigh},
		{"late leak wins over a flat fortnight", lateLeak, 10*24*time.Hour + 6*time.Hour, Anon, true, 20 * mib * perHour, false, QualityHigh},
		{"restart", restart, 11 * time.Hour, Anon, true, 5 * mib * perHour, true, QualityHigh},
		{"file steady across a restart", restart, 11 * time.Hour, File, false, 0, true, QualityNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSeries(t)
			feed(t, s, tc.f, 0, tc.dur, 30*time.Second, 512<<10, 7)
			var est Estimator
			e := est.Estimate(s, epoch.Add(tc.dur))
			g := e.C[tc.c]
			t.Logf("%+v", g)
			// 1 MiB/day: below that nothing is called growth.
			if got := g.Growing(mib / 86400.0); got != tc.wantGrowing {
				t.Errorf("growing = %v (%.1f B/s, quality %v), want %v", got, g.BytesPerSec, g.Quality, tc.wantGrowing)
			}
			if tc.wantGrowing && math.Abs(g.BytesPerSec-tc.wantRate) > 0.15*tc.wantRate {
				t.Errorf("rate %.1f B/s, want %.1f", g.BytesPerSec, tc.wantRate)
			}
			if g.Quality < tc.minQuality {
				t.Errorf("quality %v, want at least %v", g.Quality, tc.minQuality)
			}
			if g.Restart != tc.wantRestart {
				t.Errorf("restart = %v, want %v", g.Restart, tc.wantRestart)
			}
			if !g.To.Equal(s.Last()) || !g.From.Before(g.To) {
				t.Errorf("window %v .. %v", g.From, g.To)
			}
		})
	}
}

// A staircase (memory taken in steps, kept) has residuals with shape, so
// its floor is the rolling minimum; where that window is cut short by the
// start of the data (the end, when falling) it must not bend the slope.
func TestFloorTrendStaircase(t *testing.T) {
	for _, period := range []float64{1800, 2700, 3600} {
		for _, sign := range []float64{1, -1} {
			var xs, ys []float64
			for i := range 73 { // 6 hours of 5-minute buckets, ending now
				x := float64(i-72) * 300
				xs = append(xs, x)
				ys = append(ys, 500*mib+sign*10*mib*math.Floor((x+6*3600)/period)+float64(i%3)*kib)
			}
			var e Estimator
			g := e.floorTrend(xs, ys)
			want := sign * 10 * mib / period
			if math.Abs(g.BytesPerSec-want) > 0.01*math.Abs(want) {
				t.Errorf("steps every %vs, sign %v: %.1f B/s, want %.1f", period, sign, g.BytesPerSec, want)
			}
		}
	}
}

func TestEstimateTooFewPoints(t *testing.T) {
	s := newTestSeries(t)
	for m := range 4 {
		s.Add(t0.Add(time.Duration(m)*time.Minute), vals(uint64(m+1)*mib, mib))
	}
	var est Estimator
	e := est.Estimate(s, t0.Add(5*time.Minute))
	if e.C[Current].Known || e.TimeTo(100*mib).Reachable {
		t.Errorf("an estimate from 4 buckets: %+v", e.C[Current])
	}
	if e.C[File].Known {
		t.Error("file was never given but has an estimate")
	}
}

// The VM check compresses time: a leak fast enough to matter
// shows within 15 minutes at the e2e policy's resolution.
func TestFastLeakWithinFifteenMinutes(t *testing.T) {
	s := newTiersSeries(t, e2eTiers)
	leak := func(t float64) (float64, float64, float64, float64, float64) {
		return 50 * mib, 10 * mib, 5*mib + 200*1024*t, 2 * mib, mib
	}
	feed(t, s, leak, 0, 15*time.Minute, 5*time.Second, 256<<10, 3)
	var est Estimator
	e := est.Estimate(s, epoch.Add(15*time.Minute))
	if g := e.C[SlabReclaimable]; !g.Growing(mib/86400.0) || g.Quality < QualityMedium {
		t.Errorf("slab after 15 min: %+v", g)
	}
	if e.C[Anon].Growing(mib / 86400.0) {
		t.Errorf("anon called growing: %+v", e.C[Anon])
	}
}

func TestEstimateDoesNotAllocateWhenWarm(t *testing.T) {
	s := newTestSeries(t)
	f := func(t float64) (float64, float64, float64, float64, float64) {
		return 100*mib + 100*t, 10 * mib, 5 * mib, 2 * mib, mib
	}
	feed(t, s, f, 0, 14*24*time.Hour, time.Minute, 64<<10, 1)
	var est Estimator
	now := epoch.Add(14 * 24 * time.Hour)
	est.Estimate(s, now)
	if a := testing.AllocsPerRun(20, func() { est.Estimate(s, now) }); a != 0 {
		t.Errorf("a warm Estimate allocates %.1f times", a)
	}
}

func TestQuantile(t *testing.T) {
	for _, tc := range []struct {
		v    []float64
		q    float64
		want float64
	}{
		{[]float64{5, 1, 4, 2, 3}, 0.5, 3},
		{[]float64{5, 1, 4, 2, 3}, 0.25, 2},
		{[]float64{4, 1, 3, 2}, 0.5, 2.5},
		{[]float64{7, 7, 7, 7, 7, 7}, 0.75, 7},
		{[]float64{0, 0, 0, 1, 0, 0, 0}, 0.5, 0},
		{[]float64{9}, 0.9, 9},
		{[]float64{3, 1, 2}, 1, 3},
		{nil, 0.5, 0},
	} {
		v := append([]float64(nil), tc.v...)
		if got := quantile(v, tc.q); got != tc.want {
			t.Errorf("quantile(%v, %v) = %v, want %v", tc.v, tc.q, got, tc.want)
		}
	}
}

// A slow leak a day and a half old has 36 hourly buckets but only 9 of 4
// hours: its long-term trend comes from the hourly tier, at the quality
// 36 buckets give, not from the 4-hour one (too few buckets to trust) nor
// from the 6 hours of the finest tier alone.
func TestYoungSeriesTakesItsTrendFromTheHourlyTier(t *testing.T) {
	s := newTestSeries(t)
	const perDay = 8 * mib
	f := func(t float64) (float64, float64, float64, float64, float64) {
		return 200*mib + perDay*t/86400, 50*mib + perDay*t/86400, 10 * mib, 4 * mib, 2 * mib
	}
	feed(t, s, f, 0, 36*time.Hour, time.Minute, 512<<10, 1)
	var e Estimator
	g := e.Estimate(s, s.Last()).C[Anon]
	if g.Quality < QualityMedium || g.Step != time.Hour || g.To.Sub(g.From) < 30*time.Hour || math.Abs(g.BytesPerSec*86400-perDay) > perDay/10 {
		t.Errorf("anon after 36 hours: %+v, want %d MiB/day over 30 hours or more of hourly buckets", g, perDay/mib)
	}
}

// A big cgroup leaking slowly: at 3 GiB a figure is kept to 1 MiB (12
// significant bits), so over the 6 hours of the finest tier the floor of
// a 2 MiB/day leak often moves by no rounding step and the recent trend
// reads flat. That is the resolution of the recent window, not a change of
// trend: it must not veto the 14-day growth, which would otherwise come
// and go every few hours.
func TestRoundingDoesNotVetoASlowLeakOfABigCgroup(t *testing.T) {
	s := newTestSeries(t)
	const perDay = 2 * mib
	f := func(t float64) (float64, float64, float64, float64, float64) {
		return 3*1024*mib + perDay*t/86400, 200 * mib, 10 * mib, 4 * mib, 2 * mib
	}
	var e Estimator
	start := 14 * 24 * time.Hour
	feed(t, s, f, 0, start, time.Minute, 16<<10, 1)
	missed := 0
	for h := time.Duration(0); h < 24*time.Hour; h += time.Hour {
		feed(t, s, f, start+h, start+h+time.Hour, time.Minute, 16<<10, 2+uint64(h/time.Hour))
		g := e.Estimate(s, s.Last()).C[Anon]
		if g.Quality < QualityMedium || math.Abs(g.BytesPerSec*86400-perDay) > perDay/4 {
			missed++
			t.Logf("hour %d: anon %.2f MiB/day, quality %v, window %v", h/time.Hour, g.BytesPerSec*86400/mib, g.Quality, g.To.Sub(g.From))
		}
	}
	if missed > 0 {
		t.Errorf("the 2 MiB/day leak of a 3 GiB cgroup was missed in %d of 24 hourly estimates", missed)
	}
}

// A leak fixed half a day ago: the 14-day tier still says it grows, the
// recent 6 hours are flat at high quality, and they win. (The veto that
// TestRoundingDoesNotVetoASlowLeakOfABigCgroup keeps from firing on
// rounding must still fire on a real change.)
func TestAFixedLeakStopsGrowing(t *testing.T) {
	s := newTestSeries(t)
	const perDay = 50 * mib
	fixed := 10 * 86400.0
	f := func(t float64) (float64, float64, float64, float64, float64) {
		return 500*mib + perDay*min(t, fixed)/86400, 100 * mib, 10 * mib, 4 * mib, 2 * mib
	}
	feed(t, s, f, 0, 10*24*time.Hour+12*time.Hour, time.Minute, 64<<10, 1)
	var e Estimator
	g := e.Estimate(s, s.Last()).C[Anon]
	if g.Growing(DefaultMinGrowth) || g.To.Sub(g.From) > 7*time.Hour {
		t.Errorf("anon half a day after the leak was fixed: %.1f MiB/day over %v, want the flat recent 6 hours", g.BytesPerSec*86400/mib, g.To.Sub(g.From))
	}
}
