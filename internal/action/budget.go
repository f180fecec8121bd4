package action

import "time"

// budget caps bytes requested per sliding minute.
type budget struct {
	spent []spend
}

type spend struct {
	at    time.Time
	bytes uint64
}

const budgetWindow = time.Minute

// left returns how much of limit is unspent in the minute before now.
func (b *budget) left(limit uint64, now time.Time) uint64 {
	keep := b.spent[:0]
	var used uint64
	for _, s := range b.spent {
		if now.Sub(s.at) < budgetWindow {
			keep = append(keep, s)
			used += s.bytes
		}
	}
	b.spent = keep
	if used >= limit {
		return 0
	}
	return limit - used
}

func (b *budget) spend(n uint64, now time.Time) {
	if n > 0 {
		b.spent = append(b.spent, spend{now, n})
	}
}
