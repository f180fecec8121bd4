package history

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// spanUnits are the units of the text form of a tier, largest first so
// String picks the largest that divides a duration exactly.
var spanUnits = [...]struct {
	name string
	d    time.Duration
}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}}

// ParseResolution reads a tier in the policy's spelling "STEP/SPAN": one
// bucket every STEP, kept for SPAN, each a whole number and a unit s, m, h
// or d, as in "5m/6h" or "1h/14d". SPAN must be a whole multiple of STEP,
// and the tier 2 to 65,536 buckets long. Errors quote the text and say
// what is wanted. Whether tiers go finest first is for NewSeries to check,
// which sees them all.
func ParseResolution(s string) (Tier, error) {
	stepText, spanText, ok := strings.Cut(s, "/")
	if !ok {
		return Tier{}, fmt.Errorf("resolution %q: want STEP/SPAN, such as \"5m/6h\" (a point every 5 minutes, kept for 6 hours)", s)
	}
	step, err := parseSpan(stepText)
	if err != nil {
		return Tier{}, fmt.Errorf("resolution %q: step: %w", s, err)
	}
	span, err := parseSpan(spanText)
	if err != nil {
		return Tier{}, fmt.Errorf("resolution %q: span: %w", s, err)
	}
	if span%step != 0 {
		return Tier{}, fmt.Errorf("resolution %q: span %s is not a whole multiple of step %s", s, formatSpan(span), formatSpan(step))
	}
	n := span / step
	if n < 2 {
		return Tier{}, fmt.Errorf("resolution %q: span %s is not at least twice step %s", s, formatSpan(span), formatSpan(step))
	}
	if n > maxTierLen {
		return Tier{}, fmt.Errorf("resolution %q: span %s is %d steps of %s; want at most %d", s, formatSpan(span), n, formatSpan(step), maxTierLen)
	}
	return Tier{Step: step, Len: int(n)}, nil
}

// parseSpan reads a whole number and one unit of spanUnits.
func parseSpan(text string) (time.Duration, error) {
	t := strings.TrimSpace(text)
	want := `want a whole number and a unit s, m, h or d, such as "5m"`
	if len(t) < 2 {
		return 0, fmt.Errorf("%q: %s", text, want)
	}
	num, unit := t[:len(t)-1], t[len(t)-1:]
	var d time.Duration
	for _, u := range spanUnits {
		if u.name == unit {
			d = u.d
		}
	}
	if d == 0 {
		return 0, fmt.Errorf("%q: unknown unit %q; %s", text, unit, want)
	}
	// ParseUint alone would take "+5" or "0x5"; a person writes digits.
	if strings.Trim(num, "0123456789") != "" {
		return 0, fmt.Errorf("%q: %s", text, want)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n > math.MaxInt64/uint64(d) {
		return 0, fmt.Errorf("%q: too long for a duration", text)
	}
	if n == 0 {
		return 0, fmt.Errorf("%q: want more than zero", text)
	}
	return time.Duration(n) * d, nil
}

// String gives the tier in the spelling ParseResolution reads, each part
// in the largest unit that divides it exactly: "5m/6h", "1h/14d". A tier
// whose step is not whole seconds (NewSeries refuses it) comes out in Go's
// duration spelling.
func (t Tier) String() string {
	if t.Len > 0 && t.Step > math.MaxInt64/time.Duration(t.Len) {
		return formatSpan(t.Step) + "/" + strconv.Itoa(t.Len) + " points"
	}
	return formatSpan(t.Step) + "/" + formatSpan(t.Step*time.Duration(t.Len))
}

func formatSpan(d time.Duration) string {
	for _, u := range spanUnits {
		if d > 0 && d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return d.String()
}
