package inspect

import (
	"fmt"
	"io"
	"path"
	"strings"
	"text/tabwriter"

	"github.com/memrelief/memrelief/internal/human"
)

// WriteText writes the status table. Figures the host does not report show
// as "-"; unlimited limits as "max". Names are indented by depth unless
// sorted is true, when the tree shape no longer holds.
func (s Status) WriteText(w io.Writer, sorted bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	levels := s.Daemon != ""
	if levels {
		fmt.Fprint(tw, "LEVEL\t")
	}
	fmt.Fprintln(tw, "NAME\tCURRENT\tHIGH\tMAX\tANON\tFILE\tSLAB_RECL\tSLAB_UNRECL\tKERNEL\tSOME10\tSOME60\tFULL10\tFULL60\t")
	var notes []string
	for _, r := range s.Rows {
		name := r.Name
		if !sorted && r.Depth > 1 {
			name = strings.Repeat("  ", r.Depth-1) + path.Base(r.Cgroup)
		}
		if levels {
			fmt.Fprint(tw, r.Level+"\t")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			name, size(r.CurrentBytes), lim(r.High), lim(r.Max), size(r.AnonBytes), size(r.FileBytes),
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
	fmt.Fprintf(w, "\ncgroup mode: %s. CURRENT of the node is MemTotal - MemAvailable; PSI columns are memory pressure in %% (some/full, avg10/avg60).\n", s.Mode)
	if s.Mode == "hybrid" || s.Mode == "legacy" {
		fmt.Fprintln(w, "cgroup v1 reports no slab per cgroup: SLAB columns are '-' and KERNEL is all kernel memory, slab included.")
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

// maxRecentShown bounds the daemon's events in text; JSON has them all.
const maxRecentShown = 10

func size(v *uint64) string {
	if v == nil {
		return "-"
	}
	return human.Bytes(*v)
}

func lim(l Limit) string {
	switch {
	case !l.Known:
		return "-"
	case l.Unlimited:
		return "max"
	}
	return human.Bytes(l.Bytes)
}

func pct(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *v)
}
