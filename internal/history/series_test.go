package history

import (
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/procinfo"
)

func vals(cur, anon uint64) Values {
	var v Values
	v.Set(Current, cur)
	v.Set(Anon, anon)
	return v
}

// t0 sits on a minute and a quarter-hour boundary, so bucket starts are
// easy to read in the tables.
var t0 = time.Date(2025, 3, 4, 5, 0, 0, 0, time.UTC)

func TestBucketMeanMinPeak(t *testing.T) {
	s := newTestSeries(t)
	for i, c := range []uint64{10 * kib, 30 * kib, 20 * kib} {
		s.Add(t0.Add(time.Duration(i)*15*time.Second), vals(c, c/2))
	}
	pts := s.Points(0, t0, t0.Add(time.Hour), nil)
	if len(pts) != 1 {
		t.Fatalf("got %d points, want 1 (open)", len(pts))
	}
	p := pts[0]
	mean, _ := p.Mean.Get(Current)
	mn, _ := p.Min.Get(Current)
	anon, _ := p.Mean.Get(Anon)
	if !p.Open || p.Samples != 3 || mean != 20*kib || mn != 10*kib || p.Peak != 30*kib || anon != 10*kib || !p.Start.Equal(t0) {
		t.Errorf("point = %+v", p)
	}
	if _, ok := p.Mean.Get(File); ok {
		t.Error("file was never given but reads as known")
	}
}

func TestGapsWrapAndClock(t *testing.T) {
	tests := []struct {
		name       string
		minutes    []int // sample times, minutes after t0
		wantClosed int   // closed points in tier 0
		wantGaps   int
		wantFirst  int // minute of the oldest point
	}{
		{"consecutive", []int{0, 1, 2, 3}, 3, 0, 0},
		{"gap of three", []int{0, 4}, 4, 3, 0},
		{"wraps after 360", seq(0, 400), 360, 0, 39},
		{"gap longer than ring forgets", []int{0, 1, 1000, 1001}, 1, 0, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSeries(t)
			for _, m := range tc.minutes {
				if !s.Add(t0.Add(time.Duration(m)*time.Minute), vals(kib, kib)) {
					t.Fatalf("sample at minute %d dropped", m)
				}
			}
			pts := s.Points(0, time.Time{}, t0.Add(48*time.Hour), nil)
			closed, gaps := 0, 0
			for _, p := range pts {
				if p.Open {
					continue
				}
				closed++
				if p.Samples == 0 {
					gaps++
				}
			}
			if closed != tc.wantClosed || gaps != tc.wantGaps {
				t.Errorf("closed %d gaps %d, want %d and %d", closed, gaps, tc.wantClosed, tc.wantGaps)
			}
			if want := t0.Add(time.Duration(tc.wantFirst) * time.Minute); !pts[0].Start.Equal(want) {
				t.Errorf("oldest point starts %v, want %v", pts[0].Start, want)
			}
			for i := 1; i < len(pts); i++ {
				if !pts[i].Start.Equal(pts[i-1].Start.Add(time.Minute)) {
					t.Fatalf("point %d starts %v after %v", i, pts[i].Start, pts[i-1].Start)
				}
			}
		})
	}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestClockBackIsDropped(t *testing.T) {
	s := newTestSeries(t)
	s.Add(t0.Add(time.Minute), vals(kib, kib))
	if s.Add(t0, vals(kib, kib)) {
		t.Error("a sample older than the newest was taken")
	}
	if !s.Last().Equal(t0.Add(time.Minute)) {
		t.Errorf("Last = %v", s.Last())
	}
}

func TestCoarseTierFolds(t *testing.T) {
	s := newTestSeries(t)
	for m := range 31 {
		s.Add(t0.Add(time.Duration(m)*time.Minute), vals(uint64(m)*kib, 0))
	}
	pts := s.Points(1, time.Time{}, t0.Add(time.Hour), nil)
	if len(pts) != 3 || pts[0].Samples != 15 || pts[1].Samples != 15 || !pts[2].Open || pts[2].Samples != 1 {
		t.Fatalf("coarse points = %+v", pts)
	}
	if m, _ := pts[1].Mean.Get(Current); m != 22*kib {
		t.Errorf("mean of minutes 15..29 = %d KiB, want 22", m/kib)
	}
	if m, _ := pts[1].Min.Get(Current); m != 15*kib {
		t.Errorf("min = %d KiB, want 15", m/kib)
	}
}

func TestNewSeriesRejects(t *testing.T) {
	for _, tiers := range [][]Tier{
		{},
		{{Step: 1500 * time.Millisecond, Len: 10}},
		{{Step: time.Minute, Len: 1}},
		{{Step: time.Minute, Len: maxTierLen + 1}},
		{{Step: time.Hour, Len: 10}, {Step: time.Minute, Len: 10}},
	} {
		if _, err := NewSeries("/x", tiers); err == nil {
			t.Errorf("tiers %v accepted", tiers)
		}
	}
	if _, err := NewSeries("", nil); err == nil {
		t.Error("empty key accepted")
	}
}

func TestAddDoesNotAllocate(t *testing.T) {
	s := newTestSeries(t)
	now := t0
	v := vals(100*kib, 50*kib)
	allocs := testing.AllocsPerRun(10000, func() {
		now = now.Add(10 * time.Second)
		s.Add(now, v)
	})
	if allocs != 0 {
		t.Errorf("Add allocates %.1f times per call", allocs)
	}
}

func TestFromMemory(t *testing.T) {
	var v2 cgroupfs.Memory
	v2.Current = 1000
	v2.Stat.Set(cgroupfs.Anon, 400)
	v2.Stat.Set(cgroupfs.File, 300)
	v2.Stat.Set(cgroupfs.SlabReclaimable, 100)
	v2.Stat.Set(cgroupfs.SlabUnreclaimable, 50)
	v2.Stat.Set(cgroupfs.Kernel, 200)
	var old cgroupfs.Memory // v2 before 5.18: no "kernel" key
	old.Current = 1000
	old.Stat.Set(cgroupfs.KernelStack, 16)
	old.Stat.Set(cgroupfs.PageTables, 8)
	var v1 cgroupfs.Memory // kmem usage, no slab split
	v1.Current = 1000
	v1.Stat.Set(cgroupfs.Anon, 400)
	v1.Stat.Set(cgroupfs.Kernel, 120)
	for _, tc := range []struct {
		name  string
		m     *cgroupfs.Memory
		c     Component
		want  uint64
		known bool
	}{
		{"v2 other kernel is kernel minus slab", &v2, OtherKernel, 50, true},
		{"v2 slab", &v2, SlabReclaimable, 100, true},
		{"old v2 sums kernel parts", &old, OtherKernel, 24, true},
		{"old v2 anon unknown", &old, Anon, 0, false},
		{"v1 kernel is kmem", &v1, OtherKernel, 120, true},
		{"v1 slab unknown", &v1, SlabReclaimable, 0, false},
	} {
		v := FromMemory(tc.m)
		got, ok := v.Get(tc.c)
		if got != tc.want || ok != tc.known {
			t.Errorf("%s: %v = %d, %v; want %d, %v", tc.name, tc.c, got, ok, tc.want, tc.known)
		}
	}
}

func TestFromMeminfo(t *testing.T) {
	v := FromMeminfo(&procinfo.Meminfo{MemTotal: 1000, MemAvailable: 300, SReclaimable: 40, Cached: 100, Buffers: 10})
	if c, _ := v.Get(Current); c != 700 {
		t.Errorf("current = %d, want MemTotal-MemAvailable 700", c)
	}
	if f, _ := v.Get(File); f != 110 {
		t.Errorf("file = %d, want 110", f)
	}
}
