package systemd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// units is systemd as far as Owners asks: unit name -> ControlGroup.
type units map[string]string

func (u units) Unit(_ context.Context, unit string) (UnitState, error) {
	if unit == "broken.service" {
		return UnitState{}, errors.New("bus gone")
	}
	cg, ok := u[unit]
	if !ok {
		return UnitState{LoadState: "not-found"}, nil
	}
	return UnitState{LoadState: "loaded", ControlGroup: cg}, nil
}

func TestOwners(t *testing.T) {
	sys := units{
		"user.slice": "/user.slice", "user-1000.slice": "/user.slice/user-1000.slice",
		"user@1000.service": "/user.slice/user-1000.slice/user@1000.service",
		"system.slice":      "/system.slice", "postgresql.service": "/system.slice/postgresql.service",
		"docker.service": "/system.slice/docker.service",
		"kubepods.slice": "/kubepods.slice", "kubepods-burstable.slice": "/kubepods.slice/kubepods-burstable.slice",
		"kubepods-burstable-pod1.slice": "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice",
		"cri-containerd-abc.scope":      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-abc.scope",
	}
	delegated := map[string]bool{"/sys/fs/cgroup/system.slice/docker.service": true}
	xattr := func(path, name string) bool { return name == "trusted.delegate" && delegated[path] }
	userApp := "user.slice/user-1000.slice/user@1000.service/app.slice/postgresql.service"
	for _, tt := range []struct {
		cg         string
		bus        bool
		unit, by   string
		dropInsFor string
	}{
		{"system.slice/postgresql.service", true, "postgresql.service", "", "system.slice postgresql.service"},
		{"system.slice/postgresql.service", false, "postgresql.service", "", "system.slice postgresql.service"},
		// A user names a cgroup in their own subtree after a system service.
		{userApp, true, "", "user@1000.service", "user.slice user-1000.slice user@1000.service"},
		{userApp, false, "", "user@1000.service", "user.slice user-1000.slice user@1000.service"},
		{"user.slice/user-1000.slice/user@1000.service", true, "user@1000.service", "", "user.slice user-1000.slice user@1000.service"},
		// systemd marks delegated cgroups; below them, names are the delegate's.
		{"system.slice/docker.service/fake.service", false, "", "docker.service", "system.slice docker.service"},
		// A name systemd disowns: its unit of that name lives elsewhere.
		{"system.slice/imposter.slice/postgresql.service", true, "", "", "system.slice"},
		{"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-abc.scope", true,
			"cri-containerd-abc.scope", "", "kubepods.slice kubepods-burstable.slice kubepods-burstable-pod1.slice cri-containerd-abc.scope"},
		// cgroupfs driver: no unit owns it, and it is not delegated by one.
		{"kubepods/burstable/pod1/abc", true, "", "", ""},
		// A directory systemd did not make, below a unit: nothing below it
		// is systemd's.
		{"system.slice/postgresql.service/extra/x.service", true, "", "", "system.slice postgresql.service"},
		// systemd cannot be asked: not trusted.
		{"system.slice/broken.service", true, "", "", "system.slice"},
	} {
		t.Run(fmt.Sprintf("%s bus=%v", tt.cg, tt.bus), func(t *testing.T) {
			o := &Owners{Marked: []string{"/sys/fs/cgroup"}, Xattr: xattr}
			if tt.bus {
				o.Lookup = sys
			}
			got := o.Of(context.Background(), tt.cg)
			if got.Unit != tt.unit || got.DelegatedBy != tt.by || strings.Join(got.Units, " ") != tt.dropInsFor {
				t.Fatalf("Of(%s) = %+v, want unit %q delegated by %q, drop-ins of %q", tt.cg, got, tt.unit, tt.by, tt.dropInsFor)
			}
		})
	}
}

// delegating is systemd with some units' Delegate= on.
type delegating struct {
	units
	yes map[string]bool
}

func (d delegating) Unit(ctx context.Context, unit string) (UnitState, error) {
	st, err := d.units.Unit(ctx, unit)
	st.Delegate = d.yes[unit]
	return st, err
}

// A Delegate=yes unit is known by what systemd says of it, where no
// attribute can be read (the packaged unit cannot read trusted.*, and
// systemd before v251 sets no user.delegate); without systemd on the bus
// the attributes are all there is, read on the hierarchy systemd marks.
func TestOwnersKnowWhoDelegates(t *testing.T) {
	sys := delegating{
		units: units{"system.slice": "/system.slice", "containerd.service": "/system.slice/containerd.service",
			"kubepods.slice": "/kubepods.slice"},
		yes: map[string]bool{"containerd.service": true},
	}
	none := func(string, string) bool { return false }
	ctx := context.Background()
	cg := "system.slice/containerd.service/postgresql.service"
	o := &Owners{Marked: []string{"/sys/fs/cgroup"}, Lookup: sys, Xattr: none}
	if own := o.Of(ctx, cg); own.DelegatedBy != "containerd.service" || own.Unit != "" {
		t.Fatalf("Of(%s) = %+v; want it delegated by containerd.service, as systemd says", cg, own)
	}
	if !o.Delegates(ctx, "containerd.service", "system.slice/containerd.service") || o.Delegates(ctx, "kubepods.slice", "kubepods.slice") {
		t.Fatal("Delegates does not follow systemd's Delegate=")
	}
	// Hybrid: systemd marks its name=systemd hierarchy (and the cgroup2
	// one), not the memory controller's.
	marked := func(path, name string) bool {
		return name == "user.delegate" && path == "/sys/fs/cgroup/unified/system.slice/containerd.service"
	}
	o = &Owners{Marked: []string{"/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"}, Xattr: marked}
	if own := o.Of(ctx, cg); own.DelegatedBy != "containerd.service" {
		t.Fatalf("Of(%s) without the bus = %+v; want the attribute on the second hierarchy found", cg, own)
	}
}

// counting counts the questions asked of systemd.
type counting struct {
	units
	n int
}

func (c *counting) Unit(ctx context.Context, unit string) (UnitState, error) {
	c.n++
	return c.units.Unit(ctx, unit)
}

func TestOwnersAsksOncePerPrefixPerPass(t *testing.T) {
	c := &counting{units: units{"a.slice": "/a.slice", "b.service": "/a.slice/b.service", "c.service": "/a.slice/c.service"}}
	o := &Owners{Lookup: c, Xattr: func(string, string) bool { return false }}
	o.Of(context.Background(), "a.slice/b.service")
	o.Of(context.Background(), "a.slice/c.service")
	if c.n != 3 {
		t.Fatalf("%d questions for 3 distinct units", c.n)
	}
	o.Retain(func(string) bool { return false }, true) // every cgroup gone
	o.Of(context.Background(), "a.slice/b.service")
	if c.n != 5 {
		t.Fatalf("%d questions: Retain of no path did not forget", c.n)
	}
}

// Answers last across passes while their cgroups do; a gone cgroup is
// forgotten, and so is a "no" when a unit has appeared.
func TestOwnersRetain(t *testing.T) {
	u := units{"a.slice": "/a.slice", "b.service": "/a.slice/b.service"}
	c := &counting{units: u}
	o := &Owners{Lookup: c, Xattr: func(string, string) bool { return false }}
	ctx := context.Background()
	o.Of(ctx, "a.slice/b.service")
	o.Of(ctx, "a.slice/d.service") // not a unit yet
	if c.n != 3 {
		t.Fatalf("%d questions for 3 distinct paths", c.n)
	}
	all := func(string) bool { return true }
	o.Retain(all, true)
	o.Of(ctx, "a.slice/b.service")
	o.Of(ctx, "a.slice/d.service")
	if c.n != 3 {
		t.Fatalf("%d questions after a pass that kept every path; want no new ones", c.n)
	}
	u["d.service"] = "/a.slice/d.service"
	o.Retain(all, false)
	if own := o.Of(ctx, "a.slice/d.service"); own.Unit != "d.service" || c.n != 4 {
		t.Fatalf("after a unit appeared: %+v, %d questions; want d.service asked again", own, c.n)
	}
	o.Retain(func(p string) bool { return p != "a.slice/b.service" }, true)
	o.Of(ctx, "a.slice/b.service")
	if c.n != 5 {
		t.Fatalf("%d questions: a gone path was not forgotten", c.n)
	}
}
