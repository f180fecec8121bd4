package engine

import "time"

// slabRate follows a cgroup's slab_reclaimable between samples and gives the
// rate its workload makes slab at. memrelief's own reclaims are taken out:
// a storm level that exits on a low growth rate must not be ended by the
// drop its own reclaim caused while the workload keeps making dentries.
type slabRate struct {
	prev   uint64
	prevAt time.Time
	has    bool
	// reclaiming is set while a reclaim of the cgroup runs: a sample taken
	// meanwhile sees its drop half done, so the last rate holds.
	reclaiming bool
	// freed and spent are what memrelief's reclaims took out of the slab
	// since prev, and how long they ran: the rate counts the slab back and
	// leaves their time out, when the workload's growth was not measured.
	freed uint64
	spent time.Duration
	last  float64
	// hasLast is false until two samples gave a rate.
	hasLast bool
}

// minRateSpan is the shortest stretch of measured time a rate is computed
// over; shorter ones (a reclaim that filled nearly a whole interval) keep
// the last rate rather than divide noise by almost nothing.
const minRateSpan = 500 * time.Millisecond

// observe records the slab at now and returns the growth rate in bytes per
// second, false while it is not known.
func (r *slabRate) observe(slab uint64, now time.Time) (float64, bool) {
	if r.reclaiming {
		return r.last, r.hasLast
	}
	if r.has {
		span := now.Sub(r.prevAt) - r.spent
		if span < minRateSpan {
			if r.spent == 0 {
				return r.last, r.hasLast // two samples at once: nothing new
			}
		} else {
			r.last, r.hasLast = (float64(slab)+float64(r.freed)-float64(r.prev))/span.Seconds(), true
		}
	}
	r.prev, r.prevAt, r.has = slab, now, true
	r.freed, r.spent = 0, 0
	return r.last, r.hasLast
}

// reclaimed records a finished reclaim: freed bytes of slab in d.
func (r *slabRate) reclaimed(freed uint64, d time.Duration) {
	r.reclaiming = false
	r.freed += freed
	r.spent += d
}
