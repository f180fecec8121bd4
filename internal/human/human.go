// Package human formats sizes and shares for people reading a terminal.
package human

import (
	"fmt"
	"math"
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
