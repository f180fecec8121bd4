package policy

import (
	"fmt"
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

// MaxShownErrors is how many errors Errors.Error prints: past a few dozen,
// more lines only bury the first, and a file of thousands of mistakes
// (a wrong file passed as the policy) would print thousands.
const MaxShownErrors = 50

// Error prints one error per line, the first MaxShownErrors of them and a
// count of the rest.
func (es Errors) Error() string {
	shown := es.Capped(MaxShownErrors)
	lines := make([]string, len(shown))
	for i, e := range shown {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Capped returns the first n errors and, when there are more, one more
// error in their place counting them ("... and 12 more problems"), in the
// file of the first one left out. es itself is not changed.
func (es Errors) Capped(n int) Errors {
	if len(es) <= n {
		return es
	}
	out := make(Errors, n, n+1)
	copy(out, es)
	return append(out, Error{File: es[n].File, Msg: fmt.Sprintf("... and %d more problems", len(es)-n)})
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
