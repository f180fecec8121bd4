package inspect

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/memrelief/memrelief/internal/human"
)

// maxProcessesShown bounds the process list in text; JSON has them all.
const maxProcessesShown = 15

// WriteText writes the explanation for a person: the verdict first, then the
// figures behind it.
func (e Explanation) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "%s\n", e.title())
	fmt.Fprintf(w, "cgroup %s, %s hierarchy\n\n", orRoot(e.Cgroup), e.Mode)
	fmt.Fprintf(w, "%s\n\n", wrap(e.Verdict, 100))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "memory.current\t%s\t\t(high %s, max %s)\n", human.Bytes(e.CurrentBytes), lim(e.High), lim(e.Max))
	for _, p := range e.Breakdown {
		fmt.Fprintf(tw, "  %s\t%s\t%4.1f%%\t\n", p.Name, human.Bytes(p.Bytes), 100*p.Share)
	}
	fmt.Fprintf(tw, "  not itemised\t%s\t\t(memory.current minus the sum above)\n", signed(e.UnaccountedBytes))
	if e.WorkingSetBytes != nil {
		ws := fmt.Sprintf("working set\t%s\t\t(usage - inactive_file, as kubelet counts it", human.Bytes(*e.WorkingSetBytes))
		if e.WorkingSetSlabReclaimableBytes != nil {
			ws += fmt.Sprintf("; %s of it reclaimable slab", human.Bytes(*e.WorkingSetSlabReclaimableBytes))
		}
		fmt.Fprintln(tw, ws+")")
	}
	fmt.Fprintf(tw, "process RSS\t%s\t\t(%d processes; shared pages count once per process)\n", human.Bytes(e.RSSBytes), len(e.Processes))
	fmt.Fprintf(tw, "gap\t%s\t\t(memory.current - RSS), made of:\n", signed(e.GapBytes))
	for _, p := range e.Gap {
		fmt.Fprintf(tw, "  %s\t%s\t%4.1f%%\t\n", p.Name, human.Bytes(p.Bytes), 100*p.Share)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(e.Children) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CHILD\tCONTAINER\tCURRENT\tANON\tSLAB_RECL")
		for _, c := range e.Children {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Name, dash(c.Container), human.Bytes(c.CurrentBytes), size(c.AnonBytes), size(c.SlabReclaimableBytes))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tCOMM\tRSS_ANON\tRSS_FILE\tRSS_SHMEM\tINOTIFY_WATCHES\tCGROUP")
	for i, p := range e.Processes {
		if i == maxProcessesShown {
			fmt.Fprintf(tw, "...\t%d more (see --json)\t\t\t\t\t\n", len(e.Processes)-i)
			break
		}
		watches := "?"
		if p.InotifyWatches != nil {
			watches = fmt.Sprint(*p.InotifyWatches)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", p.PID, p.Comm, human.Bytes(p.RSSAnonBytes), human.Bytes(p.RSSFileBytes), human.Bytes(p.RSSShmemBytes), watches, orRoot(p.Cgroup))
	}
	if len(e.Processes) == 0 {
		fmt.Fprintln(tw, "-\tno processes\t\t\t\t\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range e.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

func (e Explanation) title() string {
	switch {
	case e.Pod != nil && e.Pod.Container != "":
		return fmt.Sprintf("container %s of pod %s/%s (uid %s, %s)", e.Pod.Container, e.Pod.Namespace, e.Pod.Name, e.Pod.UID, e.Pod.QoS)
	case e.Pod != nil:
		return fmt.Sprintf("pod %s/%s (uid %s, %s)", e.Pod.Namespace, e.Pod.Name, e.Pod.UID, e.Pod.QoS)
	case e.Unit != "":
		return "unit " + e.Unit
	}
	return "cgroup " + orRoot(e.Cgroup)
}

// units are kept on the line of the number before them.
var units = map[string]bool{"B": true, "KiB": true, "MiB": true, "GiB": true, "TiB": true}

func orRoot(cg string) string {
	if cg == "" {
		return "/"
	}
	return cg
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func signed(v int64) string {
	if v < 0 {
		return "-" + human.Bytes(uint64(-v))
	}
	return human.Bytes(uint64(v))
}

// wrap breaks text at spaces so no line is longer than width.
func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for i, word := range strings.Fields(s) {
		if i > 0 {
			if n+1+len(word) > width && !units[strings.TrimRight(word, ".,;:)")] {
				b.WriteByte('\n')
				n = 0
			} else {
				b.WriteByte(' ')
				n++
			}
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}
