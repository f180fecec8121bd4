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
// syntax with a unit ("30s", "2m", "1m30s", "500ms"), which may start with
// whole days ("7d", "1d12h"): forecasts and history spans are counted in
// days.
type Duration time.Duration

// Percent is a percentage, stored as the number before the % sign ("25%"
// is 25). Validation, not parsing, decides the allowed range, so that a
// value over 100 is reported with its place in the policy.
type Percent float64

// Rate is a growth rate in bytes per second, written as a Size per unit of
// time: "1M/s", "10M/h", "3M/day". Slow leaks are spelled per day; the
// value is kept per second, fractions included.
type Rate float64

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
	bad := fmt.Errorf("duration %q: want a number with a unit, for example \"30s\", \"2m\", \"500ms\" or \"7d\"", s)
	var days time.Duration
	rest := s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 32)
		if err != nil || n > maxDays {
			return 0, bad
		}
		days, rest = time.Duration(n)*day, s[i+1:]
		if rest == "" {
			return Duration(days), nil
		}
	}
	d, err := time.ParseDuration(rest)
	if err != nil || strings.TrimLeft(rest, "0123456789.") == "" {
		return 0, bad
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	return Duration(days + d), nil
}

const day = 24 * time.Hour

// maxDays keeps days*24h well inside time.Duration's range (~292 years).
const maxDays = 100 * 365

// String gives a compact exact form ("2m", "1m30s", "500ms", "7d") that
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
	}{{day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "us"}, {time.Nanosecond, "ns"}} {
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

// rateUnits are the time units a Rate may be written per, longest first
// so "/day" is not read as "/d".
var rateUnits = []struct {
	suffix string
	per    float64 // seconds
}{{"/day", 86400}, {"/min", 60}, {"/s", 1}, {"/m", 60}, {"/h", 3600}, {"/d", 86400}}

// ParseRate parses the text form of a Rate.
func ParseRate(s string) (Rate, error) {
	for _, u := range rateUnits {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		v, err := ParseSize(num)
		if err != nil {
			break
		}
		return Rate(float64(v) / u.per), nil
	}
	return 0, fmt.Errorf("rate %q: want a size per second, minute, hour or day, for example \"1M/s\" or \"3M/day\"", s)
}

// String gives an exact text form, one ParseRate reads back to the same
// value: per second when that is a whole number of bytes, else per hour or
// per day. A rate that is none of these (only computed ones) is written in
// bytes per second with a fraction, for people, not for policies.
func (r Rate) String() string {
	for _, u := range []struct {
		suffix string
		sec    float64
	}{{"/s", 1}, {"/min", 60}, {"/h", 3600}, {"/day", 86400}} {
		if s, ok := r.per(u.suffix, u.sec); ok {
			return s
		}
	}
	return strconv.FormatFloat(float64(r), 'f', 3, 64) + "B/s"
}

func (r Rate) per(suffix string, sec float64) (string, bool) {
	n := math.Round(float64(r) * sec)
	if n < 0 || n >= math.MaxUint64 || Rate(n/sec) != r {
		return "", false
	}
	return Size(uint64(n)).String() + suffix, true
}

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

// ParseResolution parses "STEP/SPAN", for example "5m/6h": a point every
// STEP, kept for SPAN.
func ParseResolution(s string) (Resolution, error) {
	step, span, ok := strings.Cut(s, "/")
	if !ok {
		return Resolution{}, fmt.Errorf("resolution %q: want STEP/SPAN, for example \"5m/6h\" (a point every 5 minutes, kept for 6 hours)", s)
	}
	st, err := ParseDuration(step)
	if err != nil {
		return Resolution{}, fmt.Errorf("resolution %q: step: %w", s, err)
	}
	sp, err := ParseDuration(span)
	if err != nil {
		return Resolution{}, fmt.Errorf("resolution %q: span: %w", s, err)
	}
	return Resolution{Step: st, Span: sp}, nil
}
