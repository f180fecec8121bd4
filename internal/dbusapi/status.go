package dbusapi

import (
	"context"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/memrelief/memrelief/internal/engine"
)

// CgroupState is one entry of GetStatus's cgroup array, D-Bus signature
// (ssssstttbddb). Timestamps are microseconds since the epoch, as systemd's
// own properties (…Timestamp) are, so `busctl` users read them the same way.
type CgroupState struct {
	Cgroup               string // "/" for the node
	Unit                 string
	Pod                  string // namespace/name[/container]
	Rule                 string
	Level                string // "normal" when at no level
	LevelSinceUsec       uint64 // 0 while normal
	CurrentBytes         uint64
	SlabReclaimableBytes uint64
	HasSlab              bool
	PSISomeAvg10         float64 // percent, as in memory.pressure
	PSIFullAvg10         float64
	HasPSI               bool
}

// CgroupStateSignature is the D-Bus signature of one CgroupState.
const CgroupStateSignature = "(ssssstttbddb)"

// Daemon dictionary keys of GetStatus, named as in `memrelief status --json`.
const (
	KeyTimeUsec                 = "time_usec"
	KeyPolicy                   = "policy"
	KeyDryRun                   = "dry_run"
	KeyReloadRejected           = "reload_rejected"
	KeyVFSCachePressureManaged  = "vfs_cache_pressure_managed"
	KeyVFSCachePressure         = "vfs_cache_pressure"
	KeyVFSCachePressureOriginal = "vfs_cache_pressure_original"
	KeyLastTickUsec             = "last_tick_usec"
	KeyCgroupMode               = "cgroup_mode"
)

// Status is what GetStatus returns: (s status, a{sv} daemon,
// a(ssssstttbddb) cgroups). The node, when watched, is the first cgroup.
type Status struct {
	Line    string
	Daemon  map[string]dbus.Variant
	Cgroups []CgroupState
}

// FromSnapshot is the wire form of a snapshot.
func FromSnapshot(s engine.Snapshot) Status {
	st := Status{
		Line: clean(s.Status),
		Daemon: map[string]dbus.Variant{
			KeyTimeUsec:                 dbus.MakeVariant(usec(s.Time)),
			KeyPolicy:                   dbus.MakeVariant(clean(s.PolicySource)),
			KeyDryRun:                   dbus.MakeVariant(s.DryRun),
			KeyReloadRejected:           dbus.MakeVariant(s.Rejected),
			KeyVFSCachePressureManaged:  dbus.MakeVariant(s.VFSManaged),
			KeyVFSCachePressure:         dbus.MakeVariant(int32(s.VFSCurrent)),
			KeyVFSCachePressureOriginal: dbus.MakeVariant(int32(s.VFSOriginal)),
			KeyLastTickUsec:             dbus.MakeVariant(uint64(s.LastTick.Microseconds())),
			KeyCgroupMode:               dbus.MakeVariant(s.Mode),
		},
		Cgroups: make([]CgroupState, 0, len(s.Cgroups)+1),
	}
	if s.Node != nil {
		st.Cgroups = append(st.Cgroups, cgroupState(*s.Node))
	}
	for _, c := range s.Cgroups {
		st.Cgroups = append(st.Cgroups, cgroupState(c))
	}
	return st
}

func cgroupState(c engine.CgroupStatus) CgroupState {
	return CgroupState{
		Cgroup: clean(c.Cgroup), Unit: clean(c.Unit), Pod: clean(c.Pod), Rule: clean(c.Rule), Level: clean(c.Level),
		LevelSinceUsec: usec(c.LevelSince), CurrentBytes: c.CurrentBytes,
		SlabReclaimableBytes: c.SlabReclaimableBytes, HasSlab: c.HasSlab,
		PSISomeAvg10: c.PSISomeAvg10, PSIFullAvg10: c.PSIFullAvg10, HasPSI: c.HasPSI,
	}
}

func usec(t time.Time) uint64 {
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		return 0
	}
	return uint64(t.UnixMicro())
}

func fromUsec(u uint64) time.Time {
	if u == 0 {
		return time.Time{}
	}
	return time.UnixMicro(int64(u)).UTC()
}

// Snapshot turns a GetStatus answer back into the engine's snapshot, for
// `memrelief status` asking the running daemon. Times come back in UTC with
// microsecond precision. A daemon key missing or of another type is an
// error naming it: a newer daemon may add keys, never change them.
func (st Status) Snapshot() (engine.Snapshot, error) {
	s := engine.Snapshot{Status: st.Line, Cgroups: []engine.CgroupStatus{}}
	var t, tick uint64
	var vfs, vfsOrig int32
	for _, f := range []struct {
		key string
		dst any
	}{
		{KeyTimeUsec, &t}, {KeyPolicy, &s.PolicySource}, {KeyDryRun, &s.DryRun}, {KeyReloadRejected, &s.Rejected},
		{KeyVFSCachePressureManaged, &s.VFSManaged}, {KeyVFSCachePressure, &vfs}, {KeyVFSCachePressureOriginal, &vfsOrig},
		{KeyLastTickUsec, &tick}, {KeyCgroupMode, &s.Mode},
	} {
		v, ok := st.Daemon[f.key]
		if !ok {
			return engine.Snapshot{}, fmt.Errorf("GetStatus: daemon key %q missing", f.key)
		}
		if err := v.Store(f.dst); err != nil {
			return engine.Snapshot{}, fmt.Errorf("GetStatus: daemon key %q: %w", f.key, err)
		}
	}
	s.Time, s.LastTick = fromUsec(t), time.Duration(tick)*time.Microsecond
	s.VFSCurrent, s.VFSOriginal = int(vfs), int(vfsOrig)
	for _, c := range st.Cgroups {
		cs := engine.CgroupStatus{
			Cgroup: c.Cgroup, Unit: c.Unit, Pod: c.Pod, Rule: c.Rule, Level: c.Level, LevelSince: fromUsec(c.LevelSinceUsec),
			CurrentBytes: c.CurrentBytes, SlabReclaimableBytes: c.SlabReclaimableBytes, HasSlab: c.HasSlab,
			PSISomeAvg10: c.PSISomeAvg10, PSIFullAvg10: c.PSIFullAvg10, HasPSI: c.HasPSI,
		}
		if c.Cgroup == "/" && s.Node == nil {
			s.Node = &cs
			continue
		}
		s.Cgroups = append(s.Cgroups, cs)
	}
	return s, nil
}

// GetStatus asks the daemon on conn's bus for its status. It fails when no
// daemon owns the name, the bus policy refuses, or ctx ends first.
func GetStatus(ctx context.Context, conn *dbus.Conn) (Status, error) {
	var st Status
	call := conn.Object(BusName, ObjectPath).CallWithContext(ctx, Interface+".GetStatus", 0)
	if call.Err != nil {
		return Status{}, fmt.Errorf("call %s.GetStatus: %w", Interface, call.Err)
	}
	if err := call.Store(&st.Line, &st.Daemon, &st.Cgroups); err != nil {
		return Status{}, fmt.Errorf("decode %s.GetStatus: %w", Interface, err)
	}
	return st, nil
}

// RecentEventSignature is the D-Bus signature of one GetRecentEvents entry:
// time (µs since the epoch), kind, cgroup, action, result, message.
const RecentEventSignature = "(tsssss)"

// RecentEvent is one entry of GetRecentEvents.
type RecentEvent struct {
	TimeUsec uint64
	Kind     string
	Cgroup   string
	Action   string
	Result   string
	Message  string
}

func recentEvents(s engine.Snapshot) []RecentEvent {
	out := make([]RecentEvent, 0, len(s.Recent))
	for _, r := range s.Recent {
		out = append(out, RecentEvent{TimeUsec: usec(r.Time), Kind: clean(r.Kind), Cgroup: clean(r.Cgroup),
			Action: clean(r.Action), Result: clean(r.Result), Message: clean(r.Message)})
	}
	return out
}

// GetRecentEvents asks the daemon on conn's bus for its latest level
// changes and actions, oldest first.
func GetRecentEvents(ctx context.Context, conn *dbus.Conn) ([]engine.RecentEvent, error) {
	var evs []RecentEvent
	call := conn.Object(BusName, ObjectPath).CallWithContext(ctx, Interface+".GetRecentEvents", 0)
	if call.Err != nil {
		return nil, fmt.Errorf("call %s.GetRecentEvents: %w", Interface, call.Err)
	}
	if err := call.Store(&evs); err != nil {
		return nil, fmt.Errorf("decode %s.GetRecentEvents: %w", Interface, err)
	}
	out := make([]engine.RecentEvent, 0, len(evs))
	for _, e := range evs {
		out = append(out, engine.RecentEvent{Time: time.UnixMicro(int64(e.TimeUsec)), Kind: e.Kind, Cgroup: e.Cgroup,
			Action: e.Action, Result: e.Result, Message: e.Message})
	}
	return out, nil
}
