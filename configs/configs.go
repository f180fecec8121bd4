// Package configs holds memrelief's policy files: the default policy that
// is compiled into the binary and the worked examples operators start from.
package configs

import (
	"embed"
	"io/fs"
)

//go:embed *.toml
var files embed.FS

// Default returns the embedded default policy, used when
// /etc/memrelief/policy.toml does not exist.
func Default() []byte {
	b, err := files.ReadFile("default.toml")
	if err != nil {
		// The file is embedded at build time; a missing one is a build bug.
		panic("configs: default.toml not embedded: " + err.Error())
	}
	return b
}

// Files returns every embedded policy (the default and the examples) by
// file name, so tests and `memrelief check` can validate all of them.
func Files() map[string][]byte {
	out := map[string][]byte{}
	names, _ := fs.Glob(files, "*.toml")
	for _, n := range names {
		if b, err := files.ReadFile(n); err == nil {
			out[n] = b
		}
	}
	return out
}
