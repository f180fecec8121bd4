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
// Every flavour gets detect and status; flavours with a pod get explain by
// unit (or path, under cgroupfs) and by namespace/pod.
func goldenCases(flavour string) []goldenCase {
	cs := []goldenCase{
		{"detect.txt", []string{"detect"}},
		{"status.txt", []string{"status", "--depth", "4"}},
	}
	switch flavour {
	case "v2-systemd", "hybrid-systemd", "legacy":
		cs = append(cs,
			goldenCase{"explain-unit.txt", []string{"explain", "kubepods-burstable-pod1234_5678.slice"}},
			goldenCase{"explain-pod.txt", []string{"explain", "logging/log-agent"}})
	case "v2-cgroupfs":
		cs = append(cs,
			goldenCase{"explain-path.txt", []string{"explain", "kubepods/burstable/pod1234-5678"}},
			goldenCase{"explain-pod.txt", []string{"explain", "logging/log-agent"}})
	case "hybrid-dev":
		cs = append(cs, goldenCase{"explain-path.txt", []string{"explain", "process_api"}})
	}
	if flavour == "v2-systemd" || flavour == "legacy" {
		cs = append(cs,
			goldenCase{"detect.json", []string{"detect", "-o", "json-pretty"}},
			goldenCase{"status.json", []string{"status", "-o", "json-pretty", "--depth", "4"}},
			goldenCase{"explain-pod.json", []string{"explain", "-o", "json-pretty", "logging/log-agent"}})
	}
	return cs
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
