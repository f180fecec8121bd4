package history

import (
	"strings"
	"testing"
	"time"
)

func TestParseResolution(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Tier
		text string // String() of the result
	}{
		{"5m/6h", Tier{Step: 5 * time.Minute, Len: 72}, "5m/6h"},
		{"1h/14d", Tier{Step: time.Hour, Len: 336}, "1h/14d"},
		{"5s/30m", Tier{Step: 5 * time.Second, Len: 360}, "5s/30m"},
		{"1m/12h", Tier{Step: time.Minute, Len: 720}, "1m/12h"},
		{"90m/3h", Tier{Step: 90 * time.Minute, Len: 2}, "90m/3h"},
		{"60s/360m", Tier{Step: time.Minute, Len: 360}, "1m/6h"},
		{"1d/1024d", Tier{Step: 24 * time.Hour, Len: 1024}, "1d/1024d"},
		{" 15m / 14d ", Tier{Step: 15 * time.Minute, Len: 1344}, "15m/14d"},
		{"1s/65536s", Tier{Step: time.Second, Len: 65536}, "1s/65536s"},
	} {
		got, err := ParseResolution(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseResolution(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		if s := got.String(); s != tc.text {
			t.Errorf("%+v.String() = %q, want %q", got, s, tc.text)
		}
		if again, err := ParseResolution(got.String()); err != nil || again != got {
			t.Errorf("%q does not read back: %+v, %v", got.String(), again, err)
		}
		if _, err := NewSeries("/x", []Tier{got}); err != nil {
			t.Errorf("NewSeries refuses %q: %v", tc.in, err)
		}
	}
}

func TestParseResolutionRejects(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // in the error, besides the quoted input
	}{
		{"", []string{"want STEP/SPAN", `"5m/6h"`}},
		{"5m", []string{"want STEP/SPAN"}},
		{"5m-6h", []string{"want STEP/SPAN"}},
		{"/6h", []string{"step", "whole number and a unit s, m, h or d"}},
		{"5m/", []string{"span", "whole number and a unit"}},
		{"5x/6h", []string{"step", `unknown unit "x"`}},
		{"5m/6w", []string{"span", `unknown unit "w"`}},
		{"5M/6h", []string{"step", `unknown unit "M"`}},
		{"5ms/6h", []string{"step", "whole number"}},
		{"1.5m/6h", []string{"step", "whole number"}},
		{"-5m/6h", []string{"step", "whole number"}},
		{"+5m/6h", []string{"step", "whole number"}},
		{"0m/6h", []string{"step", "more than zero"}},
		{"5m/0h", []string{"span", "more than zero"}},
		{"m/6h", []string{"step", "whole number"}},
		{"5m/7m", []string{"span 7m is not a whole multiple of step 5m"}},
		{"1h/90m", []string{"span 90m is not a whole multiple of step 1h"}},
		{"1h/1h", []string{"span 1h is not at least twice step 1h"}},
		{"6h/5m", []string{"not a whole multiple"}},
		{"1s/65537s", []string{"65537 steps of 1s", "want at most 65536"}},
		{"1s/99999999999999999999d", []string{"span", "too long"}},
		{"1s/200000d", []string{"200000d", "too long"}},
		{"5m/6h/1d", []string{"span", "whole number"}},
	} {
		got, err := ParseResolution(tc.in)
		if err == nil {
			t.Errorf("ParseResolution(%q) = %+v, want an error", tc.in, got)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, `resolution "`+tc.in+`"`) {
			t.Errorf("ParseResolution(%q): error %q does not quote the text", tc.in, msg)
		}
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("ParseResolution(%q): error %q lacks %q", tc.in, msg, w)
			}
		}
	}
}

func TestTierString(t *testing.T) {
	for _, tc := range []struct {
		t    Tier
		want string
	}{
		{DefaultTiers()[0], "5m/6h"},
		{DefaultTiers()[1], "1h/14d"},
		{Tier{Step: 25 * time.Hour, Len: 2}, "25h/50h"},
		{Tier{Step: 1500 * time.Millisecond, Len: 4}, "1.5s/6s"},
		{Tier{}, "0s/0s"},
		{Tier{Step: time.Hour, Len: 1 << 40}, "1h/1099511627776 points"},
	} {
		if got := tc.t.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.t, got, tc.want)
		}
	}
}
