package dropin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/paths"
	"github.com/memrelief/memrelief/internal/policy"
)

func write(t *testing.T, root, rel, content string) string {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDirNames(t *testing.T) {
	for _, tt := range []struct {
		unit string
		want []string
	}{
		{"foo.service", []string{"foo.service.d", "service.d"}},
		{"foo-bar-baz.service", []string{"foo-bar-baz.service.d", "foo-bar-.service.d", "foo-.service.d", "service.d"}},
		{"kubepods-burstable-pod1.slice", []string{"kubepods-burstable-pod1.slice.d", "kubepods-burstable-.slice.d", "kubepods-.slice.d", "slice.d"}},
		{"foo-bar-.service", []string{"foo-bar-.service.d", "foo-.service.d", "service.d"}},
		{"getty@tty1.service", []string{"getty@tty1.service.d", "getty@.service.d", "service.d"}},
		{"a-b@x.service", []string{"a-b@x.service.d", "a-b@.service.d", "a-.service.d", "a-@x.service.d", "a-@.service.d", "service.d"}},
		{"-.slice", []string{"-.slice.d", "slice.d"}},
	} {
		if got := DirNames(tt.unit); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("DirNames(%q) = %q, want %q", tt.unit, got, tt.want)
		}
	}
}

// TestScanPrecedence checks systemd's rules as systemd.unit(5) states them
// and systemd's dropin.c/conf-files.c implement them.
func TestScanPrecedence(t *testing.T) {
	root := t.TempDir()
	r := paths.Under(root)
	unit := "kubepods-burstable-pod1.slice"
	// Same name in /etc, /run and /usr/lib: /etc wins.
	write(t, root, "usr/lib/systemd/system/kubepods-burstable-pod1.slice.d/10-a.conf", "[X-MemRelief]\nRule=usr\n")
	write(t, root, "run/systemd/system/kubepods-burstable-pod1.slice.d/10-a.conf", "[X-MemRelief]\nRule=run\n")
	etcA := write(t, root, "etc/systemd/system/kubepods-burstable-pod1.slice.d/10-a.conf", "[X-MemRelief]\nRule=etc\n")
	// Same name in /run and /usr/lib only: /run wins.
	write(t, root, "usr/lib/systemd/system/kubepods-.slice.d/20-b.conf", "")
	runB := write(t, root, "run/systemd/system/kubepods-.slice.d/20-b.conf", "[X-MemRelief]\nExclude=no\n")
	// Runtime properties set over D-Bus beat /etc.
	write(t, root, "etc/systemd/system/kubepods-burstable-pod1.slice.d/30-c.conf", "[X-MemRelief]\nRule=etc\n")
	ctlC := write(t, root, "run/systemd/system.control/kubepods-burstable-pod1.slice.d/30-c.conf", "[X-MemRelief]\nRule=control\n")
	// Prefix drop-in: the more specific prefix wins for the same name
	// within one directory.
	write(t, root, "usr/lib/systemd/system/kubepods-.slice.d/40-d.conf", "[X-MemRelief]\nRule=generic\n")
	usrD := write(t, root, "usr/lib/systemd/system/kubepods-burstable-.slice.d/40-d.conf", "[X-MemRelief]\nRule=burstable\n")
	// Type-wide drop-in.
	usrE := write(t, root, "usr/lib/systemd/system/slice.d/50-e.conf", "[X-MemRelief]\nReclaimBatch=8M\n")
	// A mask in /etc hides the vendor file of the same name.
	write(t, root, "usr/lib/systemd/system/kubepods-burstable-.slice.d/60-f.conf", "[X-MemRelief]\nExclude=yes\n")
	if err := os.MkdirAll(filepath.Join(root, "etc/systemd/system/kubepods-burstable-.slice.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/null", filepath.Join(root, "etc/systemd/system/kubepods-burstable-.slice.d/60-f.conf")); err != nil {
		t.Fatal(err)
	}
	// Not a .conf file, and a drop-in of another unit.
	write(t, root, "etc/systemd/system/kubepods-burstable-pod1.slice.d/README", "x")
	write(t, root, "etc/systemd/system/kubepods-besteffort-.slice.d/70-g.conf", "[X-MemRelief]\nExclude=yes\n")

	got, warns, err := Scan(r, unit)
	if len(warns) != 0 {
		t.Errorf("warnings %v", warns)
	}
	if err != nil {
		t.Fatal(err)
	}
	want := []string{etcA, runB, ctlC, usrD, usrE}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Scan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	o, errs := Read(unit, got, os.ReadFile)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	// Later file names win: 40-d (burstable) was applied after 30-c (control).
	if o.Rule != "burstable" || o.RuleAt != (policy.Origin{File: usrD, Line: 2}) {
		t.Errorf("Rule = %q from %v", o.Rule, o.RuleAt)
	}
	if o.Exclude == nil || *o.Exclude || o.ReclaimBatch == nil || *o.ReclaimBatch != 8<<20 {
		t.Errorf("override %+v", o)
	}
}

func TestLaterNamesWin(t *testing.T) {
	root := t.TempDir()
	a := write(t, root, "etc/systemd/system/fluent-bit.service.d/90-z.conf", "[X-MemRelief]\nRule=late\n")
	b := write(t, root, "usr/lib/systemd/system/fluent-bit.service.d/10-a.conf", "[X-MemRelief]\nRule=early\nExclude=yes\n")
	got, _, err := Scan(paths.Under(root), "fluent-bit.service")
	if err != nil || !reflect.DeepEqual(got, []string{b, a}) {
		t.Fatalf("Scan = %q, %v", got, err)
	}
	o, _ := Read("fluent-bit.service", got, os.ReadFile)
	if o.Rule != "late" || o.Exclude == nil || !*o.Exclude {
		t.Errorf("%+v", o)
	}
}

func TestParseErrors(t *testing.T) {
	const f = "/etc/systemd/system/x.service.d/m.conf"
	doc := `[Service]
MemoryHigh=1G
# comment
[X-MemRelief]
Exclude=maybe
Rule=strict
EnterThreshold=elevated slab_reclaimable
ExitThreshold=elevated slab_reclaimable 10%
EnterThreshold=elevated nope 1M
ReclaimBudget=lots
ReclaimBatch=0
Colour=blue
ExecStart=/bin/true \
  --flag
EnterThreshold=high slab_reclaimable 1G
`
	var o policy.Override
	errs := Parse(f, []byte(doc), &o)
	want := []string{
		f + `:5:1: Exclude: want yes or no, got "maybe"`,
		f + `:7:1: EnterThreshold: want LEVEL METRIC VALUE, for example "elevated slab_reclaimable 512M", got "elevated slab_reclaimable"`,
		f + `:8:1: ExitThreshold: slab_reclaimable takes a size: size "10%": want an integer followed by B, K, M, G, T, KiB, MiB, GiB or TiB (for example "512M")`,
		f + `:9:1: EnterThreshold: unknown metric "nope" (known: psi_some_avg10, psi_some_avg60, psi_full_avg10, psi_full_avg60, psi_stall, slab_reclaimable, slab_reclaimable_share, slab_growth_rate, kernel_memory, memory_current_share_high, memory_current_share_max, node_sreclaimable, negative_dentries, memory_trend, anon_trend, file_trend, slab_reclaimable_trend, slab_unreclaimable_trend, kernel_trend, time_to_memory_high, time_to_memory_max, node_time_to_oom)`,
		f + `:10:1: ReclaimBudget: size "lots": want an integer followed by B, K, M, G, T, KiB, MiB, GiB or TiB (for example "512M")`,
		f + `:11:1: ReclaimBatch: is 0; nothing could ever be reclaimed (use Exclude=yes to stop remediation)`,
		f + `:12:1: Colour: unknown key in [X-MemRelief] (want Exclude, Rule, EnterThreshold, ExitThreshold, ReclaimBudget or ReclaimBatch)`,
		f + `:13:1: ExecStart: unknown key in [X-MemRelief] (want Exclude, Rule, EnterThreshold, ExitThreshold, ReclaimBudget or ReclaimBatch)`,
	}
	if errs.Error() != strings.Join(want, "\n") {
		t.Errorf("got:\n%v\nwant:\n%s", errs, strings.Join(want, "\n"))
	}
	// Only the bad lines were dropped.
	if o.Rule != "strict" || o.RuleAt.Line != 6 || len(o.Thresholds) != 1 || o.Thresholds[0].At.Line != 15 || o.Exclude != nil {
		t.Errorf("override %+v", o)
	}
}

func TestParseResetAndUnparsable(t *testing.T) {
	var o policy.Override
	if errs := Parse("a.conf", []byte("[X-MemRelief]\nExclude=yes\nEnterThreshold=l slab_reclaimable 1G\nExitThreshold=l slab_reclaimable 1M\n"), &o); len(errs) != 0 {
		t.Fatal(errs)
	}
	if errs := Parse("b.conf", []byte("[X-MemRelief]\nExclude=\nEnterThreshold=\n"), &o); len(errs) != 0 {
		t.Fatal(errs)
	}
	if o.Exclude != nil || len(o.Thresholds) != 1 || !o.Thresholds[0].Exit {
		t.Errorf("reset failed: %+v", o)
	}
	errs := Parse("c.conf", []byte("[X-MemRelief]\nRule=x\n[Broken\n"), &o)
	if len(errs) != 1 || errs[0].Error() != `c.conf:3:1: not a valid unit file (systemd refuses it), ignored: invalid section header "[Broken": it does not end in ']'` || o.Rule != "" {
		t.Errorf("got %v, rule %q", errs, o.Rule)
	}
}

func TestFinderUsesBusAndFallsBack(t *testing.T) {
	root := t.TempDir()
	scanned := write(t, root, "etc/systemd/system/a.service.d/m.conf", "[X-MemRelief]\nRule=scan\n")
	bus := FakeBus{Paths: map[string][]string{"a.service": {"/run/systemd/system.control/a.service.d/50-x.conf"}}}
	f := Finder{Roots: paths.Under(root), Bus: bus}
	files, via, _, err := f.Files(context.Background(), "a.service")
	if err != nil || via != ViaBus || !reflect.DeepEqual(files, bus.Paths["a.service"]) {
		t.Errorf("bus: %q %q %v", files, via, err)
	}
	f.Bus = FakeBus{Err: errors.New("no bus")}
	files, via, _, err = f.Files(context.Background(), "a.service")
	if err != nil || !strings.HasPrefix(via, ViaScan) || !strings.Contains(via, "no bus") || !reflect.DeepEqual(files, []string{scanned}) {
		t.Errorf("fallback: %q %q %v", files, via, err)
	}
}

func TestChainFeedsEffective(t *testing.T) {
	root := t.TempDir()
	parent := write(t, root, "etc/systemd/system/kubepods.slice.d/50-memrelief.conf", "[X-MemRelief]\nExclude=yes\n")
	own := write(t, root, "etc/systemd/system/kubepods-burstable-pod1.slice.d/50-memrelief.conf", "[X-MemRelief]\nExclude=no\nEnterThreshold=elevated slab_reclaimable 48M\n")
	unit := "kubepods-burstable-pod1.slice"
	units := append(Ancestors(unit), unit)
	if !reflect.DeepEqual(units, []string{"kubepods.slice", "kubepods-burstable.slice", unit}) {
		t.Fatalf("units %q", units)
	}
	chain, files, _, errs, err := LoadChain(context.Background(), Finder{Roots: paths.Under(root)}, units)
	if err != nil || len(errs) != 0 || len(chain) != 2 || !reflect.DeepEqual(files, []string{parent, own}) {
		t.Fatalf("%+v %q %v %v", chain, files, errs, err)
	}
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	e, perrs := p.Effective(unit, "", chain)
	if len(perrs) != 0 || e.Excluded || e.Rule.Levels[0].Enter.All[0].Threshold != 48<<20 {
		t.Errorf("%+v %v", e, perrs)
	}
	if e.Settings[0].From != (policy.Origin{File: own, Line: 2}) {
		t.Errorf("exclusion origin %v", e.Settings[0].From)
	}
}

func TestUnitsOnPath(t *testing.T) {
	got := UnitsOnPath("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-abc.scope")
	want := []string{"kubepods.slice", "kubepods-burstable.slice", "kubepods-burstable-pod1.slice", "cri-containerd-abc.scope"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
	if got := UnitsOnPath("/kubepods/burstable/pod1"); got != nil {
		t.Errorf("cgroupfs path gave %q", got)
	}
	if got := Ancestors("system.slice"); got != nil {
		t.Errorf("Ancestors(system.slice) = %q", got)
	}
}
