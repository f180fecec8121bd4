package policy

import (
	"sort"
	"strconv"
	"strings"
)

// Error is one problem in a policy file or a drop-in, with its place.
// Line and Col start at 1; 0 means unknown (the error names the file only).
type Error struct {
	File string
	Line int
	Col  int
	Key  string // dotted key with array indices, "rule[0].level[1].dwell"
	Msg  string
}

// Error formats the error as "FILE:LINE:COL: KEY: message", leaving out the
// parts that are unknown, so editors and grep can jump to it.
func (e Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Col > 0 {
			b.WriteString(":" + strconv.Itoa(e.Col))
		}
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one policy, in file order. A non-empty
// Errors means the policy as a whole is rejected.
type Errors []Error

// Error prints one error per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return es
}

// Origin is where a setting came from: a policy file or drop-in and a line.
// The zero Origin means memrelief's built-in default.
type Origin struct {
	File string
	Line int
}

// String gives "FILE:LINE", or "built-in default" for the zero Origin.
func (o Origin) String() string {
	if o.File == "" {
		return "built-in default"
	}
	if o.Line == 0 {
		return o.File
	}
	return o.File + ":" + strconv.Itoa(o.Line)
}
