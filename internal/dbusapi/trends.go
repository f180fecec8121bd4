package dbusapi

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/memrelief/memrelief/internal/engine"
)

// TrendSignature is the D-Bus signature of one GetTrends entry (and of the
// trend of a GetHistory series):
//
//	s cgroup                   the series' cgroup, "/" for the node
//	s pod_cgroup               for a container, the cgroup of its pod; else ""
//	s container                for a container, its name; else ""
//	d bytes_per_sec            trend of memory.current
//	s quality                  none, low, medium or high
//	b growing                  worth reporting (at least history.min_growth)
//	s dominant                 the component that grows most, "" when none
//	s causes                   what grows, in words, one line per component
//	t since_usec               start of the trend, µs since the epoch (0: unknown)
//	x time_to_memory_high_sec  -1 when never (no growth, no limit, too little history)
//	x time_to_memory_max_sec   -1 when never
//	x time_to_oom_sec          the node's MemAvailable reaching 0; -1 when never
//	a{sd} components           trend of each component, bytes per second
const TrendSignature = "(sssdsbsstxxxa{sd})"

// Trend is one entry of GetTrends.
type Trend struct {
	Cgroup              string
	PodCgroup           string
	Container           string
	BytesPerSec         float64
	Quality             string
	Growing             bool
	Dominant            string
	Causes              string
	SinceUsec           uint64
	TimeToMemoryHighSec int64
	TimeToMemoryMaxSec  int64
	TimeToOOMSec        int64
	Components          map[string]float64
}

func trendOf(cgroup, pod, container string, t *engine.TrendStatus) Trend {
	comps := make(map[string]float64, len(t.Components))
	for k, v := range t.Components {
		comps[clean(k)] = v
	}
	return Trend{
		Cgroup: clean(cgroup), PodCgroup: clean(pod), Container: clean(container),
		BytesPerSec: t.BytesPerSec, Quality: clean(t.Quality), Growing: t.Growing,
		Dominant: clean(t.Dominant), Causes: clean(t.Causes), SinceUsec: usec(t.Since),
		TimeToMemoryHighSec: seconds(t.ToHigh), TimeToMemoryMaxSec: seconds(t.ToMax), TimeToOOMSec: seconds(t.ToOOM),
		Components: comps,
	}
}

// seconds is a forecast on the wire: whole seconds (as the journal's
// TIME_TO_*_SEC fields), -1 for engine.NeverMet.
func seconds(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return int64(d / time.Second)
}

func fromSeconds(s int64) time.Duration {
	if s < 0 {
		return engine.NeverMet
	}
	if s > math.MaxInt64/int64(time.Second) {
		return math.MaxInt64
	}
	return time.Duration(s) * time.Second
}

// Status turns the entry back into the engine's form. Since is in the
// local zone, as the engine's bucket times are; forecasts keep whole
// seconds.
func (t Trend) Status() *engine.TrendStatus {
	ts := &engine.TrendStatus{
		BytesPerSec: t.BytesPerSec, Quality: t.Quality, Growing: t.Growing, Dominant: t.Dominant, Causes: t.Causes,
		ToHigh: fromSeconds(t.TimeToMemoryHighSec), ToMax: fromSeconds(t.TimeToMemoryMaxSec), ToOOM: fromSeconds(t.TimeToOOMSec),
		Components: map[string]float64{},
	}
	if t.SinceUsec != 0 {
		ts.Since = time.UnixMicro(int64(t.SinceUsec))
	}
	for k, v := range t.Components {
		ts.Components[k] = v
	}
	return ts
}

// trendsOf lists the series of s that have a trend: the node first, then
// the watched cgroups in the snapshot's order, then the containers of
// pods, each naming its pod's cgroup.
func trendsOf(s engine.Snapshot) []Trend {
	out := []Trend{}
	if s.Node != nil && s.Node.Trend != nil {
		out = append(out, trendOf("/", "", "", s.Node.Trend))
	}
	for _, c := range s.Cgroups {
		if c.Trend != nil {
			out = append(out, trendOf(c.Cgroup, "", "", c.Trend))
		}
	}
	for _, c := range s.Cgroups {
		for _, m := range c.Containers {
			if m.Trend != nil {
				out = append(out, trendOf(m.Cgroup, c.Cgroup, m.Name, m.Trend))
			}
		}
	}
	return out
}

func (s *Server) getTrends() ([]Trend, *dbus.Error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.QueryTimeout)
	defer cancel()
	snap, err := s.cfg.Engine.Query(ctx)
	if err != nil {
		return nil, dbus.NewError(ErrorUnavailable, []any{"memrelief did not answer: " + err.Error()})
	}
	return trendsOf(snap), nil
}

// Trends is a GetTrends answer in the engine's terms.
type Trends struct {
	// Cgroups holds the trend of the node ("/") and of each watched cgroup
	// that has one, by cgroup path.
	Cgroups map[string]*engine.TrendStatus
	// Containers holds the containers of pods that have a trend, by the
	// pod's cgroup path, in the daemon's order. CurrentBytes is not part
	// of the answer and stays 0.
	Containers map[string][]engine.ContainerStatus
}

// TrendsFrom sorts GetTrends entries into Trends.
func TrendsFrom(entries []Trend) Trends {
	tr := Trends{Cgroups: map[string]*engine.TrendStatus{}, Containers: map[string][]engine.ContainerStatus{}}
	for _, e := range entries {
		if e.PodCgroup == "" {
			tr.Cgroups[e.Cgroup] = e.Status()
			continue
		}
		tr.Containers[e.PodCgroup] = append(tr.Containers[e.PodCgroup], engine.ContainerStatus{Name: e.Container, Cgroup: e.Cgroup, Trend: e.Status()})
	}
	return tr
}

// Merge sets the trends and containers of the node and the cgroups of s
// (a snapshot from GetStatus, which carries neither).
func (tr Trends) Merge(s *engine.Snapshot) {
	set := func(c *engine.CgroupStatus) {
		c.Trend = tr.Cgroups[c.Cgroup]
		c.Containers = tr.Containers[c.Cgroup]
	}
	if s.Node != nil {
		set(s.Node)
	}
	for i := range s.Cgroups {
		set(&s.Cgroups[i])
	}
}

// GetTrends asks the daemon on conn's bus for the trend of every series it
// keeps. It fails like GetStatus; a daemon older than GetTrends answers
// with org.freedesktop.DBus.Error.UnknownMethod.
func GetTrends(ctx context.Context, conn *dbus.Conn) (Trends, error) {
	var entries []Trend
	call := conn.Object(BusName, ObjectPath).CallWithContext(ctx, Interface+".GetTrends", 0)
	if call.Err != nil {
		return Trends{}, fmt.Errorf("call %s.GetTrends: %w", Interface, call.Err)
	}
	if err := call.Store(&entries); err != nil {
		return Trends{}, fmt.Errorf("decode %s.GetTrends: %w", Interface, err)
	}
	return TrendsFrom(entries), nil
}
