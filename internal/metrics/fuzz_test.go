package metrics

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseAddr: whatever the flag says, ParseAddr never panics and never
// accepts an address beyond this host; what it accepts reads back the same.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"unix:/run/memrelief/metrics.sock", "127.0.0.1:9780", "[::1]:9780", "localhost:9780",
		"0.0.0.0:9780", ":9780", "[::ffff:127.0.0.1]:1", "unix:", "unix:rel", "[fe80::1%lo]:9780"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddr(s, false)
		if err != nil {
			return
		}
		switch a.Network {
		case "unix":
			if !filepath.IsAbs(a.Address) {
				t.Errorf("ParseAddr(%q) accepted relative socket %q", s, a.Address)
			}
		case "tcp":
			host, _, err := net.SplitHostPort(a.Address)
			if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
				t.Errorf("ParseAddr(%q) accepted %q, not loopback", s, a.Address)
			}
		default:
			t.Errorf("ParseAddr(%q) network %q", s, a.Network)
		}
		b, err := ParseAddr(a.String(), false)
		if err != nil || b != a {
			t.Errorf("ParseAddr(%q) = %v; its String %q reads back as %v, %v", s, a, a.String(), b, err)
		}
		if strings.ContainsRune(a.Address, 0) {
			t.Errorf("ParseAddr(%q) kept a NUL", s)
		}
	})
}
