package history

import (
	"fmt"
	"strings"
	"time"
)

// dumpPoints writes every bucket of every tier of s up to to, one line
// each: tier, start (Unix seconds), samples, open, peak, then mean and
// minimum of each component in bytes ("-" when unknown). Golden files of
// testdata/ hold it.
func dumpPoints(s *Series, to time.Time) string {
	var b strings.Builder
	for i := range s.tiers {
		for _, p := range s.Points(i, time.Time{}, to, nil) {
			fmt.Fprintf(&b, "%d %d %d %v %d", i, p.Start.Unix(), p.Samples, p.Open, p.Peak)
			for _, v := range []*Values{&p.Mean, &p.Min} {
				for c := range NumComponents {
					if x, ok := v.Get(c); ok {
						fmt.Fprintf(&b, " %d", x)
					} else {
						b.WriteString(" -")
					}
				}
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}
