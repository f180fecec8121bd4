package human

import (
	"testing"
	"time"
)

func TestBytes(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0", 1023: "1023", 1024: "1.0K", 8908: "8.7K", 10189: "10K",
		156 << 20: "156M", 3 << 29: "1.5G", 1023<<20 + 1000<<10: "1.0G", 1 << 40: "1.0T",
		^uint64(0): "16E",
	} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
	if got := IBytes(3 << 29); got != "1.5 GiB" {
		t.Errorf("IBytes = %q", got)
	}
	if got := IBytes(12); got != "12 B" {
		t.Errorf("IBytes(12) = %q", got)
	}
}

func TestPercent(t *testing.T) {
	if got := Percent(82, 100); got != "82%" {
		t.Errorf("Percent = %q", got)
	}
	if got := Percent(1, 0); got != "-" {
		t.Errorf("Percent(1, 0) = %q", got)
	}
}

func TestRate(t *testing.T) {
	for _, tt := range []struct {
		in   float64
		want string
	}{
		{2 << 20, "2.0M/s"},
		{1 << 20, "1.0M/s"},
		{1024, "3.5M/h"},
		{12 << 20 / 3600.0, "12M/h"},
		{3 << 20 / 86400.0, "3.0M/day"},
		{-(12 << 20) / 3600.0, "-12M/h"},
		{0, "0/day"},
	} {
		if got := Rate(tt.in); got != tt.want {
			t.Errorf("Rate(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tt := range []struct {
		in   time.Duration
		want string
	}{
		{12 * time.Second, "12s"},
		{40 * time.Minute, "40m"},
		{5*time.Hour + 12*time.Minute, "5h 12m"},
		{3*24*time.Hour + 4*time.Hour + 10*time.Minute, "3d 4h"},
		{7 * 24 * time.Hour, "7d"},
		{2 * time.Hour, "2h"},
	} {
		if got := Duration(tt.in); got != tt.want {
			t.Errorf("Duration(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
