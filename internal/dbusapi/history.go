package dbusapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/history"
)

// ErrorNoHistory is the error GetHistory returns for a cgroup memrelief
// keeps no history of (not watched, not a container of a watched pod, or
// history.enabled = false).
const ErrorNoHistory = Interface + ".Error.NoHistory"

// HistoryFunc answers GetHistory; (*engine.Engine).History is one.
type HistoryFunc func(ctx context.Context, cgroup string, from time.Time) (engine.HistoryView, error)

// HistoryPointSignature is the D-Bus signature of one bucket of GetHistory:
//
//	t start_usec  start of the bucket, µs since the epoch
//	u samples     samples folded in; 0 is a gap (nothing else is set)
//	b open        the newest bucket, still filling
//	t peak_bytes  largest memory.current in the bucket
//	y known       bit i set when components[i] is known in every sample
//	at min_bytes  per component (in the order of components), the bucket's minimum
//	at mean_bytes per component, the bucket's mean
//
// Figures are as the history stores them: to the KiB below 2 MiB, to 12
// significant bits (1/4096) above; an unknown component reads 0 and has
// its bit clear.
const HistoryPointSignature = "(tubtyatat)"

// HistorySeriesSignature is the D-Bus signature of one series of
// GetHistory: cgroup, container name ("" unless the series is a
// container's), its buckets oldest first, and its trend (an array of one
// TrendSignature entry, empty before the first estimate; pod_cgroup in it
// is "").
const HistorySeriesSignature = "(ssa" + HistoryPointSignature + "a" + TrendSignature + ")"

// HistoryPoint is one bucket of a GetHistory series.
type HistoryPoint struct {
	StartUsec uint64
	Samples   uint32
	Open      bool
	PeakBytes uint64
	Known     uint8
	MinBytes  []uint64
	MeanBytes []uint64
}

// HistorySeries is one series of GetHistory.
type HistorySeries struct {
	Cgroup    string
	Container string
	Points    []HistoryPoint
	Trend     []Trend
}

// History is what GetHistory returns: (t step_usec, as components,
// a(ssa(tubtyatat)a(sssdsbsstxxxa{sd})) series). The first series is the
// cgroup asked for; for a pod the containers follow.
type History struct {
	StepUsec   uint64
	Components []string
	Series     []HistorySeries
}

// componentNames are the components in wire order: the history's own.
func componentNames() []string {
	out := make([]string, history.NumComponents)
	for c := range history.NumComponents {
		out[c] = c.String()
	}
	return out
}

// HistoryFromView is the wire form of a history view.
func HistoryFromView(v engine.HistoryView) History {
	h := History{StepUsec: uint64(v.Step.Microseconds()), Components: componentNames()}
	h.Series = append(h.Series, seriesOf(v))
	for _, c := range v.Containers {
		h.Series = append(h.Series, seriesOf(c))
	}
	return h
}

func seriesOf(v engine.HistoryView) HistorySeries {
	s := HistorySeries{Cgroup: clean(v.Cgroup), Container: clean(v.Name), Points: make([]HistoryPoint, 0, len(v.Points)), Trend: []Trend{}}
	for _, p := range v.Points {
		hp := HistoryPoint{StartUsec: usec(p.Start), Samples: uint32(p.Samples), Open: p.Open, PeakBytes: p.Peak,
			MinBytes: make([]uint64, history.NumComponents), MeanBytes: make([]uint64, history.NumComponents)}
		for c := range history.NumComponents {
			mn, ok := p.Min.Get(c)
			if !ok {
				continue
			}
			mean, _ := p.Mean.Get(c)
			hp.Known |= 1 << c
			hp.MinBytes[c], hp.MeanBytes[c] = mn, mean
		}
		s.Points = append(s.Points, hp)
	}
	if v.Trend != nil {
		s.Trend = append(s.Trend, trendOf(v.Cgroup, "", v.Name, v.Trend))
	}
	return s
}

// View turns the answer back into what Engine.History returned. Components
// a newer daemon names that this build does not know are left out.
func (h History) View() (engine.HistoryView, error) {
	if len(h.Series) == 0 {
		return engine.HistoryView{}, errors.New("GetHistory: no series in the answer")
	}
	known := map[string]history.Component{}
	for c := range history.NumComponents {
		known[c.String()] = c
	}
	step := time.Duration(h.StepUsec) * time.Microsecond
	view := func(s HistorySeries) (engine.HistoryView, error) {
		v := engine.HistoryView{Cgroup: s.Cgroup, Name: s.Container, Step: step}
		for _, hp := range s.Points {
			if len(hp.MinBytes) != len(h.Components) || len(hp.MeanBytes) != len(h.Components) {
				return engine.HistoryView{}, fmt.Errorf("GetHistory: %s: a point has %d minima and %d means for %d components",
					s.Cgroup, len(hp.MinBytes), len(hp.MeanBytes), len(h.Components))
			}
			p := history.Point{Start: time.UnixMicro(int64(hp.StartUsec)), Step: step, Samples: int(hp.Samples), Open: hp.Open}
			if hp.Samples > 0 {
				p.Peak = hp.PeakBytes
				for i, name := range h.Components {
					c, ok := known[name]
					if !ok || i >= 8 || hp.Known&(1<<i) == 0 {
						continue
					}
					p.Min.Set(c, hp.MinBytes[i])
					p.Mean.Set(c, hp.MeanBytes[i])
				}
			}
			v.Points = append(v.Points, p)
		}
		if len(s.Trend) > 0 {
			v.Trend = s.Trend[0].Status()
		}
		return v, nil
	}
	out, err := view(h.Series[0])
	if err != nil {
		return engine.HistoryView{}, err
	}
	for _, s := range h.Series[1:] {
		c, err := view(s)
		if err != nil {
			return engine.HistoryView{}, err
		}
		out.Containers = append(out.Containers, c)
	}
	return out, nil
}

func (s *Server) getHistory(cgroup string, sinceUsec uint64) (uint64, []string, []HistorySeries, *dbus.Error) {
	if s.cfg.History == nil {
		return 0, nil, nil, dbus.NewError(ErrorNoHistory, []any{"this memrelief serves no history"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.QueryTimeout)
	defer cancel()
	v, err := s.cfg.History(ctx, cgroup, fromUsec(sinceUsec))
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return 0, nil, nil, dbus.NewError(ErrorUnavailable, []any{"memrelief did not answer: " + err.Error()})
	case errors.Is(err, engine.ErrNoHistory):
		return 0, nil, nil, dbus.NewError(ErrorNoHistory, []any{clean(err.Error()) +
			": memrelief watches no such cgroup, nor a pod it is a container of (memrelief status lists what it watches)"})
	default:
		return 0, nil, nil, dbus.NewError(ErrorNoHistory, []any{clean(err.Error())})
	}
	h := HistoryFromView(v)
	return h.StepUsec, h.Components, h.Series, nil
}

// GetHistory asks the daemon on conn's bus for the finest history of
// cgroup ("/" for the node) since since (the zero time for all of it), and
// returns what Engine.History returned: points to the microsecond, whose
// times are in the local zone, and forecasts to the second. A cgroup the
// daemon keeps no history of gives an error wrapping engine.ErrNoHistory;
// otherwise it fails like GetStatus.
func GetHistory(ctx context.Context, conn *dbus.Conn, cgroup string, since time.Time) (engine.HistoryView, error) {
	var h History
	call := conn.Object(BusName, ObjectPath).CallWithContext(ctx, Interface+".GetHistory", 0, cgroup, usec(since))
	if call.Err != nil {
		var derr dbus.Error
		if errors.As(call.Err, &derr) && derr.Name == ErrorNoHistory {
			return engine.HistoryView{}, fmt.Errorf("%s: %w", derr.Error(), engine.ErrNoHistory)
		}
		return engine.HistoryView{}, fmt.Errorf("call %s.GetHistory: %w", Interface, call.Err)
	}
	if err := call.Store(&h.StepUsec, &h.Components, &h.Series); err != nil {
		return engine.HistoryView{}, fmt.Errorf("decode %s.GetHistory: %w", Interface, err)
	}
	return h.View()
}
