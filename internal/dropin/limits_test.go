package dropin

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/paths"
	"github.com/memrelief/memrelief/internal/policy"
)

func TestReadCapsErrors(t *testing.T) {
	const extra = 30
	doc := unknownKeysDropIn(MaxErrors + extra)
	o, errs := Read("x.service", []string{"x.conf"}, func(string) ([]byte, error) { return doc, nil })
	if len(errs) != MaxErrors+1 {
		t.Fatalf("%d errors; want the first %d and a count", len(errs), MaxErrors)
	}
	if errs[0].Line != 6 || errs[0].Key != "Colour0" {
		t.Errorf("first error %v; want the first bad line", errs[0])
	}
	if got, want := errs[MaxErrors].Error(), fmt.Sprintf("x.conf: ... and %d more problems", extra); got != want {
		t.Errorf("last error %q; want %q", got, want)
	}
	if o.Rule != "pods" {
		t.Errorf("Rule = %q: the good setting was lost with the bad ones", o.Rule)
	}
}

func TestDropInSizeLimit(t *testing.T) {
	root := t.TempDir()
	big := write(t, root, "etc/systemd/system/x.service.d/50-big.conf", "")
	// Sparse: refused by its size, never read.
	if err := os.Truncate(big, 5<<20); err != nil {
		t.Fatal(err)
	}
	write(t, root, "etc/systemd/system/x.service.d/60-rule.conf", "[X-MemRelief]\nRule=pods\n")
	o, files, _, errs, err := Load(context.Background(), Finder{Roots: paths.Under(root)}, "x.service")
	if err != nil || len(files) != 2 {
		t.Fatalf("Load: %q, %v", files, err)
	}
	if len(errs) != 1 || !strings.HasPrefix(errs.Error(), big+": read drop-in: 5242880 bytes, more than") {
		t.Errorf("errors %v; want one naming %s and its size", errs, big)
	}
	if o.Rule != "pods" {
		t.Errorf("Rule = %q: the other drop-in was not applied", o.Rule)
	}

	// Parse refuses what a reader without the limit let through.
	doc := append([]byte("[X-MemRelief]\nRule=pods\n#"), strings.Repeat("x", policy.MaxFileBytes)...)
	var o2 policy.Override
	errs = Parse("y.conf", doc, &o2)
	if len(errs) != 1 || !strings.HasPrefix(errs.Error(), fmt.Sprintf("y.conf: drop-in ignored: %d bytes, more than", len(doc))) || o2.Rule != "" {
		t.Errorf("Parse of %d bytes: %v, Rule %q", len(doc), errs, o2.Rule)
	}
}

// TestLoadCapsWarningsWithErrors: the scan's warnings and the drop-ins'
// errors share one cap, and the count of the rest is exact.
func TestLoadCapsWarningsWithErrors(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(root+"/etc/systemd/system/x.service.d/10-dir.conf", 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, root, "etc/systemd/system/x.service.d/50-keys.conf", string(unknownKeysDropIn(MaxErrors+5)))
	_, _, _, errs, err := Load(context.Background(), Finder{Roots: paths.Under(root)}, "x.service")
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != MaxErrors+1 || !strings.HasSuffix(errs[0].Error(), "a directory named *.conf is not a drop-in; systemd and memrelief ignore it") {
		t.Fatalf("%d errors, first %v", len(errs), errs[0])
	}
	if got := errs[MaxErrors].Msg; got != "... and 6 more problems" {
		t.Errorf("last error %q; want the 6 left out counted", got)
	}
}
