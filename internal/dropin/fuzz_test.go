package dropin

import (
	"testing"

	"github.com/memrelief/memrelief/internal/policy"
)

// FuzzParse: no drop-in panics the reader, every problem names the file,
// and every reported line exists. Seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte("[X-MemRelief]\nExclude=yes\nEnterThreshold=elevated slab_reclaimable 512M\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var o policy.Override
		lines := 1 // systemd ends a line at "\n", "\r\n", "\r" or NUL
		for i, c := range data {
			if c == '\n' || c == 0 || (c == '\r' && (i+1 == len(data) || data[i+1] != '\n')) {
				lines++
			}
		}
		for _, e := range Parse("d.conf", data, &o) {
			if e.File != "d.conf" || e.Msg == "" || e.Line < 0 || e.Line > lines {
				t.Fatalf("bad error %+v for %q", e, data)
			}
		}
		for _, th := range o.Thresholds {
			if th.At.File != "d.conf" || th.Level == "" {
				t.Fatalf("threshold without origin or level: %+v", th)
			}
		}
	})
}
