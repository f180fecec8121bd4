package inspect

import (
	"fmt"
	"io"
	"path"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/human"
)

// WriteText writes the status table. Figures the host does not report show
// as "-"; unlimited limits as "max". Names are indented by depth unless
// sorted is true, when the tree shape no longer holds. The daemon's level
// leads each row when it answered; its GROWTH and TO-LIMIT follow MAX when
// it gave trends.
func (s Status) WriteText(w io.Writer, sorted bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	levels := s.Daemon != ""
	if levels {
		fmt.Fprint(tw, "LEVEL\t")
	}
	fmt.Fprint(tw, "NAME\tCURRENT\tHIGH\tMAX\t")
	if s.trends {
		fmt.Fprint(tw, "GROWTH\tTO-LIMIT\t")
	}
	fmt.Fprintln(tw, "ANON\tFILE\tSLAB_RECL\tSLAB_UNRECL\tKERNEL\tSOME10\tSOME60\tFULL10\tFULL60\t")
	var notes []string
	for _, r := range s.Rows {
		if levels {
			fmt.Fprint(tw, r.Level+"\t")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t", rowName(r, sorted), size(r.CurrentBytes), lim(r.HighBytes, r.HighUnlimited), lim(r.MaxBytes, r.MaxUnlimited))
		if s.trends {
			fmt.Fprintf(tw, "%s\t%s\t", Growth(r.Trend), ToLimit(r.Trend))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			size(r.AnonBytes), size(r.FileBytes),
			size(r.SlabReclaimableBytes), size(r.SlabUnreclaimableBytes), size(r.OtherKernelBytes),
			pct(r.PSISomeAvg10), pct(r.PSISomeAvg60), pct(r.PSIFullAvg10), pct(r.PSIFullAvg60))
		for _, e := range r.Errors {
			notes = append(notes, fmt.Sprintf("%s: %s", r.Name, e))
		}
		if r.Dentries != nil {
			d := fmt.Sprintf("node dentries: %d", *r.Dentries)
			if r.NegativeDentries != nil {
				d += fmt.Sprintf(", %d negative", *r.NegativeDentries)
			}
			notes = append([]string{d}, notes...)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if levels {
		fmt.Fprintf(w, "\nmemrelief daemon: %s.", s.Daemon)
	}
	fmt.Fprintf(w, "\ncgroup mode: %s. %s; PSI columns are memory pressure in %% (some/full, avg10/avg60).\n", s.Mode, nodeCurrentLegend)
	if s.Mode == "hybrid" || s.Mode == "legacy" {
		fmt.Fprintln(w, "cgroup v1 reports no slab per cgroup: SLAB columns are '-' and KERNEL is all kernel memory, slab included.")
	}
	switch {
	case s.trends:
		fmt.Fprintln(w, "GROWTH is the daemon's trend of CURRENT and what grows most ('-' until its history says); TO-LIMIT the time until the nearest of memory.high, memory.max or (node) out of memory.")
	case levels:
		fmt.Fprintln(w, "GROWTH and TO-LIMIT are left out: the daemon gave no trends (it predates them).")
	default:
		fmt.Fprintln(w, "GROWTH and TO-LIMIT are left out: they need memrelief running, asked over D-Bus (none answered, or --root/--no-dbus).")
	}
	if len(s.Recent) > 0 {
		fmt.Fprintln(w, "\nrecent level changes and actions of the daemon:")
		for _, ev := range s.Recent[max(0, len(s.Recent)-maxRecentShown):] {
			fmt.Fprintf(w, "  %s  %s\n", ev.Time.Local().Format("2006-01-02 15:04:05"), ev.Message)
		}
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	return nil
}

// nodeCurrentLegend says what the node's CURRENT is, and why a cgroup's
// can be larger: MemAvailable counts reclaimable page cache and slab as
// available, while memory.current charges them to the cgroup.
const nodeCurrentLegend = "CURRENT of the node is MemTotal - MemAvailable, which leaves out the reclaimable page cache and slab that a cgroup's memory.current counts, so a cgroup can show more than the node"

// maxRecentShown bounds the daemon's events in text; JSON has them all.
const maxRecentShown = 10

// rowName is a row's name in the table: in tree order the last element of
// its path indented by depth (a container of a watched pod by its
// container name); sorted, the whole name (a container as its pod's
// namespace/name/container).
func rowName(r Row, sorted bool) string {
	switch {
	case sorted && r.Container != "" && r.Pod != "":
		return r.Pod + "/" + r.Container
	case sorted && r.Container != "":
		return path.Base(path.Dir(r.Cgroup)) + "/" + r.Container
	case sorted || r.Depth <= 1 && r.Container == "":
		return r.Name
	case r.Container != "":
		return strings.Repeat("  ", r.Depth-1) + r.Container
	}
	return strings.Repeat("  ", r.Depth-1) + path.Base(r.Cgroup)
}

// Growth is a trend in the GROWTH column: the rate of memory.current and
// the component that grows most, "12M/h anon"; "-" without a trend of at
// least medium quality.
func Growth(t *engine.TrendStatus) string {
	if !steady(t) {
		return "-"
	}
	s := human.Rate(t.BytesPerSec)
	if t.Dominant != "" {
		s += " " + t.Dominant
	}
	return s
}

// ToLimit is a trend in the TO-LIMIT column: the time until the nearest
// limit is met and which, "3d 4h (max)", "now (high)" when it is met
// already; "-" when none will be.
func ToLimit(t *engine.TrendStatus) string {
	if t == nil {
		return "-"
	}
	best, which := engine.NeverMet, ""
	for _, l := range []struct {
		d    time.Duration
		name string
	}{{t.ToHigh, "high"}, {t.ToMax, "max"}, {t.ToOOM, "oom"}} {
		if l.d >= 0 && (best < 0 || l.d < best) {
			best, which = l.d, l.name
		}
	}
	switch {
	case best < 0:
		return "-"
	case best == 0:
		return "now (" + which + ")"
	}
	return human.Duration(best) + " (" + which + ")"
}

func size(v *uint64) string {
	if v == nil {
		return "-"
	}
	return human.Bytes(*v)
}

// lim is a limit in text: its size, "max" when unlimited, "-" when the
// host has no such limit.
func lim(bytes *uint64, unlimited bool) string {
	if unlimited {
		return "max"
	}
	return size(bytes)
}

func pct(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *v)
}
