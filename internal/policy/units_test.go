package policy

import (
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
		{in: "30", err: `duration "30": want a number with a unit, for example "30s", "2m" or "500ms"`},
		{in: "soon", err: `duration "soon": want a number with a unit, for example "30s", "2m" or "500ms"`},
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
	if _, err := ParseRate("1M"); err == nil || err.Error() != `rate "1M": want a size per second, for example "1M/s"` {
		t.Errorf("ParseRate(1M) error = %v", err)
	}
}
