package history

import (
	"math"
	"strings"
)

var (
	blocks = []rune("▁▂▃▄▅▆▇█")
	// asciiLevels rise like the blocks, for terminals and logs that are
	// not UTF-8.
	asciiLevels = []rune("_.-~=+*#")
)

// Sparkline draws vals in at most width characters, lowest to highest on
// eight levels scaled between the smallest and largest value. NaN is a
// gap, drawn as a space. Longer input is averaged down to width; shorter
// input is not stretched. ascii picks plain characters instead of Unicode
// blocks. A flat series is drawn on the lowest level.
func Sparkline(vals []float64, width int, ascii bool) string {
	if width <= 0 || len(vals) == 0 {
		return ""
	}
	levels := blocks
	if ascii {
		levels = asciiLevels
	}
	n := min(width, len(vals))
	lo, hi := math.Inf(1), math.Inf(-1)
	cols := make([]float64, n)
	for i := range n {
		// Column i averages vals[i*len/n : (i+1)*len/n].
		from, to := i*len(vals)/n, (i+1)*len(vals)/n
		var sum float64
		cnt := 0
		for _, v := range vals[from:to] {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				sum += v
				cnt++
			}
		}
		if cnt == 0 {
			cols[i] = math.NaN()
			continue
		}
		cols[i] = sum / float64(cnt)
		lo, hi = min(lo, cols[i]), max(hi, cols[i])
	}
	var b strings.Builder
	for _, v := range cols {
		switch {
		case math.IsNaN(v):
			b.WriteByte(' ')
		case hi == lo:
			b.WriteRune(levels[0])
		default:
			k := int((v - lo) / (hi - lo) * float64(len(levels)-1))
			b.WriteRune(levels[min(max(k, 0), len(levels)-1)])
		}
	}
	return b.String()
}

// ComponentValues appends the mean of component c in each point to dst,
// NaN for gaps and points where c is unknown, ready for Sparkline.
func ComponentValues(pts []Point, c Component, dst []float64) []float64 {
	for i := range pts {
		v, ok := pts[i].Mean.Get(c)
		if pts[i].Samples == 0 || !ok {
			dst = append(dst, math.NaN())
			continue
		}
		dst = append(dst, float64(v))
	}
	return dst
}
