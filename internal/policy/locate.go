package policy

import (
	"strconv"
	"strings"
)

// position is a 1-based line and column in a policy file.
type position struct{ line, col int }

// locate maps every key of a TOML document to where it is written, using
// indexed paths such as "rule[1].level[0].enter.all[2]". The TOML decoder
// does not expose key positions, and its unindexed keys cannot tell the
// second [[rule]] from the first, yet errors must point at the right line.
//
// It runs on documents the decoder has accepted, so it only needs to follow
// valid TOML; on anything else it still terminates without panicking, and
// keys it cannot place fall back to their nearest located parent.
func locate(src string) map[string]position {
	l := &locator{src: src, line: 1, col: 1, at: map[string]position{}, arrays: map[string]int{}}
	l.document()
	return l.at
}

const maxLocateDepth = 200

type locator struct {
	src       string
	i         int
	line, col int
	at        map[string]position
	arrays    map[string]int // elements seen so far of each [[array]] table
}

func (l *locator) eof() bool { return l.i >= len(l.src) }

func (l *locator) peek() byte {
	if l.eof() {
		return 0
	}
	return l.src[l.i]
}

func (l *locator) next() {
	if l.eof() {
		return
	}
	if l.src[l.i] == '\n' {
		l.line++
		l.col = 1
	} else {
		l.col++
	}
	l.i++
}

func (l *locator) here() position { return position{l.line, l.col} }

func (l *locator) record(path string, p position) {
	if _, ok := l.at[path]; !ok {
		l.at[path] = p
	}
}

func (l *locator) skipSpace() {
	for c := l.peek(); c == ' ' || c == '\t'; c = l.peek() {
		l.next()
	}
}

// skipBlank skips white space, newlines and comments.
func (l *locator) skipBlank() {
	for !l.eof() {
		switch l.peek() {
		case ' ', '\t', '\r', '\n':
			l.next()
		case '#':
			l.skipLine()
		default:
			return
		}
	}
}

func (l *locator) skipLine() {
	for !l.eof() && l.peek() != '\n' {
		l.next()
	}
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func (l *locator) document() {
	cur := ""
	for {
		l.skipBlank()
		if l.eof() {
			return
		}
		start := l.i
		p := l.here()
		if l.peek() == '[' {
			l.next()
			array := l.peek() == '['
			if array {
				l.next()
			}
			parts := l.key()
			cur = l.table(parts, array, p)
			l.skipLine()
		} else {
			parts := l.key()
			if len(parts) > 0 {
				full := l.dotted(cur, parts, p)
				l.skipSpace()
				if l.peek() == '=' {
					l.next()
				}
				l.skipSpace()
				l.value(full, 0)
			}
		}
		if l.i == start {
			l.skipLine()
			l.next()
		}
	}
}

// table resolves a table header to its indexed path: a name that is an
// array of tables refers to its last element, and a [[header]] adds one.
func (l *locator) table(parts []string, array bool, p position) string {
	path := ""
	for i, part := range parts {
		path = join(path, part)
		if i == len(parts)-1 && array {
			n := l.arrays[path]
			l.arrays[path] = n + 1
			l.record(path, p)
			path += "[" + strconv.Itoa(n) + "]"
		} else if n := l.arrays[path]; n > 0 {
			path += "[" + strconv.Itoa(n-1) + "]"
		}
		l.record(path, p)
	}
	return path
}

// dotted records a.b.c = ... under prefix, implicit tables included.
func (l *locator) dotted(prefix string, parts []string, p position) string {
	path := prefix
	for _, part := range parts {
		path = join(path, part)
		l.record(path, p)
	}
	return path
}

// key reads a possibly dotted key made of bare and quoted parts. Each part
// comes back spelt as the TOML decoder's Key.String spells it, so that
// "daemon.interval" = 1 (one key with a dot in it) is found under
// "\"daemon.interval\"", and daemon."interval" under daemon.interval.
func (l *locator) key() []string {
	var parts []string
	for {
		l.skipSpace()
		var part string
		switch c := l.peek(); {
		case c == '"':
			raw := l.basicString()
			if u, err := strconv.Unquote(`"` + raw + `"`); err == nil {
				raw = u
			}
			part = keyPart(raw)
		case c == '\'':
			part = keyPart(l.literalString())
		case isBare(c):
			s := l.i
			for isBare(l.peek()) {
				l.next()
			}
			part = l.src[s:l.i]
		default:
			return parts
		}
		parts = append(parts, part)
		l.skipSpace()
		if l.peek() != '.' {
			return parts
		}
		l.next()
	}
}

// keyPart spells one part of a key as toml.Key.String does: bare when it
// can be, else in double quotes with '"' and '\\' escaped.
func keyPart(s string) string {
	if s == "" {
		return `""`
	}
	for i := 0; i < len(s); i++ {
		if !isBare(s[i]) {
			return strconv.Quote(s)
		}
	}
	return s
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func (l *locator) value(path string, depth int) {
	if depth > maxLocateDepth {
		l.skipLine()
		return
	}
	switch l.peek() {
	case '[':
		l.next()
		for n := 0; ; {
			l.skipBlank()
			switch l.peek() {
			case 0:
				return
			case ']':
				l.next()
				return
			case ',':
				l.next()
				continue
			}
			elem := path + "[" + strconv.Itoa(n) + "]"
			l.record(elem, l.here())
			start := l.i
			l.value(elem, depth+1)
			if l.i == start {
				l.next()
			}
			n++
		}
	case '{':
		l.next()
		for {
			l.skipBlank()
			switch l.peek() {
			case 0:
				return
			case '}':
				l.next()
				return
			case ',':
				l.next()
				continue
			}
			p := l.here()
			parts := l.key()
			if len(parts) == 0 {
				l.next()
				continue
			}
			full := l.dotted(path, parts, p)
			l.skipSpace()
			if l.peek() == '=' {
				l.next()
			}
			l.skipSpace()
			l.value(full, depth+1)
		}
	case '"':
		l.basicString()
	case '\'':
		l.literalString()
	default:
		for !l.eof() && !strings.ContainsRune(",]}#\r\n", rune(l.peek())) {
			l.next()
		}
	}
}

// basicString skips a "..." or """...""" string and returns its raw
// content (escapes are left as written; keys rarely have any).
func (l *locator) basicString() string {
	if strings.HasPrefix(l.src[l.i:], `"""`) {
		l.next()
		l.next()
		l.next()
		s := l.i
		for !l.eof() && !strings.HasPrefix(l.src[l.i:], `"""`) {
			if l.peek() == '\\' {
				l.next()
			}
			l.next()
		}
		e := min(l.i, len(l.src))
		l.next()
		l.next()
		l.next()
		for l.peek() == '"' { // up to two quotes may end the content
			l.next()
		}
		return l.src[s:e]
	}
	l.next()
	s := l.i
	for !l.eof() && l.peek() != '"' && l.peek() != '\n' {
		if l.peek() == '\\' {
			l.next()
		}
		l.next()
	}
	e := min(l.i, len(l.src))
	if l.peek() == '"' {
		l.next()
	}
	return l.src[s:e]
}

func (l *locator) literalString() string {
	if strings.HasPrefix(l.src[l.i:], "'''") {
		l.next()
		l.next()
		l.next()
		s := l.i
		for !l.eof() && !strings.HasPrefix(l.src[l.i:], "'''") {
			l.next()
		}
		e := l.i
		l.next()
		l.next()
		l.next()
		for l.peek() == '\'' {
			l.next()
		}
		return l.src[s:e]
	}
	l.next()
	s := l.i
	for !l.eof() && l.peek() != '\'' && l.peek() != '\n' {
		l.next()
	}
	e := l.i
	if l.peek() == '\'' {
		l.next()
	}
	return l.src[s:e]
}

// unindexed drops array indices: "rule[1].level[0].x" -> "rule.level.x",
// the form the TOML decoder uses for keys.
func unindexed(path string) string {
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		if path[i] == '[' {
			j := i + 1
			for j < len(path) && path[j] >= '0' && path[j] <= '9' {
				j++
			}
			if j > i+1 && j < len(path) && path[j] == ']' {
				i = j
				continue
			}
		}
		b.WriteByte(path[i])
	}
	return b.String()
}

// parent strips the last component of an indexed path; ok is false at the
// top.
func parent(path string) (string, bool) {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i > 0 {
			return path[:i], true
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i], true
	}
	return "", false
}
