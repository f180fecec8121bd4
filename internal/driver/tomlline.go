package driver

import (
	"bufio"
	"bytes"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// tomlKeyLine returns the 1-based line that sets the key at path (table names
// then key name, unquoted), or 0 when it cannot be found. BurntSushi/toml
// keeps key positions private, so this re-reads the file a line at a time:
// every line is parsed as a TOML fragment on its own, a table header moves
// the current table, and a key/value line (plain, dotted or inline table) is
// matched against path. Lines that do not parse alone (the inside of
// multi-line strings and arrays) are skipped, so in rare files the answer is
// 0, never a wrong line.
func tomlKeyLine(data []byte, path []string) int {
	var table []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), maxConfigBytes)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		var v map[string]any
		md, err := toml.Decode(line, &v)
		if err != nil {
			continue
		}
		keys := md.Keys()
		if len(keys) == 0 {
			continue
		}
		if line[0] == '[' {
			// A header declares its own path (and its prefixes); the
			// longest key is the table.
			table = longest(keys)
			if slices.Equal(table, path) {
				return n
			}
			continue
		}
		for _, k := range keys {
			full := append(slices.Clone(table), k...)
			if slices.Equal(full, path) {
				return n
			}
		}
	}
	return 0
}

func longest(keys []toml.Key) []string {
	var best toml.Key
	for _, k := range keys {
		if len(k) > len(best) {
			best = k
		}
	}
	return best
}
