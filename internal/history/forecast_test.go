package history

import (
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/cgroupfs"
)

// The measure: time-to-limit within 10% of the truth once 6 hours
// of a steady trend are known, on linear, stepped, sawtooth-with-reclaim
// and restart-in-the-middle series with noise.
func TestForecastAccuracy(t *testing.T) {
	const perHour = 1.0 / 3600
	linear := func(t float64) (float64, float64, float64, float64, float64) {
		return 200*mib + 10*mib*perHour*t, 50 * mib, 20 * mib, 5 * mib, 3 * mib
	}
	stepped := func(t float64) (float64, float64, float64, float64, float64) {
		return 200*mib + 10*mib*math.Floor(t/3600), 50 * mib, 20 * mib, 5 * mib, 3 * mib
	}
	// Slab grows 60 MiB/h and reclaim takes it back to a floor every
	// period; the floor itself creeps up 8 MiB/h: the real leak.
	sawtooth := func(period float64) shape {
		return func(t float64) (float64, float64, float64, float64, float64) {
			floor := 30*mib + 8*mib*perHour*t
			tooth := 60 * mib * perHour * math.Mod(t, period)
			return 150 * mib, 40 * mib, floor + tooth, 5 * mib, 3 * mib
		}
	}
	// The workload grows 15 MiB/h, restarts at 8 h (anon to ~4 MiB) and
	// then grows 10 MiB/h; page cache survives the restart.
	restart := func(t float64) (float64, float64, float64, float64, float64) {
		const at = 8 * 3600
		if t < at {
			return 100*mib + 15*mib*perHour*t, 60 * mib, 10 * mib, 5 * mib, 3 * mib
		}
		return 4*mib + 10*mib*perHour*(t-at), 60 * mib, 10 * mib, 5 * mib, 3 * mib
	}
	// A 3 MiB/day dentry leak over 12 days, the alloy case.
	slow := func(t float64) (float64, float64, float64, float64, float64) {
		return 40 * mib, 30 * mib, 20*mib + 3*mib*t/86400, 5 * mib, 3 * mib
	}
	// Five seeds keep the suite fast; MEMRELIEF_FORECAST_SEEDS=100 runs
	// more to see the tail (BENCHMARKS.md).
	seeds := uint64(5)
	if v := os.Getenv("MEMRELIEF_FORECAST_SEEDS"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			t.Fatalf("MEMRELIEF_FORECAST_SEEDS=%q: want a count of seeds", v)
		}
		seeds = n
	}
	h := time.Hour
	for _, tc := range []struct {
		name  string
		f     shape
		dur   time.Duration
		every time.Duration
		sigma float64
		limit float64
	}{
		{"linear", linear, 6 * h, 15 * time.Second, 3 * mib, 1024 * mib},
		{"linear near limit", linear, 6 * h, 15 * time.Second, 3 * mib, 400 * mib},
		{"stepped", stepped, 6 * h, 15 * time.Second, 2 * mib, 1024 * mib},
		{"sawtooth 10m", sawtooth(600), 6 * h, 15 * time.Second, 1 * mib, 1024 * mib},
		{"sawtooth 30m", sawtooth(1800), 6 * h, 15 * time.Second, 1 * mib, 1024 * mib},
		{"sawtooth 45m", sawtooth(2700), 6 * h, 15 * time.Second, 1 * mib, 1024 * mib},
		{"restart", restart, 14 * h, 15 * time.Second, 1 * mib, 512 * mib},
		{"slow 12 days", slow, 12 * 24 * h, time.Minute, 256 << 10, 160 * mib},
	} {
		worst := 0.0
		for seed := uint64(1); seed <= seeds; seed++ {
			s := newTestSeries(t)
			feed(t, s, tc.f, 0, tc.dur, tc.every, tc.sigma, seed)
			end := epoch.Add(tc.dur - tc.every)
			var est Estimator
			e := est.Estimate(s, end)
			f := e.TimeTo(uint64(tc.limit))
			want, ok := trueTimeTo(tc.f, (tc.dur - tc.every).Seconds(), tc.limit)
			if !ok {
				t.Fatalf("%s: the shape never reaches the limit", tc.name)
			}
			if !f.Reachable {
				t.Errorf("%s seed %d: not reachable (rate %.1f B/s, quality %v)", tc.name, seed, f.BytesPerSec, f.Quality)
				continue
			}
			errFrac := math.Abs(f.In.Seconds()-want.Seconds()) / want.Seconds()
			worst = max(worst, errFrac)
			if seeds <= 5 {
				t.Logf("%s seed %d: forecast %v, true %v, error %.2f%%, rate %.0f B/s, quality %v", tc.name, seed, f.In.Round(time.Minute), want.Round(time.Minute), 100*errFrac, f.BytesPerSec, f.Quality)
			}
			if errFrac > 0.10 {
				t.Errorf("%s seed %d: forecast %v, true %v: error %.1f%% > 10%%", tc.name, seed, f.In, want, 100*errFrac)
			}
			if f.Quality < QualityMedium {
				t.Errorf("%s seed %d: quality %v, want at least medium", tc.name, seed, f.Quality)
			}
		}
		t.Logf("%s: worst error %.2f%% over %d seeds", tc.name, 100*worst, seeds)
	}
}

func TestForecastLimits(t *testing.T) {
	const rate = 1000.0 // bytes/s
	e := Estimate{At: t0.Add(time.Hour), Peak: 1e6}
	e.C[Current] = Growth{Known: true, BytesPerSec: rate, Quality: QualityHigh, To: t0}
	// The window ended an hour before At: the peak has moved on 3.6e6.
	tests := []struct {
		name      string
		limit     uint64
		reachable bool
		reached   bool
		in        time.Duration
	}{
		{"unlimited", cgroupfs.Unlimited, false, false, 0},
		{"zero means unset", 0, false, false, 0},
		{"ahead", 4.6e6 + 3600*rate, true, false, time.Hour},
		{"already over", 2e6, true, true, 0},
	}
	for _, tc := range tests {
		f := e.TimeTo(tc.limit)
		if f.Reachable != tc.reachable || f.Reached != tc.reached || f.In != tc.in {
			t.Errorf("%s: %+v", tc.name, f)
		}
		if f.Reachable && !f.At.Equal(e.At.Add(tc.in)) {
			t.Errorf("%s: At %v", tc.name, f.At)
		}
	}
	cf := e.ForecastCgroup(100e6, cgroupfs.Unlimited, false)
	if cf.High.Reachable || cf.Max.Reachable {
		t.Errorf("v1 cgroup without memory.high nor max: %+v", cf)
	}
	cf = e.ForecastCgroup(4.6e6+7200*rate, cgroupfs.Unlimited, true)
	if !cf.High.Reachable || cf.High.In != 2*time.Hour || cf.Max.Reachable {
		t.Errorf("memory.high only: %+v", cf)
	}
	// The node: MemTotal 10 MB, used 4.6 MB growing 1000 B/s: MemAvailable
	// reaches zero in 5400 s.
	if f := e.ForecastNode(10e6); !f.Reachable || f.In != 5400*time.Second {
		t.Errorf("node: %+v", f)
	}
	shrinking := e
	shrinking.C[Current].BytesPerSec = -rate
	if f := shrinking.TimeTo(100e6); f.Reachable {
		t.Errorf("a shrinking series reaches its limit: %+v", f)
	}
}
