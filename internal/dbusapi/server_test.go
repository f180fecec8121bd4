package dbusapi

import (
	"context"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/fixtures"
	"github.com/memrelief/memrelief/internal/paths"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
)

// The v2-systemd fixture's pod slice holds 80 MB of reclaimable slab; the
// rule puts it at level elevated on the first tick (no dwell).
const testPolicy = `
[daemon]
interval = "200ms"
state_dir = "/run/memrelief"

[node]

[[node.level]]
name = "stalled"
enter.any = ["psi_some_avg10 >= 99%"]
exit.all = ["psi_some_avg10 < 50%"]

[[node.level.action]]
type = "event"

[[rule]]
name = "pods"
units = ["kubepods-burstable-pod*.slice"]

[[rule.level]]
name = "elevated"
enter.all = ["slab_reclaimable >= 64M"]
exit.any = ["slab_reclaimable < 32M"]
dwell = "0s"
cooldown = "1h"

[[rule.level.action]]
type = "event"

[[rule.level.action]]
type = "exec"
command = ["/bin/true"]
timeout = "5s"
`

const podSlice = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice"

// daemon is a real engine on a fixture copy, its Server on a private bus,
// and a root client subscribed to the server's signals.
type daemon struct {
	bus     *testBus
	eng     *engine.Engine
	srv     *Server
	client  *dbus.Conn
	signals chan *dbus.Signal
	reload  chan struct{}
	slab    uint64 // the pod slice's slab_reclaimable from its memory.stat
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

func startDaemon(t *testing.T) *daemon {
	t.Helper()
	return startDaemonWith(t, daemonOptions{})
}

// daemonOptions vary startDaemon's daemon.
type daemonOptions struct {
	// policy replaces testPolicy.
	policy string
	// now is the engine's clock; prepare changes the fixture copy before
	// the engine starts.
	now     func() time.Time
	prepare func(t *testing.T, roots paths.Roots)
}

func startDaemonWith(t *testing.T, o daemonOptions) *daemon {
	t.Helper()
	bus := startBus(t, policyFile)
	roots := fixtures.Copy(t, "v2-systemd")
	if o.policy == "" {
		o.policy = testPolicy
	}
	if o.prepare != nil {
		o.prepare(t, roots)
	}
	pol, err := policy.Parse("test.toml", []byte(o.policy))
	if err != nil {
		t.Fatal(err)
	}
	reloaded := strings.Replace(o.policy, "[daemon]\n", "[daemon]\ndry_run = true\n", 1)
	layout, err := cgroupfs.DetectLayout(roots.Cgroup, func(string) (int64, error) { return cgroupfs.Cgroup2Magic, nil })
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{bus: bus, reload: make(chan struct{}, 1), slab: statValue(t, filepath.Join(roots.Cgroup, podSlice, "memory.stat"), "slab_reclaimable")}
	problems := &report.Recorder{}
	d.srv = New(Config{
		Dial: bus.dial, Engine: QueryFunc(func(ctx context.Context) (engine.Snapshot, error) { return d.eng.Query(ctx) }),
		History: func(ctx context.Context, cg string, from time.Time) (engine.HistoryView, error) {
			return d.eng.History(ctx, cg, from)
		},
		Reload: d.reload, Problems: problems, Signals: true, RetryEvery: 100 * time.Millisecond,
		Props: Props{Mode: string(layout.Mode), CgroupVersion: 2, Driver: "systemd", PolicyFile: pol.Source},
	})
	d.eng = engine.New(engine.Config{
		Roots: roots, Layout: layout, Policy: pol, Sink: report.Multi{problems, d.srv}, Now: o.now,
		LoadPolicy: func() (*policy.Policy, error) { return policy.Parse("reloaded.toml", []byte(reloaded)) },
	})

	d.client = bus.conn(t)
	if err := d.client.AddMatchSignal(dbus.WithMatchObjectPath(ObjectPath)); err != nil {
		t.Fatal(err)
	}
	d.signals = make(chan *dbus.Signal, 64)
	d.client.Signal(d.signals)

	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.done.Add(2)
	go func() { defer d.done.Done(); d.srv.Run(ctx) }()
	waitOwner(t, d.client, BusName)
	go func() { defer d.done.Done(); d.eng.Run(ctx, d.reload) }()
	t.Cleanup(func() {
		d.cancel()
		d.done.Wait()
		for _, e := range problems.Events() {
			if e.Kind == report.Problem {
				t.Errorf("unexpected problem: %s", e.Message)
			}
		}
	})
	return d
}

func statValue(t *testing.T, path, key string) uint64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key+" "); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("%s: %s: %v", path, key, err)
			}
			return n
		}
	}
	t.Fatalf("%s has no %s", path, key)
	return 0
}

// waitSignal returns the first signal named member, failing after 10s.
func (d *daemon) waitSignal(t *testing.T, member string) *dbus.Signal {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case s := <-d.signals:
			if s.Name == member {
				return s
			}
		case <-timeout:
			t.Fatalf("no %s signal within 10s", member)
			return nil
		}
	}
}

func (d *daemon) obj() dbus.BusObject { return d.client.Object(BusName, ObjectPath) }

func TestProperties(t *testing.T) {
	d := startDaemon(t)
	want := map[string]any{"Mode": "unified", "CgroupVersion": uint32(2), "Driver": "systemd", "PolicyFile": "test.toml", "DryRun": false}
	for name, v := range want {
		got, err := d.obj().GetProperty(Interface + "." + name)
		if err != nil {
			t.Fatalf("Get %s: %v", name, err)
		}
		if !reflect.DeepEqual(got.Value(), v) {
			t.Errorf("%s = %#v, want %#v", name, got.Value(), v)
		}
	}
	var all map[string]dbus.Variant
	if err := d.obj().Call(propsInterface+".GetAll", 0, Interface).Store(&all); err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Errorf("GetAll returned %d properties, want %d: %v", len(all), len(want), all)
	}
	err := d.obj().Call(propsInterface+".Set", 0, Interface, "DryRun", dbus.MakeVariant(true)).Err
	var derr dbus.Error
	if !errors.As(err, &derr) || derr.Name != "org.freedesktop.DBus.Error.PropertyReadOnly" {
		t.Errorf("Set DryRun: %v, want PropertyReadOnly", err)
	}
	if _, err := d.obj().GetProperty(Interface + ".NoSuch"); err == nil {
		t.Error("Get of an unknown property succeeded")
	}
}

func TestGetStatusAnswersWithTheEnginesFigures(t *testing.T) {
	d := startDaemon(t)
	d.waitSignal(t, Interface+".LevelChanged") // the first tick is done
	st, err := GetStatus(context.Background(), d.client)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	want, err := d.eng.Query(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != want.Status || !strings.HasPrefix(got.Status, "watching 1 cgroups; 1 at level elevated") {
		t.Errorf("status line %q, engine says %q", got.Status, want.Status)
	}
	if got.PolicySource != "test.toml" || got.DryRun || got.Rejected || got.Mode != "unified" || got.LastTick <= 0 {
		t.Errorf("daemon fields: %+v", got)
	}
	if got.Time.IsZero() || got.Time.Sub(want.Time).Abs() > time.Minute {
		t.Errorf("time %v, engine %v", got.Time, want.Time)
	}
	if got.Node == nil || want.Node == nil || got.Node.Cgroup != "/" || got.Node.Rule != want.Node.Rule || got.Node.CurrentBytes != want.Node.CurrentBytes {
		t.Errorf("node %+v, engine %+v", got.Node, want.Node)
	}
	if len(got.Cgroups) != 1 || len(want.Cgroups) != 1 {
		t.Fatalf("cgroups %+v, engine %+v", got.Cgroups, want.Cgroups)
	}
	g, w := got.Cgroups[0], want.Cgroups[0]
	if !g.LevelSince.Equal(w.LevelSince.Truncate(time.Microsecond)) {
		t.Errorf("level since %v, engine %v", g.LevelSince, w.LevelSince)
	}
	g.LevelSince, w.LevelSince = time.Time{}, time.Time{}
	// Trends travel by GetTrends, not GetStatus; kernel memory is in the
	// metrics and status JSON, not in GetStatus's struct.
	w.Trend, w.Containers = nil, nil
	w.KernelMemoryBytes, w.HasKernel = 0, false
	if !reflect.DeepEqual(g, w) {
		t.Errorf("cgroup\n got %+v\nwant %+v", g, w)
	}
	if g.Cgroup != "/"+podSlice || g.Level != "elevated" || g.Rule != "pods" || !g.HasSlab || g.SlabReclaimableBytes != d.slab || g.CurrentBytes == 0 {
		t.Errorf("pod slice %+v, want level elevated and slab %d from its memory.stat", g, d.slab)
	}
}

func TestGetRecentEvents(t *testing.T) {
	d := startDaemon(t)
	d.waitSignal(t, Interface+".LevelChanged")
	got, err := GetRecentEvents(context.Background(), d.client)
	if err != nil {
		t.Fatal(err)
	}
	want, err := d.eng.Query(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || len(got) > len(want.Recent) {
		t.Fatalf("%d recent events over D-Bus, engine has %d", len(got), len(want.Recent))
	}
	first := got[0]
	if first.Kind != "level_changed" || first.Cgroup != "/"+podSlice || !strings.Contains(first.Message, "entered level elevated") ||
		!first.Time.Equal(want.Recent[0].Time.Truncate(time.Microsecond)) {
		t.Fatalf("first recent event %+v, engine %+v", first, want.Recent[0])
	}
	// The declared signature is the one the method really returns.
	evs, derr := d.srv.getRecentEvents()
	if derr != nil {
		t.Fatal(derr)
	}
	if sig := dbus.SignatureOf(evs).String(); sig != "a"+RecentEventSignature {
		t.Errorf("GetRecentEvents returns %s", sig)
	}
}

func TestSignalsCarryTheJournalFields(t *testing.T) {
	d := startDaemon(t)
	lc := d.waitSignal(t, Interface+".LevelChanged")
	var cg, unit, rule, level, prev, msg string
	var fields map[string]string
	if err := dbus.Store(lc.Body, &cg, &unit, &rule, &level, &prev, &msg, &fields); err != nil {
		t.Fatalf("LevelChanged body %v: %v", lc.Body, err)
	}
	if cg != "/"+podSlice || unit != "kubepods-burstable-pod1234_5678.slice" || rule != "pods" || level != "elevated" || prev != "normal" {
		t.Errorf("LevelChanged(%q, %q, %q, %q, %q)", cg, unit, rule, level, prev)
	}
	if !strings.Contains(msg, "entered level elevated") {
		t.Errorf("message %q", msg)
	}
	for k, v := range map[string]string{report.FieldCgroup: cg, report.FieldUnit: unit, report.FieldRule: "pods", report.FieldLevel: "elevated",
		report.FieldPreviousLevel: "normal", report.FieldSlabReclaimable: strconv.FormatUint(d.slab, 10)} {
		if fields[k] != v {
			t.Errorf("fields[%s] = %q, want %q (all: %v)", k, fields[k], v, fields)
		}
	}

	at := d.waitSignal(t, Interface+".ActionTaken")
	var action, result string
	if err := dbus.Store(at.Body, &cg, &unit, &rule, &action, &result, &msg, &fields); err != nil {
		t.Fatalf("ActionTaken body %v: %v", at.Body, err)
	}
	if cg != "/"+podSlice || rule != "pods" || action != "exec" || result != "ok" || fields[report.FieldAction] != "exec" || fields[report.FieldResult] != "ok" {
		t.Errorf("ActionTaken(%q, %q, %q, %q, %q) fields %v", cg, unit, rule, action, result, fields)
	}
}

func TestSignalsOff(t *testing.T) {
	s := New(Config{})
	s.SetSignals(false)
	s.Emit(report.Event{Kind: report.LevelChanged, Fields: map[string]string{}})
	s.Emit(report.Event{Kind: report.ActionTaken, Fields: map[string]string{}})
	if n := len(s.out); n != 0 {
		t.Errorf("%d signals queued with signals off", n)
	}
	s.SetSignals(true)
	s.Emit(report.Event{Kind: report.ActionTaken, Fields: map[string]string{}})
	s.Emit(report.Event{Kind: report.Problem, Fields: map[string]string{}})
	if n := len(s.out); n != 1 {
		t.Errorf("%d signals queued, want 1 (ActionTaken; problems are not signals)", n)
	}
}

func TestReloadReloadsAndPropertiesFollow(t *testing.T) {
	d := startDaemon(t)
	if err := d.obj().Call(Interface+".Reload", 0).Err; err != nil {
		t.Fatalf("Reload as root: %v", err)
	}
	pc := d.waitSignal(t, propsInterface+".PropertiesChanged")
	var iface string
	var changed map[string]dbus.Variant
	var invalidated []string
	if err := dbus.Store(pc.Body, &iface, &changed, &invalidated); err != nil {
		t.Fatal(err)
	}
	if iface != Interface || changed["DryRun"].Value() != true || changed["PolicyFile"].Value() != "reloaded.toml" {
		t.Errorf("PropertiesChanged(%q, %v, %v)", iface, changed, invalidated)
	}
	got, err := d.obj().GetProperty(Interface + ".DryRun")
	if err != nil || got.Value() != true {
		t.Errorf("DryRun after reload = %v, %v", got, err)
	}
}

func TestReloadFeedsTheChannelWithoutBlocking(t *testing.T) {
	ch := make(chan struct{}, 1)
	s := New(Config{Reload: ch})
	for range 3 {
		if err := s.reload(); err != nil {
			t.Fatal(err)
		}
	}
	if len(ch) != 1 {
		t.Errorf("%d reloads pending, want 1 (SIGHUP's semantics)", len(ch))
	}
}

func TestIntrospection(t *testing.T) {
	d := startDaemon(t)
	node, err := introspect.Call(d.obj())
	if err != nil {
		t.Fatal(err)
	}
	var api *introspect.Interface
	var names []string
	for i, in := range node.Interfaces {
		names = append(names, in.Name)
		if in.Name == Interface {
			api = &node.Interfaces[i]
		}
	}
	for _, want := range []string{Interface, propsInterface, introspectInterface, "org.freedesktop.DBus.Peer"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("interfaces %v lack %s", names, want)
		}
	}
	if api == nil {
		t.Fatal("no " + Interface)
	}
	var got []string
	for _, m := range api.Methods {
		got = append(got, "method "+m.Name)
	}
	for _, s := range api.Signals {
		got = append(got, "signal "+s.Name)
	}
	for _, p := range api.Properties {
		got = append(got, "property "+p.Name+" "+p.Type+" "+p.Access)
	}
	want := []string{"method GetStatus", "method GetRecentEvents", "method GetTrends", "method GetHistory", "method Reload", "signal LevelChanged", "signal ActionTaken",
		"property Mode s read", "property CgroupVersion u read", "property Driver s read", "property PolicyFile s read", "property DryRun b read"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("introspection lists\n%v\nwant\n%v", got, want)
	}
	if out := api.Methods[0].Args; len(out) != 3 || out[2].Type != "a"+CgroupStateSignature {
		t.Errorf("GetStatus args %+v", out)
	}
	// The declared signature is the one the method really returns.
	line, daemon, cgroups, derr := d.srv.getStatus()
	if derr != nil {
		t.Fatal(derr)
	}
	if sig := dbus.SignatureOf(line, daemon, cgroups).String(); sig != "sa{sv}a"+CgroupStateSignature {
		t.Errorf("GetStatus returns %s", sig)
	}
	declared := func(m introspect.Method, dir string) string {
		var sig string
		for _, a := range m.Args {
			if a.Direction == dir {
				sig += a.Type
			}
		}
		return sig
	}
	trends, derr := d.srv.getTrends()
	if derr != nil {
		t.Fatal(derr)
	}
	if sig, decl := dbus.SignatureOf(trends).String(), declared(api.Methods[2], "out"); sig != decl || decl != "a"+TrendSignature {
		t.Errorf("GetTrends returns %s, declares %s", sig, decl)
	}
	step, comps, series, derr := d.srv.getHistory("/", 0)
	if derr != nil {
		t.Fatal(derr)
	}
	if sig, decl := dbus.SignatureOf(step, comps, series).String(), declared(api.Methods[3], "out"); sig != decl {
		t.Errorf("GetHistory returns %s, declares %s", sig, decl)
	}
	if in := declared(api.Methods[3], "in"); in != "st" {
		t.Errorf("GetHistory takes %s, want st", in)
	}
	// From "/" down, so `busctl tree` finds the object.
	for _, p := range []dbus.ObjectPath{"/", "/org", "/org/memrelief"} {
		n, err := introspect.Call(d.client.Object(BusName, p))
		if err != nil {
			t.Fatalf("introspect %s: %v", p, err)
		}
		if len(n.Children) != 1 {
			t.Errorf("%s has children %+v", p, n.Children)
		}
	}
	if err := xml.Unmarshal([]byte(Introspection()), new(introspect.Node)); err != nil {
		t.Errorf("Introspection() is not valid XML: %v", err)
	}
}

// TestPolicyNonRootCaller runs dbus-send as nobody: the shipped policy lets
// it read properties and call GetStatus, and refuses Reload and Set.
func TestPolicyNonRootCaller(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("SKIP: needs root to run a caller under another uid; the bus policy is NOT tested")
	}
	d := startDaemon(t)
	const nobody = 65534
	send := func(uid uint32, args ...string) (string, error) {
		return d.bus.run(t, uid, "dbus-send", append([]string{"--system", "--print-reply", "--dest=" + BusName, string(ObjectPath)}, args...)...)
	}

	mustOK := must(t)
	out := mustOK(send(nobody, Interface+".GetStatus"))
	contains(t, out, `string "watching`, `"/`+podSlice+`"`)
	out = mustOK(send(nobody, Interface+".GetRecentEvents"))
	contains(t, out, `string "level_changed"`)
	mustOK(send(nobody, Interface+".GetTrends"))
	out = mustOK(send(nobody, Interface+".GetHistory", "string:/", "uint64:0"))
	contains(t, out, `string "current"`, `string "/"`)
	// Refused by the daemon, not by the bus.
	out, err := send(nobody, Interface+".GetHistory", "string:/system.slice", "uint64:0")
	if err == nil {
		t.Errorf("GetHistory of an unwatched cgroup succeeded:\n%s", out)
	}
	contains(t, out, ErrorNoHistory)
	out = mustOK(send(nobody, propsInterface+".Get", "string:"+Interface, "string:DryRun"))
	contains(t, out, "boolean false")
	out = mustOK(send(nobody, introspectInterface+".Introspect"))
	contains(t, out, `<method name="Reload">`)

	for _, call := range [][]string{
		{Interface + ".Reload"},
		{propsInterface + ".Set", "string:" + Interface, "string:DryRun", "variant:boolean:true"},
		{Interface + ".NoSuchMethod"},
	} {
		out, err := send(nobody, call...)
		if err == nil {
			t.Errorf("%s as nobody succeeded:\n%s", call[0], out)
			continue
		}
		// The bus refused it, not the daemon: the message names the policy.
		contains(t, out, "org.freedesktop.DBus.Error.AccessDenied", "Rejected send message")
	}
	// A reload would have turned dry run on (see startDaemon); give the
	// loop a few ticks to show one did not happen.
	time.Sleep(600 * time.Millisecond)
	if v, err := d.obj().GetProperty(Interface + ".DryRun"); err != nil || v.Value() != false {
		t.Errorf("DryRun = %v, %v after refused reloads: one went through", v, err)
	}
	// Root may reload.
	mustOK(send(0, Interface+".Reload"))
	d.waitSignal(t, propsInterface+".PropertiesChanged")
	if v, err := d.obj().GetProperty(Interface + ".DryRun"); err != nil || v.Value() != true {
		t.Errorf("DryRun = %v, %v after root's reload", v, err)
	}
}

// TestPolicyOwnership: only root may own the name.
func TestPolicyOwnership(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("SKIP: needs root to run a caller under another uid; the bus policy is NOT tested")
	}
	bus := startBus(t, policyFile)
	out, err := bus.run(t, 65534, "gdbus", "call", "--system", "--dest", "org.freedesktop.DBus", "--object-path", "/org/freedesktop/DBus",
		"--method", "org.freedesktop.DBus.RequestName", BusName, "4")
	if err == nil {
		t.Fatalf("nobody took %s:\n%s", BusName, out)
	}
	contains(t, out, "AccessDenied")
	c := bus.conn(t)
	reply, err := c.RequestName(BusName, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Errorf("root RequestName: %v, %v", reply, err)
	}
}

func TestNameTakenReportedOnceThenRecovers(t *testing.T) {
	bus := startBus(t, policyFile)
	squatter, err := dbus.Connect(bus.addr)
	if err != nil {
		t.Fatal(err)
	}
	if reply, err := squatter.RequestName(BusName, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("squatter: %v %v", reply, err)
	}
	rec := &report.Recorder{}
	s := New(Config{Dial: bus.dial, Problems: rec, RetryEvery: 20 * time.Millisecond,
		Engine: QueryFunc(func(context.Context) (engine.Snapshot, error) { return engine.Snapshot{Status: "fake"}, nil })})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	time.Sleep(300 * time.Millisecond) // many retries
	evs := rec.Events()
	if len(evs) != 1 || evs[0].Kind != report.Problem || !strings.Contains(evs[0].Message, "owned by another connection") {
		t.Fatalf("events while the name is taken: %+v", evs)
	}
	squatter.Close()
	c := bus.conn(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := GetStatus(context.Background(), c)
		if err == nil && st.Line == "fake" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not take the name after the squatter left: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(rec.Events()); n != 1 {
		t.Errorf("%d problem events, want 1", n)
	}
}

func TestNoBusReportedOnce(t *testing.T) {
	rec := &report.Recorder{}
	var dials int
	var mu sync.Mutex
	s := New(Config{Problems: rec, RetryEvery: time.Millisecond, Dial: func(context.Context) (Conn, error) {
		mu.Lock()
		defer mu.Unlock()
		dials++
		return nil, errors.New("dial unix /run/dbus/system_bus_socket: connect: no such file or directory")
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	s.Run(ctx) // returns when ctx ends
	mu.Lock()
	defer mu.Unlock()
	evs := rec.Events()
	if dials < 2 || len(evs) != 1 || !strings.Contains(evs[0].Message, "no such file") || evs[0].Priority != report.Warning {
		t.Errorf("%d dials, events %+v", dials, evs)
	}
}

func TestGetStatusWhenEngineDoesNotAnswer(t *testing.T) {
	s := New(Config{QueryTimeout: 10 * time.Millisecond, Engine: QueryFunc(func(ctx context.Context) (engine.Snapshot, error) {
		<-ctx.Done()
		return engine.Snapshot{}, ctx.Err()
	})})
	_, _, _, err := s.getStatus()
	if err == nil || err.Name != ErrorUnavailable {
		t.Errorf("getStatus: %v, want %s", err, ErrorUnavailable)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 24, 6, 0, 0, 123456789, time.UTC)
	in := engine.Snapshot{
		Time: at, Status: "watching 2 cgroups; 1 at level high", PolicySource: "/etc/memrelief/policy.toml", DryRun: true,
		Rejected: true, VFSManaged: true, VFSOriginal: 100, VFSCurrent: 200, LastTick: 1500 * time.Microsecond, Mode: "hybrid",
		Node: &engine.CgroupStatus{Cgroup: "/", Rule: "node", Level: "normal", CurrentBytes: 1 << 30, HasPSI: true, PSISomeAvg10: 1.5},
		Cgroups: []engine.CgroupStatus{
			{Cgroup: "/a.slice", Unit: "a.slice", Rule: "slices", Level: "high", LevelSince: at.Add(-time.Minute),
				CurrentBytes: 5, SlabReclaimableBytes: 3, HasSlab: true, PSISomeAvg10: 12.25, PSIFullAvg10: 3.5, HasPSI: true},
			{Cgroup: "/kubepods/pod1", Pod: "ns/name", Rule: "pods", Level: "normal"},
		},
	}
	out, err := FromSnapshot(in).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	in.Time = in.Time.Truncate(time.Microsecond)
	in.Cgroups[0].LevelSince = in.Cgroups[0].LevelSince.Truncate(time.Microsecond)
	if !reflect.DeepEqual(out, in) {
		t.Errorf("round trip\n got %+v\nwant %+v", out, in)
	}
	st := FromSnapshot(in)
	delete(st.Daemon, KeyDryRun)
	if _, err := st.Snapshot(); err == nil || !strings.Contains(err.Error(), `"dry_run" missing`) {
		t.Errorf("missing key: %v", err)
	}
	st = FromSnapshot(in)
	st.Daemon[KeyDryRun] = dbus.MakeVariant("yes")
	if _, err := st.Snapshot(); err == nil || !strings.Contains(err.Error(), `"dry_run"`) {
		t.Errorf("wrong type: %v", err)
	}
}

func TestCleanKeepsStringsValid(t *testing.T) {
	for in, want := range map[string]string{"ok": "ok", "a\x00b": "a\uFFFDb", "bad\xffutf8": "bad\uFFFDutf8"} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
	o := signalOf(report.Event{Kind: report.LevelChanged, Message: "m\x00", Fields: map[string]string{report.FieldCgroup: "/x\xff"}})
	if o.args[0] != "/x\uFFFD" || o.args[5] != "m\uFFFD" {
		t.Errorf("signal args %q", o.args)
	}
}
