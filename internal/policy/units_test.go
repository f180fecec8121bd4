package policy

import (
	"math"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Size
		str  string
		err  string
	}{
		{in: "0", want: 0, str: "0"},
		{in: "512M", want: 512 << 20, str: "512M"},
		{in: "1G", want: 1 << 30, str: "1G"},
		{in: "64KiB", want: 64 << 10, str: "64K"},
		{in: "2TiB", want: 2 << 40, str: "2T"},
		{in: "4096B", want: 4096, str: "4K"},
		{in: "1000B", want: 1000, str: "1000B"},
		{in: "1536K", want: 1536 << 10, str: "1536K"},
		{in: "512", err: `size "512": want an integer followed by B, K, M, G, T, KiB, MiB, GiB or TiB (for example "512M")`},
		{in: "1.5G", err: `size "1.5G": want an integer followed by B, K, M, G, T, KiB, MiB, GiB or TiB (for example "512M")`},
		{in: "-1M", err: `size "-1M": want an integer followed by B, K, M, G, T, KiB, MiB, GiB or TiB (for example "512M")`},
		{in: "1mb", err: `size "1mb": want an integer followed by B, K, M, G, T, KiB, MiB, GiB or TiB (for example "512M")`},
		{in: "M", err: `size "M": want an integer followed by B, K, M, G, T, KiB, MiB, GiB or TiB (for example "512M")`},
		{in: "99999999999T", err: `size "99999999999T" is too large`},
	} {
		got, err := ParseSize(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseSize(%q) error = %v, want %s", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want || got.String() != tt.str {
			t.Errorf("ParseSize(%q) = %d (%s), %v; want %d (%s)", tt.in, got, got, err, tt.want, tt.str)
		}
		var s Size
		if err := s.UnmarshalText([]byte(tt.str)); err != nil || s != got {
			t.Errorf("round trip of %q: %d, %v", tt.str, s, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		str  string
		err  string
	}{
		{in: "30s", want: 30 * time.Second, str: "30s"},
		{in: "2m", want: 2 * time.Minute, str: "2m"},
		{in: "90s", want: 90 * time.Second, str: "1m30s"},
		{in: "500ms", want: 500 * time.Millisecond, str: "500ms"},
		{in: "1.5s", want: 1500 * time.Millisecond, str: "1s500ms"},
		{in: "0", want: 0, str: "0s"},
		{in: "7d", want: 7 * 24 * time.Hour, str: "7d"},
		{in: "1d12h", want: 36 * time.Hour, str: "1d12h"},
		{in: "48h", want: 48 * time.Hour, str: "2d"},
		{in: "d", err: `duration "d": want a number with a unit, for example "30s", "2m", "500ms" or "7d"`},
		{in: "1.5d", err: `duration "1.5d": want a number with a unit, for example "30s", "2m", "500ms" or "7d"`},
		{in: "99999999d", err: `duration "99999999d": want a number with a unit, for example "30s", "2m", "500ms" or "7d"`},
		{in: "1d-5s", err: `duration "1d-5s" is negative`},
		{in: "30", err: `duration "30": want a number with a unit, for example "30s", "2m", "500ms" or "7d"`},
		{in: "soon", err: `duration "soon": want a number with a unit, for example "30s", "2m", "500ms" or "7d"`},
		{in: "-5s", err: `duration "-5s" is negative`},
	} {
		got, err := ParseDuration(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseDuration(%q) error = %v, want %s", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got.Std() != tt.want || got.String() != tt.str {
			t.Errorf("ParseDuration(%q) = %v (%s), %v", tt.in, got.Std(), got, err)
		}
		if back, err := ParseDuration(got.String()); err != nil || back != got {
			t.Errorf("round trip of %s: %v, %v", got, back, err)
		}
	}
}

func TestParsePercentAndRate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Percent
		err  bool
	}{
		{in: "25%", want: 25}, {in: "0.5%", want: 0.5}, {in: "150%", want: 150},
		{in: "25", err: true}, {in: "%", err: true}, {in: "-3%", err: true}, {in: "1e3%", err: true},
	} {
		got, err := ParsePercent(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParsePercent(%q) = %v, %v", tt.in, got, err)
		}
		if err == nil {
			if back, _ := ParsePercent(got.String()); back != got {
				t.Errorf("round trip of %s gave %v", got, back)
			}
		}
	}
	if r, err := ParseRate("1M/s"); err != nil || r != 1<<20 || r.String() != "1M/s" {
		t.Errorf("ParseRate(1M/s) = %v, %v", r, err)
	}
	for _, tt := range []struct {
		in, str string
		perSec  float64
	}{
		{"3M/day", "128K/h", 3 << 20 / 86400.0}, {"1M/day", "1M/day", 1 << 20 / 86400.0},
		{"10M/h", "10M/h", 10 << 20 / 3600.0},
		{"60K/min", "1K/s", 1024},
		{"2M/min", "2M/min", 2 << 20 / 60.0},
		{"1M/d", "1M/day", 1 << 20 / 86400.0},
		{"0/day", "0/s", 0},
	} {
		r, err := ParseRate(tt.in)
		if err != nil || math.Abs(float64(r)-tt.perSec) > 1e-9 || r.String() != tt.str {
			t.Errorf("ParseRate(%q) = %v (%s), %v; want %v/s, %s", tt.in, float64(r), r, err, tt.perSec, tt.str)
		}
		if back, err := ParseRate(r.String()); err != nil || back != r {
			t.Errorf("round trip of %s: %v, %v", r, back, err)
		}
	}
	if got := Rate(1.0 / 7).String(); got != "0.143B/s" {
		t.Errorf("Rate(1/7) = %q, want the fraction shown", got)
	}
	if _, err := ParseRate("1M"); err == nil || err.Error() != `rate "1M": want a size per second, minute, hour or day, for example "1M/s" or "3M/day"` {
		t.Errorf("ParseRate(1M) error = %v", err)
	}
}
