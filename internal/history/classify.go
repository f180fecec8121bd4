package history

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/memrelief/memrelief/internal/human"
)

// Cause is one growing component and its part of the growth.
type Cause struct {
	Component   Component
	BytesPerSec float64
	// Share is the component's part of the summed growth of all growing
	// components, 0 to 1.
	Share float64
	// Dominant is set for the largest cause and any other with at least
	// a quarter of the growth.
	Dominant bool
	// Since is where the estimate's window starts.
	Since   time.Time
	Restart bool
	// Meaning says in plain words what this growth usually is and
	// whether memrelief can do anything about it.
	Meaning string
}

// Classification says what grows in a series.
type Classification struct {
	// Causes are the growing components, largest first; empty when
	// nothing grows.
	Causes []Cause
	// Text is one line per cause, for explain and for events.
	Text string
}

// DefaultMinGrowth is the smallest growth worth naming: 1 MiB a day. The
// dentry leaks that take nodes down grow a few MiB a day.
const DefaultMinGrowth = float64(1<<20) / 86400

// dominantShare is the part of growth that makes a second cause dominant.
const dominantShare = 0.25

// parts are the components growth is split into; Current is their whole.
var parts = [...]Component{Anon, File, SlabReclaimable, SlabUnreclaimable, OtherKernel}

// Classify names the components of e that grow by at least minBytesPerSec
// (DefaultMinGrowth when 0) with at least medium quality, with their share
// of the growth and what each usually means.
func Classify(e Estimate, minBytesPerSec float64) Classification {
	if minBytesPerSec <= 0 {
		minBytesPerSec = DefaultMinGrowth
	}
	var out Classification
	var total float64
	for _, c := range parts {
		if g := e.C[c]; g.Growing(minBytesPerSec) {
			total += g.BytesPerSec
			out.Causes = append(out.Causes, Cause{Component: c, BytesPerSec: g.BytesPerSec, Since: g.From, Restart: g.Restart})
		}
	}
	slices.SortStableFunc(out.Causes, func(a, b Cause) int {
		switch {
		case a.BytesPerSec > b.BytesPerSec:
			return -1
		case a.BytesPerSec < b.BytesPerSec:
			return 1
		}
		return 0
	})
	slabKnown := e.C[SlabReclaimable].Known
	var b strings.Builder
	for i := range out.Causes {
		c := &out.Causes[i]
		c.Share = c.BytesPerSec / total
		c.Dominant = i == 0 || c.Share >= dominantShare
		c.Meaning = meaning(c.Component, slabKnown)
		since := "since " + c.Since.Format("2006-01-02 15:04")
		if c.Restart {
			since = "since the restart at " + c.Since.Format("2006-01-02 15:04")
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s grows %s (%.0f%% of growth) %s: %s", c.Component, FormatRate(c.BytesPerSec), 100*c.Share, since, c.Meaning)
	}
	out.Text = b.String()
	return out
}

func meaning(c Component, slabKnown bool) string {
	switch c {
	case Anon:
		return "anonymous memory (heaps, stacks): a process is leaking"
	case File:
		return "page cache: usually harmless, the kernel drops it under pressure"
	case SlabReclaimable:
		return "dentries and inodes: usually an agent creating or watching many files; memrelief can reclaim it"
	case SlabUnreclaimable:
		return "unreclaimable kernel objects: reported only, memrelief cannot free them"
	case OtherKernel:
		if !slabKnown {
			return "kernel memory, slab included (this host does not split it out): dentries and inodes may be part of it"
		}
		return "kernel stacks and page tables: many threads or mappings; memrelief cannot free them"
	}
	return "unknown"
}

// FormatRate writes a growth rate for people: per hour when at least a
// MiB an hour, else per day.
func FormatRate(bytesPerSec float64) string {
	sign := ""
	if bytesPerSec < 0 {
		sign, bytesPerSec = "-", -bytesPerSec
	}
	perHour := bytesPerSec * 3600
	if perHour >= 1<<20 {
		return sign + human.IBytes(uint64(math.Round(perHour))) + "/h"
	}
	return sign + human.IBytes(uint64(math.Round(perHour*24))) + "/day"
}
