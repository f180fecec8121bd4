package inspect

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/history"
	"github.com/memrelief/memrelief/internal/human"
)

// maxProcessesShown bounds the process list in text; JSON has them all.
const maxProcessesShown = 15

// WriteText writes the explanation for a person: the verdict first, then the
// figures behind it.
func (e Explanation) WriteText(w io.Writer) error {
	if t := e.title(); t != "" {
		fmt.Fprintf(w, "%s\n", t)
	}
	fmt.Fprintf(w, "cgroup %s, %s hierarchy\n\n", e.Cgroup, e.Mode)
	fmt.Fprintf(w, "%s\n\n", wrap(e.Verdict, 100))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "memory.current\t%s\t\t(high %s, max %s)\n", human.Bytes(e.CurrentBytes), lim(e.HighBytes, e.HighUnlimited), lim(e.MaxBytes, e.MaxUnlimited))
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
	if e.GapOverlapBytes > 0 {
		fmt.Fprintf(tw, "  trimmed: RSS not in memory.current\t%s\t\t(pages charged to other cgroups or shared between processes; taken off the parts above, page cache first)\n", human.Bytes(e.GapOverlapBytes))
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

	if e.Trend != nil {
		fmt.Fprintln(w)
		e.Trend.writeText(w)
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
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", p.PID, p.Comm, human.Bytes(p.RSSAnonBytes), human.Bytes(p.RSSFileBytes), human.Bytes(p.RSSShmemBytes), watches, p.Cgroup)
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

// title names the pod, container or unit explained; "" for a cgroup that is
// none, which the cgroup line below the title names alone.
func (e Explanation) title() string {
	switch {
	case e.Pod != nil && e.Pod.Container != "":
		return fmt.Sprintf("container %s of pod %s/%s (uid %s, %s)", e.Pod.Container, e.Pod.Namespace, e.Pod.Name, e.Pod.UID, e.Pod.QoS)
	case e.Pod != nil:
		return fmt.Sprintf("pod %s/%s (uid %s, %s)", e.Pod.Namespace, e.Pod.Name, e.Pod.UID, e.Pod.QoS)
	case e.Unit != "":
		return "unit " + e.Unit
	}
	return ""
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
			if n+1+len(word) > width {
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

// chartWidth is the most characters a sparkline takes; longer histories
// are averaged down to it.
const chartWidth = 48

// minTrendPoints is how many buckets an estimate needs for medium quality
// (see history.QualityMedium).
const minTrendPoints = 12

// timeFormat writes the times of the trend as growth events do.
const timeFormat = "2006-01-02 15:04"

// writeText writes the trend: a sparkline per component of the cgroup and
// of each container, then in words what grows, since when, why, and when
// it meets a limit.
func (t *Trend) writeText(w io.Writer) {
	if t.Source == TrendNone {
		fmt.Fprintf(w, "Trend: %s\n", t.Note)
		return
	}
	all := t.Containers
	if t.Series != nil {
		all = append([]TrendSeries{*t.Series}, t.Containers...)
	}
	var step, span time.Duration
	for _, s := range all {
		step = cmp.Or(step, s.Step)
		span = max(span, s.To.Sub(s.From))
	}
	src := "from the running daemon"
	if t.Source == TrendSaved {
		src = fmt.Sprintf("from the history saved at %s; %s", t.SavedAt.Local().Format(timeFormat), t.Note)
	}
	if span == 0 {
		// A daemon that just started, or a pod whose series are all new.
		fmt.Fprintf(w, "Trend: no points yet (%s)\n", src)
	} else {
		fmt.Fprintf(w, "Trend: %s points over the last %s (%s)\n", human.Duration(step), human.Duration(span), src)
	}

	charts := make([][]string, len(all))
	width := 0
	for i, s := range all {
		for _, c := range s.Components {
			line := history.Sparkline(means(c.MeanBytes), chartWidth, t.ascii)
			charts[i] = append(charts[i], line)
			width = max(width, utf8.RuneCountInString(line))
		}
	}
	for i, s := range all {
		indent := "  "
		if s.Name != "" {
			fmt.Fprintf(w, "  container %s\n", s.Name)
			indent = "    "
		}
		for j, c := range s.Components {
			line := charts[i][j]
			pad := strings.Repeat(" ", width-utf8.RuneCountInString(line))
			fmt.Fprintf(w, "%s%-*s  %s%s  %5s -> %-5s  %s\n", indent, 22-len(indent), c.Name, line, pad,
				human.Bytes(c.FirstBytes), human.Bytes(c.LastBytes), signedRate(c.BytesPerSec))
		}
	}

	if t.Series != nil {
		for _, l := range growthLines(t.Series) {
			fmt.Fprintln(w, l)
		}
	}
	growing := slices.DeleteFunc(slices.Clone(t.Containers), func(s TrendSeries) bool { return !grows(s.Growth) })
	slices.SortStableFunc(growing, func(a, b TrendSeries) int { return cmp.Compare(b.Growth.BytesPerSec, a.Growth.BytesPerSec) })
	for _, s := range growing {
		fmt.Fprintf(w, "container %s: %s\n", s.Name, containerLine(s.Growth))
	}
	switch {
	case len(growing) > 0:
	case t.Series == nil:
		fmt.Fprintf(w, "no container grows steadily %s\n", inLast(span))
	case len(t.Containers) > 0 && grows(t.Series.Growth):
		fmt.Fprintln(w, "no single container grows steadily: the growth is spread over them")
	}
}

// means turns bucket means back into the values Sparkline draws, NaN for
// gaps.
func means(bs []*uint64) []float64 {
	out := make([]float64, len(bs))
	for i, b := range bs {
		out[i] = math.NaN()
		if b != nil {
			out[i] = float64(*b)
		}
	}
	return out
}

func signedRate(r *float64) string {
	switch {
	case r == nil:
		return "-"
	case *r > 0:
		return "+" + human.Rate(*r)
	}
	return human.Rate(*r)
}

// steady reports whether g rests on enough agreeing points to be called a
// trend (at least medium quality): what explain and status show as growth.
func steady(g *engine.TrendStatus) bool {
	return g != nil && (g.Quality == "medium" || g.Quality == "high")
}

// grows reports whether g is growth worth a line: memory.current rises
// steadily and the daemon reports it, or some component grows.
func grows(g *engine.TrendStatus) bool {
	return steady(g) && g.BytesPerSec > 0 && (g.Growing || g.Causes != "")
}

// growthLines says what grows in s, why, and when it meets a limit, or
// that nothing grows steadily and why not.
func growthLines(s *TrendSeries) []string {
	g := s.Growth
	if !grows(g) && (g == nil || g.Causes == "") {
		return []string{"no steady growth " + inLast(s.To.Sub(s.From)) + caveat(s)}
	}
	var out []string
	if grows(g) {
		what := "memory.current"
		if s.Cgroup == CgroupID("") {
			what = "memory in use (MemTotal - MemAvailable)"
		}
		line := fmt.Sprintf("%s grows %s", what, signedRate(&g.BytesPerSec))
		if !g.Since.IsZero() {
			line += " since " + g.Since.Local().Format(timeFormat)
		}
		out = append(out, line+fmt.Sprintf(" (quality %s)", g.Quality))
	}
	if g.Causes != "" {
		out = append(out, strings.Split(g.Causes, "\n")...)
	}
	if l := limits(g); l != "" {
		out = append(out, "at this rate it "+l)
	}
	return out
}

func inLast(span time.Duration) string {
	if span == 0 {
		return "yet"
	}
	return "in the last " + human.Duration(span)
}

// caveat says why a series shows no steady growth when the reason is the
// history rather than the memory.
func caveat(s *TrendSeries) string {
	if steady(s.Growth) {
		return ""
	}
	switch {
	case s.Points < minTrendPoints:
		return fmt.Sprintf("; history too short for a trend: %d points, need %d", s.Points, minTrendPoints)
	case s.Growth == nil:
		return "; the daemon has not estimated a trend yet"
	case s.Growth.Quality == "low":
		return "; the points go up and down too much to call it a trend (quality low)"
	}
	return "; too few points since the workload restarted for a trend"
}

// limits says when g meets memory.high, memory.max or (the node) the end
// of MemAvailable, "" when it does not.
func limits(g *engine.TrendStatus) string {
	var parts []string
	for _, l := range []struct {
		in   time.Duration
		what string
	}{{g.ToHigh, "memory.high"}, {g.ToMax, "memory.max"}, {g.ToOOM, "MemAvailable 0"}} {
		switch {
		case l.in < 0:
		case l.in == 0:
			parts = append(parts, "is at "+l.what+" already")
		default:
			parts = append(parts, "reaches "+l.what+" in "+human.Duration(l.in))
		}
	}
	return strings.Join(parts, ", ")
}

// containerLine is what grows in one container: its largest cause, else
// the growth of memory.current, and when it meets a limit.
func containerLine(g *engine.TrendStatus) string {
	line, _, _ := strings.Cut(g.Causes, "\n")
	if line == "" {
		line = "memory.current grows " + signedRate(&g.BytesPerSec)
		if !g.Since.IsZero() {
			line += " since " + g.Since.Local().Format(timeFormat)
		}
	}
	if l := limits(g); l != "" {
		line += "; " + l
	}
	return line
}

// PlainTerminal reports whether the locale in the environment (LC_ALL,
// LC_CTYPE, LANG, the first one set, as C programs look them up) is not
// UTF-8, so charts should use plain characters. No locale is the C
// locale, which is ASCII.
func PlainTerminal(getenv func(string) string) bool {
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if v := strings.ToLower(getenv(k)); v != "" {
			return !strings.Contains(v, "utf-8") && !strings.Contains(v, "utf8")
		}
	}
	return true
}
