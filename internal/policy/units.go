package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Size is an amount of memory in bytes. Its text form is an integer with a
// binary unit: "512M", "1G", "64KiB", "4096B", or "0". K, M, G and T are
// powers of 1024 as in systemd's unit files; KiB, MiB, GiB and TiB are the
// same units spelled out.
type Size uint64

// Duration is a non-negative time span. Its text form is Go's duration
// syntax with a unit: "30s", "2m", "1m30s", "500ms".
type Duration time.Duration

// Percent is a percentage, stored as the number before the % sign ("25%"
// is 25). Validation, not parsing, decides the allowed range, so that a
// value over 100 is reported with its place in the policy.
type Percent float64

// Rate is a growth rate in bytes per second, written as a Size with "/s":
// "1M/s".
type Rate uint64

var sizeUnits = []struct {
	suffix string
	shift  uint
}{
	{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40},
	{"K", 10}, {"M", 20}, {"G", 30}, {"T", 40}, {"B", 0},
}

// ParseSize parses the text form of a Size.
func ParseSize(s string) (Size, error) {
	if s == "0" {
		return 0, nil
	}
	for _, u := range sizeUnits {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		if num == "" || strings.TrimLeft(num, "0123456789") != "" {
			return 0, fmt.Errorf("size %q: want an integer followed by B, K, M, G, T, KiB, MiB, GiB or TiB (for example \"512M\")", s)
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil || n > math.MaxUint64>>u.shift {
			return 0, fmt.Errorf("size %q is too large", s)
		}
		return Size(n << u.shift), nil
	}
	return 0, fmt.Errorf("size %q: want an integer followed by B, K, M, G, T, KiB, MiB, GiB or TiB (for example \"512M\")", s)
}

// String gives the shortest exact text form, so printing and parsing again
// yields the same value.
func (s Size) String() string {
	if s == 0 {
		return "0"
	}
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}} {
		if uint64(s)&(1<<u.shift-1) == 0 {
			return strconv.FormatUint(uint64(s)>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatUint(uint64(s), 10) + "B"
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ParseDuration parses the text form of a Duration.
func ParseDuration(s string) (Duration, error) {
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || strings.TrimLeft(s, "0123456789.") == "" {
		return 0, fmt.Errorf("duration %q: want a number with a unit, for example \"30s\", \"2m\" or \"500ms\"", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	return Duration(d), nil
}

// String gives a compact exact form ("2m", "1m30s", "500ms") that
// ParseDuration reads back to the same value.
func (d Duration) String() string {
	if d == 0 {
		return "0s"
	}
	v := time.Duration(d)
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "us"}, {time.Nanosecond, "ns"}} {
		if n := v / u.unit; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + u.name)
			v -= n * u.unit
		}
	}
	return b.String()
}

// Std returns the value as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// ParsePercent parses the text form of a Percent.
func ParsePercent(s string) (Percent, error) {
	num, ok := strings.CutSuffix(s, "%")
	if !ok || num == "" || strings.TrimLeft(num, "0123456789.") != "" {
		return 0, fmt.Errorf("percentage %q: want a number followed by %%, for example \"25%%\"", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, fmt.Errorf("percentage %q: want a number followed by %%, for example \"25%%\"", s)
	}
	return Percent(v), nil
}

// String gives the shortest exact form, for example "25%" or "0.5%".
func (p Percent) String() string { return strconv.FormatFloat(float64(p), 'f', -1, 64) + "%" }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Percent) UnmarshalText(b []byte) error {
	v, err := ParsePercent(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (p Percent) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// ParseRate parses the text form of a Rate.
func ParseRate(s string) (Rate, error) {
	num, ok := strings.CutSuffix(s, "/s")
	if !ok {
		return 0, fmt.Errorf("rate %q: want a size per second, for example \"1M/s\"", s)
	}
	v, err := ParseSize(num)
	if err != nil {
		return 0, fmt.Errorf("rate %q: want a size per second, for example \"1M/s\"", s)
	}
	return Rate(v), nil
}

// String gives the exact text form, for example "1M/s".
func (r Rate) String() string { return Size(r).String() + "/s" }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }
