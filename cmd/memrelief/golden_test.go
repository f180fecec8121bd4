package main

import (
	"flag"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/fixtures"
)

// update rewrites the golden files: go test ./cmd/memrelief -update. A
// test flag is the one package-level variable the standard library's flag
// handling leaves room for.
var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

// goldenCase is one command run against one host tree.
type goldenCase struct {
	file string   // below testdata/golden/<flavour>/
	args []string // after the subcommand's --root
}

// goldenCases lists, per flavour, the commands whose output is pinned.
// Every flavour gets detect and status, and explain of the node; flavours
// with a pod get explain by unit (or path, under cgroupfs) and by
// namespace/pod. Each command is pinned as text and as JSON (-o
// json-pretty), so every JSON document memrelief prints has a golden file
// on every flavour.
func goldenCases(flavour string) []goldenCase {
	cs := []goldenCase{
		{"detect", []string{"detect"}},
		{"status", []string{"status", "--depth", "4"}},
		{"explain-node", []string{"explain", "/"}},
	}
	switch flavour {
	case "v2-systemd", "hybrid-systemd", "legacy":
		cs = append(cs,
			goldenCase{"explain-unit", []string{"explain", "kubepods-burstable-pod1234_5678.slice"}},
			goldenCase{"explain-pod", []string{"explain", "logging/log-agent"}})
	case "v2-cgroupfs":
		cs = append(cs,
			goldenCase{"explain-path", []string{"explain", "kubepods/burstable/pod1234-5678"}},
			goldenCase{"explain-pod", []string{"explain", "logging/log-agent"}})
	case "hybrid-dev":
		cs = append(cs, goldenCase{"explain-path", []string{"explain", "process_api"}})
	}
	out := make([]goldenCase, 0, 2*len(cs))
	for _, c := range cs {
		out = append(out,
			goldenCase{c.file + ".txt", c.args},
			goldenCase{c.file + ".json", append([]string{c.args[0], "-o", "json-pretty"}, c.args[1:]...)})
	}
	return out
}

var goldenFlavours = []string{"v2-systemd", "v2-cgroupfs", "hybrid-systemd", "legacy", "hybrid-dev"}

// normalise makes output independent of where the checkout is. Layouts of
// --root trees come from their files, never from the file system under the
// checkout, so nothing else depends on it.
func normalise(out, dir string) string {
	return strings.ReplaceAll(out, dir, "$FIXTURE")
}

func TestGolden(t *testing.T) {
	for _, flavour := range goldenFlavours {
		dir := fixtures.Dir(flavour)
		for _, gc := range goldenCases(flavour) {
			t.Run(flavour+"/"+gc.file, func(t *testing.T) {
				args := append([]string{gc.args[0], "--root", dir}, gc.args[1:]...)
				out, errOut, code := runCLI(t, args...)
				if code != 0 {
					t.Fatalf("memrelief %q: exit %d, stderr %s", args, code, errOut)
				}
				if errOut != "" {
					t.Errorf("stderr: %s", errOut)
				}
				got := normalise(out, dir)
				path := filepath.Join("testdata", "golden", flavour, gc.file)
				checkGolden(t, path, got)
			})
		}
	}
}

// lineDiff shows the first lines that differ, enough to see what changed.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl + "\n")
			shown++
		}
	}
	return b.String()
}
