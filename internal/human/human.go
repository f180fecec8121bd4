// Package human formats sizes and shares for people reading a terminal.
package human

import (
	"fmt"
	"math"
	"time"
)

// Bytes formats n with a binary unit in at most five characters: "0",
// "512", "8.7K", "156M", "1.5G". Ten and more units drop the decimal.
func Bytes(n uint64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d", n)
	}
	v := float64(n)
	i := -1
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v < 9.95 {
		return fmt.Sprintf("%.1f%c", v, units[i])
	}
	if math.Round(v) >= 1024 && i < len(units)-1 {
		return fmt.Sprintf("1.0%c", units[i+1])
	}
	return fmt.Sprintf("%.0f%c", v, units[i])
}

// IBytes formats n like Bytes but with the IEC suffix ("1.5 GiB"), for
// prose.
func IBytes(n uint64) string {
	s := Bytes(n)
	if n < 1024 {
		return s + " B"
	}
	return s[:len(s)-1] + " " + s[len(s)-1:] + "iB"
}

// Percent formats part/whole as "82%" ("-" when whole is 0).
func Percent(part, whole uint64) string {
	if whole == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(part)/float64(whole))
}

// Rate formats a growth rate in bytes per second compactly, in the time
// unit that gives a readable figure: "2.0M/s", "12M/h", "3.0M/day". Leaks
// that matter over weeks are a few MiB a day; per second they would read
// as "36".
func Rate(bytesPerSec float64) string {
	sign := ""
	if bytesPerSec < 0 {
		sign, bytesPerSec = "-", -bytesPerSec
	}
	switch {
	case bytesPerSec >= 1<<20:
		return sign + Bytes(uint64(math.Round(bytesPerSec))) + "/s"
	case bytesPerSec*3600 >= 1<<20:
		return sign + Bytes(uint64(math.Round(bytesPerSec*3600))) + "/h"
	}
	return sign + Bytes(uint64(math.Round(bytesPerSec*86400))) + "/day"
}

// Duration formats a span for people in its two largest units: "3d 4h",
// "5h 12m", "40m", "12s".
func Duration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%ds", int64(d.Round(time.Second)/time.Second))
	}
	d = d.Round(time.Minute)
	days, hours, mins := d/(24*time.Hour), d%(24*time.Hour)/time.Hour, d%time.Hour/time.Minute
	switch {
	case days > 0 && hours > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case days > 0:
		return fmt.Sprintf("%dd", days)
	case hours > 0 && mins > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case hours > 0:
		return fmt.Sprintf("%dh", hours)
	}
	return fmt.Sprintf("%dm", mins)
}
