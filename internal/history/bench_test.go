package history

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Run: go test ./internal/history/ -run '^$' -bench . -benchmem

func BenchmarkAdd(b *testing.B) {
	s := newTestSeries(b)
	v := vals(100*mib, 50*mib)
	v.Set(File, 10*mib)
	v.Set(SlabReclaimable, 5*mib)
	v.Set(SlabUnreclaimable, mib)
	v.Set(OtherKernel, mib)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(5 * time.Second)
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

// BenchmarkFootprint reports the memory a full default series holds and
// the size of its file.
func BenchmarkFootprint(b *testing.B) {
	full := filledFortnight(b)
	var before, after runtime.MemStats
	var keep []*Series
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		keep = keep[:0]
		for range 100 {
			s, _ := NewSeries("/kubepods.slice/x.slice", nil)
			keep = append(keep, s)
		}
		runtime.ReadMemStats(&after)
	}
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/100, "mem-bytes/series")
	dir := b.TempDir()
	st := Store{Dir: dir}
	if err := st.Save(full); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, FileName(full.Key())))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size()), "disk-bytes/series")
	runtime.KeepAlive(keep)
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
