package history

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
	"unsafe"

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
		{"open gap longer than the storage so far", []int{0, 1, 40}, 40, 38, 0},
		{"wraps after 360", seq(0, 400), 360, 0, 39},
		{"gap longer than ring forgets", []int{0, 1, 1000, 1001}, 1, 0, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTiersSeries(t, minuteTiers)
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
	s := newTiersSeries(t, minuteTiers)
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
	// Once every tier is full (14 days and an hour of 10-second samples
	// for the default tiers) no Add may allocate, not even rarely: one run
	// of a day of samples counts every allocation exactly.
	s := newTestSeries(t)
	now := t0
	v := vals(100*kib, 50*kib)
	for now.Before(t0.Add(14*24*time.Hour + time.Hour)) {
		now = now.Add(10 * time.Second)
		s.Add(now, v)
	}
	for i := range s.tiers {
		if tr := &s.tiers[i]; tr.count != tr.length || tr.size() != tr.length {
			t.Fatalf("tier %d holds %d of %d buckets in %d after 14 days", i, tr.count, tr.length, tr.size())
		}
	}
	allocs := testing.AllocsPerRun(1, func() {
		for range 8640 {
			now = now.Add(10 * time.Second)
			s.Add(now, v)
		}
	})
	if allocs != 0 {
		t.Errorf("a day of Add on full tiers allocates %.0f times", allocs)
	}
}

// checkRing fails t unless every tier's storage is within its bound and
// holds what it counts.
func checkRing(t *testing.T, s *Series, when string) {
	t.Helper()
	for i := range s.tiers {
		tr := &s.tiers[i]
		if c := room(tr); c > tr.length || tr.size() != c || tr.count > tr.size() || (tr.pts != nil && tr.cpts != nil) || tr.compact != (i > 0) {
			t.Fatalf("%s: tier %d (compact %v) has len %d cap %d for %d buckets of %d", when, i, tr.compact, tr.size(), c, tr.count, tr.length)
		}
	}
}

func TestRingsGrowLazily(t *testing.T) {
	s := newTestSeries(t)
	if got := s.Tiers(); !slices.Equal(got, DefaultTiers()) {
		t.Errorf("Tiers() = %v before any sample, want the defaults %v", got, DefaultTiers())
	}
	empty := s.MemoryBytes()
	for i := range s.tiers {
		if room(&s.tiers[i]) != 0 {
			t.Errorf("tier %d allocated %d buckets before any sample", i, room(&s.tiers[i]))
		}
	}
	now := t0
	v := vals(100*mib, 50*mib)
	var grown [3]int // times each tier's storage moved
	add := func(until time.Duration) {
		for now.Before(t0.Add(until)) {
			before := [3]int{room(&s.tiers[0]), room(&s.tiers[1]), room(&s.tiers[2])}
			now = now.Add(10 * time.Second)
			s.Add(now, v)
			checkRing(t, s, now.Sub(t0).String())
			for i := range grown {
				if room(&s.tiers[i]) != before[i] {
					grown[i]++
				}
			}
		}
	}
	// An hour: 12 five-minute buckets and no closed hourly one yet, so
	// the series holds a small fraction of the ~6 KiB of a full one.
	add(time.Hour)
	pointSize, cpointSize := int(unsafe.Sizeof(fpoint{})), int(unsafe.Sizeof(cpoint{}))
	if c := room(&s.tiers[0]); c < s.tiers[0].count || c > s.tiers[0].count+minGrowPoints {
		t.Errorf("after an hour the fine tier has room for %d buckets and holds %d", c, s.tiers[0].count)
	}
	if got, want := s.MemoryBytes()-empty, room(&s.tiers[0])*pointSize+(room(&s.tiers[1])+room(&s.tiers[2]))*cpointSize; got != want {
		t.Errorf("MemoryBytes grew by %d, want the storage %d", got, want)
	}
	if s.MemoryBytes() > 3<<10 {
		t.Errorf("an hour-old series holds %d bytes", s.MemoryBytes())
	}
	add(3 * 24 * time.Hour)
	if c, n := room(&s.tiers[1]), s.tiers[1].count; c < n || c > n+max(minGrowPoints, n/4) {
		t.Errorf("after 3 days the hourly tier has room for %d buckets and holds %d", c, n)
	}
	add(15 * 24 * time.Hour)
	// Modest steps, but not one per bucket: 72 buckets in 16, 32, 48,
	// 64, 72; 48 in 16, 32, 48; 84 in 16, 32, 48, 64, 80, 84.
	if grown[0] > 5 || grown[1] > 3 || grown[2] > 6 {
		t.Errorf("storage moved %v times to fill the tiers", grown)
	}
	full := 72*pointSize + (48+84)*cpointSize
	if got := s.MemoryBytes(); got < full || got > full+1024 {
		t.Errorf("a full series holds %d bytes, want %d and a little", got, full)
	}
}

// A ring that grew lazily must still hold the newest Len buckets in order
// through gaps, wrap-around and forgetting: compared with a plain list of
// every bucket after each sample. The long ring forgets and skips while
// its storage is still small, so it wraps within storage that must then
// grow in order.
func TestLazyRingMatchesList(t *testing.T) {
	for _, tc := range []struct {
		length               int
		forgetPct, midGapPct int
	}{
		{37, 2, 10},  // not a multiple of the growth step
		{300, 3, 3},  // grows in many steps
		{2000, 5, 1}, // rarely grows past its first steps
	} {
		t.Run(fmt.Sprint(tc.length), func(t *testing.T) {
			checkLazyRing(t, tc.length, tc.forgetPct, tc.midGapPct)
		})
	}
}

func checkLazyRing(t *testing.T, length, forgetPct, midGapPct int) {
	tiers := []Tier{{Step: time.Minute, Len: length}, {Step: 7 * time.Minute, Len: 5}}
	s := newTiersSeries(t, tiers)
	type bucket struct {
		slot int64
		kib  uint64 // 0: gap
	}
	var list []bucket // every closed bucket since the ring last forgot
	r := rand.New(rand.NewPCG(11, uint64(length)))
	minute := t0.Unix() / 60
	openSlot, openKiB := int64(-1), uint64(0)
	for i := range 5000 {
		// Mostly the next minute, sometimes a gap shorter than the ring,
		// sometimes one longer.
		step := int64(1)
		switch x := r.IntN(100); {
		case x < forgetPct:
			step += int64(length + r.IntN(10))
		case x < forgetPct+midGapPct:
			step += int64(r.IntN(length))
		case x < 30:
			step += int64(r.IntN(3))
		}
		minute += step
		k := uint64(i + 1)
		if !s.Add(time.Unix(minute*60, 0), vals(k*kib, kib)) {
			t.Fatalf("sample %d dropped", i)
		}
		// The sample closed the open bucket: after its gap from the
		// newest closed one, or alone when that gap outlasts the ring.
		if n := len(list); n > 0 {
			last := list[n-1].slot
			if openSlot-last-1 >= int64(length) {
				list = list[:0]
			}
			for g := last + 1; len(list) > 0 && g < openSlot; g++ {
				list = append(list, bucket{slot: g})
			}
		}
		if openSlot >= 0 {
			list = append(list, bucket{openSlot, openKiB})
		}
		openSlot, openKiB = minute, k
		checkRing(t, s, fmt.Sprintf("sample %d", i))
		want := list[max(0, len(list)-length):]
		tr := &s.tiers[0]
		if tr.count != len(want) {
			t.Fatalf("sample %d: ring holds %d buckets, want %d", i, tr.count, len(want))
		}
		for j, w := range want {
			p, slot := tr.at(j)
			// Every tier keeps its figures to 12 significant bits (f16).
			if slot != w.slot || uint64(p.mean[Current]) != uint64(toF16(uint32(w.kib)).kib()) {
				t.Fatalf("sample %d: bucket %d is slot %d with %d KiB, want slot %d with %d KiB", i, j, slot, p.mean[Current], w.slot, w.kib)
			}
		}
	}
}

func TestRestoreAllocatesWhatItHolds(t *testing.T) {
	s := newTestSeries(t)
	f := func(t float64) (float64, float64, float64, float64, float64) {
		return 100*mib + 100*t, 10 * mib, 5 * mib, 2 * mib, mib
	}
	saved := 100 * time.Minute
	feed(t, s, f, 0, saved, 10*time.Second, 64<<10, 1)
	d, err := decode(encode(nil, s))
	if err != nil {
		t.Fatal(err)
	}
	got := newTestSeries(t)
	got.restore(d)
	checkRing(t, got, "restored")
	for i := range got.tiers {
		if tr := &got.tiers[i]; room(tr) != tr.count || tr.count != s.tiers[i].count {
			t.Errorf("tier %d restored %d buckets into room for %d, want %d", i, tr.count, room(tr), s.tiers[i].count)
		}
	}
	// Both go on alike: the restored ring grows from what it held.
	feed(t, s, f, saved, 48*time.Hour, 10*time.Second, 64<<10, 2)
	feed(t, got, f, saved, 48*time.Hour, 10*time.Second, 64<<10, 2)
	checkRing(t, got, "restored and fed")
	// The bucket open at the save was kept to the KiB and may differ by
	// one; every other must be equal.
	lastSaved := epoch.Add(saved - 10*time.Second)
	for i, tr := range s.Tiers() {
		open := lastSaved.Truncate(tr.Step)
		var a, b []Point
		for _, p := range s.Points(i, time.Time{}, time.Unix(1<<40, 0), nil) {
			if !p.Start.Equal(open) {
				a = append(a, p)
			}
		}
		for _, p := range got.Points(i, time.Time{}, time.Unix(1<<40, 0), nil) {
			if !p.Start.Equal(open) {
				b = append(b, p)
			}
		}
		if len(a) < 10 || !reflect.DeepEqual(a, b) {
			t.Errorf("tier %d: a restored series and the original differ after the same samples (%d and %d points)", i, len(b), len(a))
		}
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

// room is the capacity of a tier's storage, in buckets of its kind.
func room(t *tier) int {
	if t.compact {
		return cap(t.cpts)
	}
	return cap(t.pts)
}

// TestF16 holds the compact figures of the coarse tiers to their promise:
// exact below 2048 KiB, within 1/4096 above, in order, and stable when
// stored again.
func TestF16(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	prev := uint32(0)
	for i := 0; i < 200000; i++ {
		var k uint32
		switch {
		case i < 5000:
			k = uint32(i)
		case i < 6000:
			k = math.MaxUint32 - uint32(i-5000)
		default:
			k = uint32(r.Uint64N(1 << uint(1+r.IntN(32))))
		}
		f := toF16(k)
		got := f.kib()
		if k < 2048 && got != k {
			t.Fatalf("toF16(%d) reads back %d; want it exact", k, got)
		}
		if math.Abs(float64(got)-float64(k)) > float64(k)/4096 {
			t.Fatalf("toF16(%d) reads back %d, more than 1/4096 off", k, got)
		}
		if toF16(got) != f {
			t.Fatalf("toF16(%d) = %#x, stored again %#x", k, f, toF16(got))
		}
		if i < 5000 && got < prev {
			t.Fatalf("toF16 out of order at %d", k)
		}
		prev = got
	}
	for k := uint32(4000); k < 1<<20; k += 7 {
		if toF16(k).kib() > toF16(k+7).kib() {
			t.Fatalf("toF16 out of order between %d and %d", k, k+7)
		}
	}
}
