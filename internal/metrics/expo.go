package metrics

import (
	"bufio"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// The page is Prometheus's text exposition format 0.0.4, written here
// rather than through client_golang: memrelief serves gauges and counters
// only, and the library with its protobuf dependency was 2.1 MB of a
// 12.1 MB binary, mapped on every host (issue 15's RSS goal). Tests read the page
// with Prometheus's own parser (prometheus/common/expfmt), so it stays
// checked against the real format.

// contentType is what Prometheus expects of the text format.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

// Metric types of the format.
const (
	typeGauge   = "gauge"
	typeCounter = "counter"
)

// desc names one family: its name, help, type and label names, fixed.
type desc struct {
	name, help, typ string
	labels          []string
}

// family is one metric family of a page: its samples in the order made.
type family struct {
	*desc
	samples []sample
}

type sample struct {
	values []string // one per desc.labels
	v      float64
}

// page collects the families of one scrape by name.
type page struct {
	fams map[string]*family
}

func newPage() *page { return &page{fams: map[string]*family{}} }

// add appends a sample to d's family; values go with d.labels.
func (p *page) add(d *desc, v float64, values ...string) {
	f := p.fams[d.name]
	if f == nil {
		f = &family{desc: d}
		p.fams[d.name] = f
	}
	f.samples = append(f.samples, sample{values: values, v: v})
}

// write puts the page on w, each family's samples together as the format
// requires; families sorted by name and samples by label values, as
// client_golang did, so a page reads the same from one scrape to the next.
func (p *page) write(w *bufio.Writer) error {
	names := make([]string, 0, len(p.fams))
	for n := range p.fams {
		names = append(names, n)
	}
	slices.Sort(names)
	var num []byte
	for _, n := range names {
		f := p.fams[n]
		slices.SortStableFunc(f.samples, func(a, b sample) int { return slices.Compare(a.values, b.values) })
		w.WriteString("# HELP ")
		w.WriteString(f.name)
		w.WriteByte(' ')
		writeEscaped(w, f.help, false)
		w.WriteString("\n# TYPE ")
		w.WriteString(f.name)
		w.WriteByte(' ')
		w.WriteString(f.typ)
		w.WriteByte('\n')
		for _, s := range f.samples {
			w.WriteString(f.name)
			if len(f.labels) > 0 {
				w.WriteByte('{')
				for i, l := range f.labels {
					if i > 0 {
						w.WriteByte(',')
					}
					w.WriteString(l)
					w.WriteString(`="`)
					writeEscaped(w, s.values[i], true)
					w.WriteByte('"')
				}
				w.WriteByte('}')
			}
			w.WriteByte(' ')
			num = appendFloat(num[:0], s.v)
			w.Write(num)
			w.WriteByte('\n')
		}
	}
	return w.Flush()
}

// writeEscaped escapes a HELP text (backslash, newline) or a label value
// (also the double quote). Bytes that are not UTF-8, which a hostile
// cgroup name can hold, become U+FFFD: the parser refuses the whole page
// otherwise.
func writeEscaped(w *bufio.Writer, s string, quote bool) {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			w.WriteString(`\\`)
		case c == '\n':
			w.WriteString(`\n`)
		case c == '"' && quote:
			w.WriteString(`\"`)
		default:
			w.WriteByte(c)
		}
	}
}

func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// counterVec is a counter family: one value per label set, fed by events
// and read by scrapes on other goroutines. Label sets come from fixed lists
// and the policy's rules and levels, so the map is bounded by those.
type counterVec struct {
	d    *desc
	mu   sync.Mutex
	idx  map[string]int
	vals []sample
}

func newCounterVec(name, help string, labels ...string) *counterVec {
	return &counterVec{d: &desc{name: name, help: help, typ: typeCounter, labels: labels}, idx: map[string]int{}}
}

// add adds v to the counter of the label values (created at 0 first).
func (c *counterVec) add(v float64, values ...string) {
	key := strings.Join(values, "\xff")
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.idx[key]
	if !ok {
		i = len(c.vals)
		c.idx[key] = i
		c.vals = append(c.vals, sample{values: slices.Clone(values)})
	}
	c.vals[i].v += v
}

// value is the counter of the label values, 0 when never touched.
func (c *counterVec) value(values ...string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.idx[strings.Join(values, "\xff")]; ok {
		return c.vals[i].v
	}
	return 0
}

// collect puts the counters on p in the order their label sets appeared.
func (c *counterVec) collect(p *page) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.vals {
		p.add(c.d, s.v, s.values...)
	}
}
