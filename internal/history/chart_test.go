package history

import (
	"math"
	"testing"
	"time"
)

func TestSparkline(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name  string
		vals  []float64
		width int
		ascii bool
		want  string
	}{
		{"rising", []float64{0, 1, 2, 3, 4, 5, 6, 7}, 20, false, "▁▂▃▄▅▆▇█"},
		{"rising ascii", []float64{0, 1, 2, 3, 4, 5, 6, 7}, 20, true, "_.-~=+*#"},
		{"sawtooth", []float64{0, 7, 0, 7}, 10, false, "▁█▁█"},
		{"gap", []float64{1, nan, 3}, 10, false, "▁ █"},
		{"flat", []float64{5, 5, 5}, 10, true, "___"},
		{"averaged down", []float64{0, 0, 7, 7}, 2, false, "▁█"},
		{"uneven groups", []float64{0, 0, 0, 7, 7}, 2, false, "▁█"},
		{"all gaps", []float64{nan, nan}, 5, false, "  "},
		{"no width", []float64{1, 2}, 0, false, ""},
		{"empty", nil, 10, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Sparkline(tc.vals, tc.width, tc.ascii); got != tc.want {
				t.Errorf("Sparkline = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestComponentValuesChart(t *testing.T) {
	s := newTiersSeries(t, minuteTiers)
	for m, v := range []uint64{1, 2, 3} {
		s.Add(t0.Add(time.Duration(m)*time.Minute), vals(v*mib, v*mib))
	}
	s.Add(t0.Add(5*time.Minute), vals(4*mib, 4*mib)) // minutes 3 and 4 are gaps
	pts := s.Points(0, t0, t0.Add(time.Hour), nil)
	got := Sparkline(ComponentValues(pts, Anon, nil), 40, false)
	if got != "▁▃▅  █" {
		t.Errorf("chart of anon = %q", got)
	}
	if got := Sparkline(ComponentValues(pts, File, nil), 40, false); got != "      " {
		t.Errorf("chart of a component never given = %q", got)
	}
}
