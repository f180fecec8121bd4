package dropin

import (
	"fmt"
	"strings"
)

// This file reads unit files the way systemd's config_parse and parse_line
// (src/shared/conf-parser.c) do, described in systemd.syntax(7):
//
//   - a line ends at "\n", "\r\n", "\r" or NUL; a UTF-8 byte order mark at
//     the start of the file is skipped;
//   - a line whose first non-blank character is '#' or ';' is a comment
//     and is dropped whole, even in the middle of a continued line (so a
//     backslash at the end of a comment continues nothing);
//   - a line ending in an unescaped backslash continues on the next line,
//     the backslash replaced by a space;
//   - "[NAME]" opens section NAME, exactly as written between the brackets
//     (case and blanks count); a line starting with '[' that does not end
//     in ']', or a name with control characters, quotes or backslashes,
//     makes systemd refuse the whole file;
//   - "KEY=VALUE" with blanks around both trimmed; a line without '=' or
//     without a key, and an assignment before any section, are ignored
//     (systemd logs a warning).
//
// go-systemd's unit package differs on several of these (it keeps the
// backslash and newline in a continued value, continues comments, and
// refuses a file for a line without '='), so memrelief does not use it.

// entry is one assignment as systemd sees it. line and col (from 1, in
// bytes) are where its key starts; for a continued value that is the first
// physical line, where an editor should jump.
type entry struct {
	section    string
	key, value string
	line, col  int
}

// problem is something systemd warns about and ignores (fatal false) or a
// reason it refuses the whole file (fatal true).
type problem struct {
	line, col int
	msg       string
	fatal     bool
}

// lexUnit splits a unit file into its assignments and the problems systemd
// would log. After a fatal problem it stops: systemd loads nothing from
// the file.
func lexUnit(data []byte) ([]entry, []problem) {
	var (
		entries  []entry
		probs    []problem
		section  string
		inSect   bool // a section header was seen
		cont     strings.Builder
		contLine int // first physical line of the logical line in cont, 0 if none
		contCol  int
	)
	data = trimBOM(data)
	n := 0
	for len(data) > 0 {
		var raw []byte
		raw, data = nextLine(data)
		n++
		body := strings.TrimLeft(string(raw), whitespace)
		if body != "" && (body[0] == '#' || body[0] == ';') {
			continue
		}
		if contLine == 0 {
			contLine, contCol = n, 1+len(raw)-len(body)
		}
		cont.WriteString(string(raw))
		if s := cont.String(); endsEscaped(s) {
			cont.Reset()
			cont.WriteString(s[:len(s)-1] + " ")
			continue
		}
		logical, line, col := cont.String(), contLine, contCol
		cont.Reset()
		contLine = 0
		e, p, isSection := parseLine(logical, line, col, section, inSect)
		if p != nil {
			probs = append(probs, *p)
			if p.fatal {
				return nil, probs
			}
		}
		switch {
		case isSection:
			section, inSect = e.section, true
		case e.key != "":
			entries = append(entries, e)
		}
	}
	if contLine != 0 {
		// The file ended in a backslash: systemd parses what it has.
		if e, p, _ := parseLine(cont.String(), contLine, contCol, section, inSect); p != nil {
			probs = append(probs, *p)
			if p.fatal {
				return nil, probs
			}
		} else if e.key != "" {
			entries = append(entries, e)
		}
	}
	return entries, probs
}

// whitespace is systemd's WHITESPACE.
const whitespace = " \t\n\r"

func trimBOM(data []byte) []byte {
	if len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
		return data[3:]
	}
	return data
}

// nextLine cuts one line off data at "\n", "\r\n", "\r" or NUL, as
// systemd's read_line does.
func nextLine(data []byte) (line, rest []byte) {
	for i, c := range data {
		switch c {
		case '\n', 0:
			return data[:i], data[i+1:]
		case '\r':
			if i+1 < len(data) && data[i+1] == '\n' {
				return data[:i], data[i+2:]
			}
			return data[:i], data[i+1:]
		}
	}
	return data, nil
}

// endsEscaped reports whether s ends in a backslash that is not itself
// escaped ("a\" yes, "a\\" no), systemd's test for a continuation.
func endsEscaped(s string) bool {
	escaped := false
	for i := 0; i < len(s); i++ {
		if escaped {
			escaped = false
		} else if s[i] == '\\' {
			escaped = true
		}
	}
	return escaped
}

// parseLine reads one logical line. It returns the assignment (key set),
// or the new section (isSection), or neither, and what systemd would say.
func parseLine(l string, line, col int, section string, inSection bool) (e entry, p *problem, isSection bool) {
	l = strings.Trim(l, whitespace)
	if l == "" {
		return entry{}, nil, false
	}
	if l[0] == '[' {
		if l[len(l)-1] != ']' {
			return entry{}, &problem{line, col, fmt.Sprintf("invalid section header %q: it does not end in ']'", l), true}, false
		}
		name := l[1 : len(l)-1]
		for _, c := range []byte(name) {
			if c < ' ' || c == 0x7f || strings.IndexByte("\"'\\", c) >= 0 {
				return entry{}, &problem{line, col, fmt.Sprintf("bad characters in section header %q", l), true}, false
			}
		}
		if name != Section && strings.EqualFold(strings.Trim(name, whitespace), Section) {
			p = &problem{line: line, col: col, msg: fmt.Sprintf("section [%s] is not [%s] (systemd matches section names exactly, case and blanks included), so its settings are ignored: did you mean [%s]?", name, Section, Section)}
		}
		return entry{section: name}, p, true
	}
	eq := strings.IndexByte(l, '=')
	switch {
	case !inSection:
		if eq > 0 {
			return entry{}, &problem{line: line, col: col, msg: fmt.Sprintf("assignment %q outside of any section is ignored (systemd ignores it too); put it under [%s]", strings.Trim(l[:eq], whitespace), Section)}, false
		}
		return entry{}, &problem{line: line, col: col, msg: "line outside of any section is ignored"}, false
	case eq < 0:
		if section == Section {
			return entry{}, &problem{line: line, col: col, msg: fmt.Sprintf("missing '=' in %q, line ignored", l)}, false
		}
		return entry{}, nil, false
	case eq == 0:
		if section == Section {
			return entry{}, &problem{line: line, col: col, msg: "missing key name before '=', line ignored"}, false
		}
		return entry{}, nil, false
	}
	return entry{
		section: section,
		key:     strings.Trim(l[:eq], whitespace),
		value:   strings.Trim(l[eq+1:], whitespace),
		line:    line, col: col,
	}, nil, false
}
