package history

import (
	"math"
	"strings"
	"testing"
	"time"
)

func growth(bps float64, q Quality) Growth {
	return Growth{Known: true, BytesPerSec: bps, Quality: q, From: t0, To: t0.Add(6 * time.Hour)}
}

func TestClassify(t *testing.T) {
	const mibPerHour = float64(mib) / 3600
	tests := []struct {
		name     string
		set      map[Component]Growth
		want     []Component
		dominant []bool
		shares   []float64
		text     []string
	}{
		{"nothing grows", map[Component]Growth{Anon: growth(0, QualityHigh), File: growth(-5, QualityHigh)}, nil, nil, nil, nil},
		{"anon leak", map[Component]Growth{Anon: growth(8*mibPerHour, QualityHigh), File: growth(2*mibPerHour, QualityHigh)},
			[]Component{Anon, File}, []bool{true, false}, []float64{0.8, 0.2},
			[]string{"anon grows 8.0 MiB/h (80% of growth) since 2025-03-04 05:00: anonymous memory", "page cache: usually harmless"}},
		{"dentry leak per day", map[Component]Growth{SlabReclaimable: growth(3*float64(mib)/86400, QualityHigh)},
			[]Component{SlabReclaimable}, []bool{true}, []float64{1},
			[]string{"slab_reclaimable grows 3.0 MiB/day (100% of growth)", "memrelief can reclaim it"}},
		{"two dominant", map[Component]Growth{Anon: growth(6*mibPerHour, QualityHigh), SlabUnreclaimable: growth(4*mibPerHour, QualityMedium)},
			[]Component{Anon, SlabUnreclaimable}, []bool{true, true}, []float64{0.6, 0.4},
			[]string{"memrelief cannot free them"}},
		{"low quality is not named", map[Component]Growth{Anon: growth(8*mibPerHour, QualityLow)}, nil, nil, nil, nil},
		{"below the floor is not named", map[Component]Growth{File: growth(DefaultMinGrowth/2, QualityHigh)}, nil, nil, nil, nil},
		{"v1 kernel without slab split", map[Component]Growth{OtherKernel: growth(mibPerHour, QualityHigh)},
			[]Component{OtherKernel}, []bool{true}, []float64{1}, []string{"slab included"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e Estimate
			for c, g := range tc.set {
				e.C[c] = g
			}
			got := Classify(e, 0)
			if len(got.Causes) != len(tc.want) {
				t.Fatalf("causes %+v, want %v", got.Causes, tc.want)
			}
			for i, c := range got.Causes {
				if c.Component != tc.want[i] || c.Dominant != tc.dominant[i] || math.Abs(c.Share-tc.shares[i]) > 1e-9 {
					t.Errorf("cause %d = %v dominant %v share %.2f, want %v %v %.2f", i, c.Component, c.Dominant, c.Share, tc.want[i], tc.dominant[i], tc.shares[i])
				}
			}
			for _, w := range tc.text {
				if !strings.Contains(got.Text, w) {
					t.Errorf("text %q lacks %q", got.Text, w)
				}
			}
			if len(tc.want) == 0 && got.Text != "" {
				t.Errorf("text %q for no growth", got.Text)
			}
		})
	}
}

// The VM scenario, compressed, at the e2e policy's resolution: a
// pod of a quiet app, a sidecar leaking anon and a log agent leaking
// dentries; after 15 minutes each leaking container is named with the
// right cause, and the pod's growth is put on the faster one.
func TestPodContainersNamedWithinFifteenMinutes(t *testing.T) {
	quiet := func(t float64) (float64, float64, float64, float64, float64) {
		return 80 * mib, 20 * mib, 3 * mib, mib, mib
	}
	anonLeak := func(t float64) (float64, float64, float64, float64, float64) {
		return 30*mib + 100*1024*t, 5 * mib, 2 * mib, mib, mib
	}
	dentryLeak := func(t float64) (float64, float64, float64, float64, float64) {
		return 20 * mib, 5 * mib, 2*mib + 40*1024*t, mib + 1024*t/10, mib
	}
	end := 15 * time.Minute
	// A container of a pod and its estimate.
	type member struct {
		Name     string
		Estimate Estimate
	}
	var members []member
	var est Estimator
	for i, c := range []struct {
		name string
		f    shape
	}{{"app", quiet}, {"leaky-sidecar", anonLeak}, {"log-agent", dentryLeak}} {
		s, err := NewSeries("/pod/"+c.name, e2eTiers)
		if err != nil {
			t.Fatal(err)
		}
		feed(t, s, c.f, 0, end, 5*time.Second, 128<<10, uint64(i+1))
		members = append(members, member{Name: c.name, Estimate: est.Estimate(s, epoch.Add(end))})
	}
	for _, tc := range []struct {
		member int
		want   Component
	}{{1, Anon}, {2, SlabReclaimable}} {
		cl := Classify(members[tc.member].Estimate, 0)
		if len(cl.Causes) == 0 || cl.Causes[0].Component != tc.want {
			t.Errorf("%s: causes %+v, want %v first", members[tc.member].Name, cl.Causes, tc.want)
		}
	}
	if cl := Classify(members[0].Estimate, 0); len(cl.Causes) != 0 {
		t.Errorf("quiet app named: %s", cl.Text)
	}
}

func TestFormatRate(t *testing.T) {
	for _, tc := range []struct {
		bps  float64
		want string
	}{
		{float64(mib) / 3600 * 12, "12 MiB/h"},
		{3 * float64(mib) / 86400, "3.0 MiB/day"},
		{-2 * float64(mib) / 3600, "-2.0 MiB/h"},
		{0, "0 B/day"},
	} {
		if got := FormatRate(tc.bps); got != tc.want {
			t.Errorf("FormatRate(%v) = %q, want %q", tc.bps, got, tc.want)
		}
	}
}
