package history

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// Run: go test ./internal/history/ -run '^$' -bench . -benchmem

// sampleValues is one sample of a pod slowly leaking anon, with page
// cache and a slab sawtooth, and noise: what 1-second samples of a busy
// container look like to the buckets (means and minima that differ from
// bucket to bucket, so the file is not flattered by constant figures).
func sampleValues(r *rand.Rand, sec float64) Values {
	var v Values
	anon := 300*mib + 20*sec + r.NormFloat64()*2*mib
	file := 80*mib + r.NormFloat64()*2*mib
	slab := 20*mib + float64(int64(sec)%3600)*1000
	v.Set(Anon, uint64(anon))
	v.Set(File, uint64(file))
	v.Set(SlabReclaimable, uint64(slab))
	v.Set(SlabUnreclaimable, 6*mib)
	v.Set(OtherKernel, 3*mib)
	v.Set(Current, uint64(anon+file+slab+9*mib))
	return v
}

// feedAll adds the same 1-second samples for age to every series.
func feedAll(series []*Series, age time.Duration) {
	r := rand.New(rand.NewPCG(1, 2))
	for d := time.Duration(0); d < age; d += time.Second {
		v := sampleValues(r, d.Seconds())
		now := epoch.Add(d)
		for _, s := range series {
			s.Add(now, v)
		}
	}
}

// fullSeries is a default series after 14 days and an hour of 1-second
// samples: both rings full.
func fullSeries(b *testing.B) *Series {
	s := newTestSeries(b)
	feedAll([]*Series{s}, 14*24*time.Hour+time.Hour)
	return s
}

// A realistic key: the daemon keeps the cgroup path, ~150 bytes for a
// container of a pod.
func containerKey(i int) string {
	return fmt.Sprintf("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%08x_0000_4000_8000_000000000000.slice/cri-containerd-%064x.scope", i, i)
}

func BenchmarkAdd(b *testing.B) {
	s := fullSeries(b)
	v := sampleValues(rand.New(rand.NewPCG(3, 4)), 0)
	now := s.Last()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		s.Add(now, v)
	}
}

func benchEstimate(b *testing.B, span time.Duration) {
	s := newTestSeries(b)
	f := func(t float64) (float64, float64, float64, float64, float64) {
		return 100*mib + 100*t, 10 * mib, 5*mib + 10*t, 2 * mib, mib
	}
	feed(b, s, f, 0, span, time.Minute, 256<<10, 1)
	var est Estimator
	now := epoch.Add(span)
	est.Estimate(s, now)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		est.Estimate(s, now)
	}
}

func BenchmarkEstimate6h(b *testing.B)  { benchEstimate(b, 6*time.Hour) }
func BenchmarkEstimate14d(b *testing.B) { benchEstimate(b, 14*24*time.Hour) }

// BenchmarkEstimateFull estimates a full default series of 1-second
// samples (fullSeries), the daemon's steady state.
func BenchmarkEstimateFull(b *testing.B) {
	s := fullSeries(b)
	var est Estimator
	now := s.Last()
	est.Estimate(s, now)
	b.ReportAllocs()
	for b.Loop() {
		est.Estimate(s, now)
	}
}

// BenchmarkFootprint measures what a default series holds after an hour,
// a day and 14 days of 1-second samples, over many series fed alike: the
// live heap after a collection (heap-B/series), what MemoryBytes says
// (model-B/series) and the size of its file (file-B/series). The time per
// op is that of feeding every series and means nothing.
func BenchmarkFootprint(b *testing.B) {
	for _, tc := range []struct {
		name string
		age  time.Duration
		n    int
	}{
		{"1h", time.Hour, 1000},
		{"1d", 24 * time.Hour, 200},
		{"14d", 14 * 24 * time.Hour, 100},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var heap, model, file float64
			for b.Loop() {
				series := make([]*Series, tc.n)
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				for i := range series {
					s, err := NewSeries(containerKey(i), nil)
					if err != nil {
						b.Fatal(err)
					}
					series[i] = s
				}
				feedAll(series, tc.age)
				runtime.GC()
				runtime.ReadMemStats(&after)
				heap = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(tc.n)
				model = 0
				for _, s := range series {
					model += float64(s.MemoryBytes())
				}
				model /= float64(tc.n)
				file = float64(len(encode(nil, series[0])))
				runtime.KeepAlive(series)
			}
			b.ReportMetric(heap, "heap-B/series")
			b.ReportMetric(model, "model-B/series")
			b.ReportMetric(file, "file-B/series")
		})
	}
}

// filledFortnight is 14 days of a noisy, slowly growing series with
// sawtooth slab: both rings full.
func filledFortnight(b *testing.B) *Series {
	s := newTestSeries(b)
	f := func(t float64) (float64, float64, float64, float64, float64) {
		return 300*mib + 20*t, 80 * mib, 20*mib + float64(int64(t)%3600)*1000, 6 * mib, 3 * mib
	}
	feed(b, s, f, 0, 14*24*time.Hour+time.Hour, 30*time.Second, 2*mib, 1)
	return s
}

func BenchmarkSave(b *testing.B) {
	s := filledFortnight(b)
	st := Store{Dir: b.TempDir()}
	b.ReportAllocs()
	for b.Loop() {
		if err := st.Save(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	s := filledFortnight(b)
	st := Store{Dir: b.TempDir()}
	if err := st.Save(s); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.Load(s.Key(), nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFortnight1000 fills 1,000 default series (the daemon watching
// 1,000 cgroups) with 14 days and an hour of samples, every ring full, and
// reports the live heap they hold after a collection (runtime.ReadMemStats
// after runtime.GC), in MiB and per series. Samples are a minute apart:
// the buckets, and so the memory, are those of 1-second samples, at a
// sixtieth of the feeding time. Time per op means nothing.
func BenchmarkFortnight1000(b *testing.B) {
	const n = 1000
	var heap float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		series := make([]*Series, n)
		for i := range series {
			s, err := NewSeries(containerKey(i), nil)
			if err != nil {
				b.Fatal(err)
			}
			series[i] = s
		}
		r := rand.New(rand.NewPCG(1, 2))
		for d := time.Duration(0); d < 14*24*time.Hour+time.Hour; d += time.Minute {
			v := sampleValues(r, d.Seconds())
			now := epoch.Add(d)
			for _, s := range series {
				s.Add(now, v)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = float64(int64(after.HeapAlloc) - int64(before.HeapAlloc))
		runtime.KeepAlive(series)
	}
	b.ReportMetric(heap/(1<<20), "heap-MiB")
	b.ReportMetric(heap/n, "heap-B/series")
}
