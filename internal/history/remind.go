package history

import "time"

// Reason says why a reminder fires.
type Reason uint8

// Reasons, in the order a leak usually meets them.
const (
	ReasonNone    Reason = iota
	ReasonFirst          // growth seen for the first time (or again after it stopped)
	ReasonCloser         // the time to the limit halved since the last event
	ReasonDaily          // still growing, a period after the last event
	ReasonStopped        // growth reported before has not been seen for a while
)

func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "none"
	case ReasonFirst:
		return "first"
	case ReasonCloser:
		return "closer"
	case ReasonDaily:
		return "reminder"
	case ReasonStopped:
		return "stopped"
	}
	return "unknown"
}

// Reminder is what the daemon remembers between ticks about the growth
// events of one series. The zero value is a series never reported.
type Reminder struct {
	// Active is set from the first event until growth has been absent for
	// ClearAfter.
	Active bool `json:"active"`
	// Since is when growth was first reported; LastAt when an event last
	// fired.
	Since  time.Time `json:"since"`
	LastAt time.Time `json:"last_at"`
	// LastIn is the time to the limit the last event said, when HasIn.
	LastIn time.Duration `json:"last_in_ns"`
	HasIn  bool          `json:"has_in"`
	// QuietSince is when growth was last found missing, zero while it
	// grows.
	QuietSince time.Time `json:"quiet_since"`
}

// Observation is what one tick found.
type Observation struct {
	// Growing is the estimate's verdict (Growth.Growing, or a policy
	// condition on the growth rate).
	Growing bool
	// In is the forecast time to the nearest limit, when HasIn.
	In    time.Duration
	HasIn bool
}

// ReminderPolicy bounds how often growth is reported. Zero fields take
// the defaults.
type ReminderPolicy struct {
	// Every is how often a steady leak is reported again (default 24h).
	Every time.Duration
	// MinGap is the least time between two events of a series, so a
	// forecast that keeps halving cannot flood (default 1h).
	MinGap time.Duration
	// ClearAfter is how long growth must be absent before the series is
	// reported stopped and a later growth counts as first again (default
	// 1h), so an estimate hovering at the threshold does not flap.
	ClearAfter time.Duration
}

func (p ReminderPolicy) withDefaults() ReminderPolicy {
	if p.Every <= 0 {
		p.Every = 24 * time.Hour
	}
	if p.MinGap <= 0 {
		p.MinGap = time.Hour
	}
	if p.ClearAfter <= 0 {
		p.ClearAfter = time.Hour
	}
	return p
}

// Step decides whether the observation o at now deserves an event. It
// returns the reminder to keep and the reason to report (ReasonNone:
// stay quiet). A forecast that moved closer fires when the time to the
// limit is at most half what the last event said, or when a forecast
// appears where the last event had none.
func (p ReminderPolicy) Step(prev Reminder, o Observation, now time.Time) (Reminder, Reason) {
	p = p.withDefaults()
	next := prev
	if !o.Growing {
		if !prev.Active {
			return prev, ReasonNone
		}
		if prev.QuietSince.IsZero() {
			next.QuietSince = now
			return next, ReasonNone
		}
		if now.Sub(prev.QuietSince) >= p.ClearAfter {
			return Reminder{}, ReasonStopped
		}
		return prev, ReasonNone
	}
	next.QuietSince = time.Time{}
	fire := func(r Reason) (Reminder, Reason) {
		next.LastAt, next.LastIn, next.HasIn = now, o.In, o.HasIn
		return next, r
	}
	if !prev.Active {
		next.Active, next.Since = true, now
		return fire(ReasonFirst)
	}
	if now.Sub(prev.LastAt) < p.MinGap {
		return next, ReasonNone
	}
	if o.HasIn && (!prev.HasIn || (prev.LastIn > 0 && o.In <= prev.LastIn/2)) {
		return fire(ReasonCloser)
	}
	if now.Sub(prev.LastAt) >= p.Every {
		return fire(ReasonDaily)
	}
	return next, ReasonNone
}
