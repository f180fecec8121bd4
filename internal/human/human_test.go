package human

import "testing"

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
