package history

import (
	"math"
	"time"

	"github.com/memrelief/memrelief/internal/cgroupfs"
)

// Forecast is when a series reaches a limit at its present rate.
type Forecast struct {
	// Limit is the figure forecast against, in bytes.
	Limit uint64
	// Reached is set when the series' peaks are already at the limit.
	Reached bool
	// Reachable is set when the series grows toward the limit (or has
	// reached it); In and At are then meaningful.
	Reachable bool
	// In is the time from the estimate's At until the limit is met; At is
	// that moment.
	In time.Duration
	At time.Time
	// BytesPerSec and Quality are the growth the forecast rests on.
	BytesPerSec float64
	Quality     Quality
}

// maxForecast caps In: beyond a century the answer is "never", and the
// cap keeps time.Duration from overflowing.
const maxForecast = 100 * 365 * 24 * time.Hour

// TimeTo forecasts when memory.current reaches limit (memory.high or
// memory.max; cgroupfs.Unlimited and 0 mean no limit, so never). It
// projects the upper envelope of Current (Estimate.Peak), because the peaks
// of a sawtooth meet a limit before its floor does, along the trend of the
// floor. A series that does not grow never reaches the limit unless it is
// there already.
func (e Estimate) TimeTo(limit uint64) Forecast {
	g := e.C[Current]
	f := Forecast{Limit: limit, BytesPerSec: g.BytesPerSec, Quality: g.Quality}
	if limit == cgroupfs.Unlimited || limit == 0 || !g.Known {
		return f
	}
	// The estimate's window ends at g.To, perhaps before At.
	peak := e.Peak + g.BytesPerSec*max(0, e.At.Sub(g.To).Seconds())
	if peak >= float64(limit) {
		f.Reached, f.Reachable, f.At = true, true, e.At
		return f
	}
	if g.BytesPerSec <= 0 {
		return f
	}
	sec := (float64(limit) - peak) / g.BytesPerSec
	if sec > maxForecast.Seconds() || math.IsNaN(sec) {
		return f
	}
	f.Reachable = true
	f.In = time.Duration(sec * float64(time.Second))
	f.At = e.At.Add(f.In)
	return f
}

// CgroupForecast is a cgroup's forecast against both its limits.
type CgroupForecast struct {
	High, Max Forecast
}

// ForecastCgroup forecasts against memory.high and memory.max as
// cgroupfs.Memory gives them (Unlimited when not set; hasHigh false on v1).
func (e Estimate) ForecastCgroup(high, max uint64, hasHigh bool) CgroupForecast {
	out := CgroupForecast{Max: e.TimeTo(max)}
	if hasHigh {
		out.High = e.TimeTo(high)
	} else {
		out.High = Forecast{Limit: cgroupfs.Unlimited, BytesPerSec: out.Max.BytesPerSec, Quality: out.Max.Quality}
	}
	return out
}

// ForecastNode forecasts when the node's MemAvailable reaches zero, from
// an estimate of the node series (whose Current is MemTotal-MemAvailable,
// see FromMeminfo) and the node's MemTotal.
func (e Estimate) ForecastNode(memTotal uint64) Forecast {
	return e.TimeTo(memTotal)
}
