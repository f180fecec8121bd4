// Package dbusapi exports memrelief on the system bus: the well-known name
// org.memrelief.MemRelief1 with one object, /org/memrelief/MemRelief1, whose
// interface of the same name has read-only properties (Mode, CgroupVersion,
// Driver, PolicyFile, DryRun), the methods GetStatus, GetRecentEvents,
// GetTrends, GetHistory and Reload, and the signals LevelChanged and
// ActionTaken. The "1" is the interface version: a
// change that breaks callers gets a new name, the old one stays.
//
// Who may call what is the bus policy's business
// (packaging/dbus/org.memrelief.MemRelief1.conf), not the daemon's: without
// that file the system bus lets nobody call it at all.
//
// The daemon degrades, never dies: without a bus, or with the name owned by
// someone else, Server reports a problem once and tries again now and then.
package dbusapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/report"
)

// Names on the bus. The interface is versioned by its name.
const (
	BusName    = "org.memrelief.MemRelief1"
	ObjectPath = dbus.ObjectPath("/org/memrelief/MemRelief1")
	Interface  = "org.memrelief.MemRelief1"
	// ErrorUnavailable is the error the Get methods return when the engine
	// did not answer in time (busy in a long tick, or stopping).
	ErrorUnavailable = Interface + ".Error.Unavailable"
)

const (
	propsInterface      = "org.freedesktop.DBus.Properties"
	introspectInterface = "org.freedesktop.DBus.Introspectable"
)

// Conn is the part of a bus connection the server uses; *dbus.Conn has it.
// Tests hand in connections to a private bus.
type Conn interface {
	RequestName(name string, flags dbus.RequestNameFlags) (dbus.RequestNameReply, error)
	ExportMethodTable(methods map[string]any, path dbus.ObjectPath, iface string) error
	Emit(path dbus.ObjectPath, name string, values ...any) error
	// Context is done when the connection is lost.
	Context() context.Context
	Close() error
}

var _ Conn = (*dbus.Conn)(nil)

// Dialer opens a connection to the bus.
type Dialer func(ctx context.Context) (Conn, error)

// SystemBus dials the system bus. The connection closes when ctx ends.
func SystemBus(ctx context.Context) (Conn, error) {
	c, err := dbus.ConnectSystemBus(dbus.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Querier answers with the engine's state; *engine.Engine is one.
type Querier interface {
	Query(ctx context.Context) (engine.Snapshot, error)
}

// QueryFunc adapts a function to Querier.
type QueryFunc func(ctx context.Context) (engine.Snapshot, error)

// Query implements Querier.
func (f QueryFunc) Query(ctx context.Context) (engine.Snapshot, error) { return f(ctx) }

// Props are the object's properties.
type Props struct {
	// Mode is the cgroup layout: unified, hybrid or legacy.
	Mode string
	// CgroupVersion is the version of the hierarchy the memory controller
	// is on: 2 on unified hosts, 1 on hybrid and legacy ones.
	CgroupVersion uint32
	// Driver is the Kubernetes cgroup driver the tree shows: systemd,
	// cgroupfs, both, or "" without pods.
	Driver string
	// PolicyFile is where the policy in force came from.
	PolicyFile string
	// DryRun is true while memrelief changes nothing.
	DryRun bool
}

// Config wires a Server.
type Config struct {
	// Dial opens the bus; SystemBus for the daemon.
	Dial Dialer
	// Engine answers GetStatus, GetRecentEvents and GetTrends.
	Engine Querier
	// History answers GetHistory; nil answers every call with
	// ErrorNoHistory.
	History HistoryFunc
	// Reload receives one value per Reload call, as SIGHUP does; a reload
	// already pending absorbs the request.
	Reload chan<- struct{}
	// Props are the initial properties; PolicyFile and DryRun follow the
	// Started and PolicyLoaded events from then on.
	Props Props
	// Problems receives the server's own trouble (the bus is gone, the
	// name is taken), once per outage. It must not be the Server itself.
	Problems report.Sink
	// Signals says whether LevelChanged and ActionTaken are sent at first
	// (the policy's daemon.sinks holds "dbus"); SetSignals changes it.
	Signals bool
	// QueryTimeout bounds each method's wait for the engine; 5 s when 0.
	QueryTimeout time.Duration
	// RetryEvery is the pause between attempts to get on the bus; 30 s
	// when 0.
	RetryEvery time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Server exports the object and is a report.Sink turning events into
// signals. Create with New, then Run it.
type Server struct {
	cfg     Config
	signals atomic.Bool
	// out holds signals for Run to send, so Emit never waits on the bus.
	out     chan outgoing
	dropped atomic.Uint64

	mu    sync.Mutex
	props Props // guarded by mu
}

type outgoing struct {
	member string
	args   []any
}

// New builds a Server; Run puts it on the bus.
func New(cfg Config) *Server {
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = 5 * time.Second
	}
	if cfg.RetryEvery == 0 {
		cfg.RetryEvery = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, props: cfg.Props, out: make(chan outgoing, 256)}
	s.signals.Store(cfg.Signals)
	return s
}

// SetSignals turns LevelChanged and ActionTaken on or off (on reload, when
// the policy's daemon.sinks changes).
func (s *Server) SetSignals(on bool) { s.signals.Store(on) }

// Run keeps the object on the bus until ctx ends: it connects, exports,
// takes the name and sends queued signals; when the bus is unreachable,
// the name taken or the connection lost, it reports a problem once and
// tries again every RetryEvery. It returns when ctx is done.
func (s *Server) Run(ctx context.Context) {
	reported := false
	for {
		conn, err := s.connect(ctx)
		if err == nil {
			reported = false
			err = s.serve(ctx, conn)
			conn.Close()
		}
		if ctx.Err() != nil {
			return
		}
		if !reported {
			reported = true
			s.problem(err)
		}
		t := time.NewTimer(s.cfg.RetryEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (s *Server) problem(err error) {
	if s.cfg.Problems == nil {
		return
	}
	s.cfg.Problems.Emit(report.Event{Time: s.cfg.Now(), Kind: report.Problem, Priority: report.Warning,
		Message: fmt.Sprintf("D-Bus API %s unavailable, retrying every %s: %v", BusName, s.cfg.RetryEvery, err),
		Fields:  map[string]string{report.FieldError: err.Error()}})
}

// connect dials, exports everything, then asks for the name: a caller that
// sees the name finds the object complete.
func (s *Server) connect(ctx context.Context) (Conn, error) {
	conn, err := s.cfg.Dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to the bus: %w", err)
	}
	if err := s.export(conn); err != nil {
		conn.Close()
		return nil, err
	}
	reply, err := conn.RequestName(BusName, dbus.NameFlagDoNotQueue)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("request name %s: %w", BusName, err)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		conn.Close()
		return nil, fmt.Errorf("request name %s: owned by another connection (is another memrelief running?)", BusName)
	}
	return conn, nil
}

// table is one interface's methods at one path.
type table struct {
	path    dbus.ObjectPath
	iface   string
	methods map[string]any
}

func (s *Server) export(conn Conn) error {
	tables := []table{
		{ObjectPath, Interface, map[string]any{"GetStatus": s.getStatus, "GetRecentEvents": s.getRecentEvents,
			"GetTrends": s.getTrends, "GetHistory": s.getHistory, "Reload": s.reload}},
		{ObjectPath, propsInterface, map[string]any{"Get": s.propGet, "GetAll": s.propGetAll, "Set": s.propSet}},
		{ObjectPath, introspectInterface, map[string]any{"Introspect": introspectMethod(objectXML())}},
	}
	// The parents introspect to their child, so `busctl tree` and d-feet
	// find the object from "/".
	for _, p := range parents() {
		tables = append(tables, table{p.path, introspectInterface, map[string]any{"Introspect": introspectMethod(p.xml)}})
	}
	for _, t := range tables {
		if err := conn.ExportMethodTable(t.methods, t.path, t.iface); err != nil {
			return fmt.Errorf("export %s on %s: %w", t.iface, t.path, err)
		}
	}
	return nil
}

func introspectMethod(xml string) func() (string, *dbus.Error) {
	return func() (string, *dbus.Error) { return xml, nil }
}

// serve sends queued signals until ctx ends or the connection is lost.
func (s *Server) serve(ctx context.Context, conn Conn) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-conn.Context().Done():
			return errors.New("connection to the bus lost")
		case o := <-s.out:
			if err := conn.Emit(ObjectPath, o.member, o.args...); err != nil {
				return fmt.Errorf("send %s: %w", o.member, err)
			}
		}
	}
}

func (s *Server) getStatus() (string, map[string]dbus.Variant, []CgroupState, *dbus.Error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.QueryTimeout)
	defer cancel()
	snap, err := s.cfg.Engine.Query(ctx)
	if err != nil {
		return "", nil, nil, dbus.NewError(ErrorUnavailable, []any{"memrelief did not answer: " + err.Error()})
	}
	st := FromSnapshot(snap)
	return st.Line, st.Daemon, st.Cgroups, nil
}

func (s *Server) getRecentEvents() ([]RecentEvent, *dbus.Error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.QueryTimeout)
	defer cancel()
	snap, err := s.cfg.Engine.Query(ctx)
	if err != nil {
		return nil, dbus.NewError(ErrorUnavailable, []any{"memrelief did not answer: " + err.Error()})
	}
	return recentEvents(snap), nil
}

func (s *Server) reload() *dbus.Error {
	select {
	case s.cfg.Reload <- struct{}{}:
	default:
	}
	return nil
}

// Emit implements report.Sink: PolicyFile and DryRun follow Started and
// PolicyLoaded; LevelChanged and ActionTaken become signals while they are
// on. It never waits on the bus: when the queue is full the signal is
// dropped and counted.
func (s *Server) Emit(ev report.Event) {
	switch ev.Kind {
	case report.Started, report.PolicyLoaded:
		s.updateProps(ev)
	case report.LevelChanged, report.ActionTaken:
		if s.signals.Load() {
			s.queue(signalOf(ev))
		}
	}
}

func (s *Server) queue(o outgoing) {
	select {
	case s.out <- o:
	default:
		s.dropped.Add(1)
	}
}

// Dropped is how many signals were dropped because the bus did not take
// them fast enough.
func (s *Server) Dropped() uint64 { return s.dropped.Load() }

func (s *Server) updateProps(ev report.Event) {
	s.mu.Lock()
	changed := map[string]dbus.Variant{}
	if p, ok := ev.Fields[report.FieldPolicy]; ok && clean(p) != s.props.PolicyFile {
		p = clean(p)
		s.props.PolicyFile = p
		changed["PolicyFile"] = dbus.MakeVariant(p)
	}
	// The engine marks every event of a dry run, so the flag on these two
	// is the policy's (or --dry-run's) verdict after the load.
	if dry := ev.Fields[report.FieldDryRun] == "1"; dry != s.props.DryRun {
		s.props.DryRun = dry
		changed["DryRun"] = dbus.MakeVariant(dry)
	}
	s.mu.Unlock()
	if len(changed) > 0 {
		s.queue(outgoing{propsInterface + ".PropertiesChanged", []any{Interface, changed, []string{}}})
	}
}

func (s *Server) propMap() map[string]dbus.Variant {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.props
	return map[string]dbus.Variant{
		"Mode":          dbus.MakeVariant(p.Mode),
		"CgroupVersion": dbus.MakeVariant(p.CgroupVersion),
		"Driver":        dbus.MakeVariant(p.Driver),
		"PolicyFile":    dbus.MakeVariant(p.PolicyFile),
		"DryRun":        dbus.MakeVariant(p.DryRun),
	}
}

func (s *Server) propGet(iface, name string) (dbus.Variant, *dbus.Error) {
	if iface != Interface && iface != "" {
		return dbus.Variant{}, unknownInterface(iface)
	}
	v, ok := s.propMap()[name]
	if !ok {
		return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{"no property " + name + " on " + Interface})
	}
	return v, nil
}

func (s *Server) propGetAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	if iface != Interface && iface != "" {
		return nil, unknownInterface(iface)
	}
	return s.propMap(), nil
}

func (s *Server) propSet(iface, name string, _ dbus.Variant) *dbus.Error {
	return dbus.NewError("org.freedesktop.DBus.Error.PropertyReadOnly", []any{"property " + name + " of " + Interface + " is read-only"})
}

func unknownInterface(iface string) *dbus.Error {
	return dbus.NewError("org.freedesktop.DBus.Error.UnknownInterface", []any{"no interface " + iface + " on " + string(ObjectPath)})
}

// signalOf turns an event into its signal; the arguments are documented in
// the introspection data (introspect.go).
func signalOf(ev report.Event) outgoing {
	f := make(map[string]string, len(ev.Fields))
	for k, v := range ev.Fields {
		f[clean(k)] = clean(v)
	}
	fields := f
	if ev.Kind == report.LevelChanged {
		return outgoing{Interface + ".LevelChanged", []any{
			f[report.FieldCgroup], f[report.FieldUnit], f[report.FieldRule], f[report.FieldLevel], f[report.FieldPreviousLevel],
			clean(ev.Message), fields}}
	}
	return outgoing{Interface + ".ActionTaken", []any{
		f[report.FieldCgroup], f[report.FieldUnit], f[report.FieldRule], f[report.FieldAction], f[report.FieldResult],
		clean(ev.Message), fields}}
}

// clean keeps a D-Bus string valid: the wire format takes UTF-8 without NUL,
// and cgroup or unit names from the kernel are not guaranteed to be either.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

var _ report.Sink = (*Server)(nil)
