package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/fixtures"
)

// README's examples are outputs of memrelief on the fixtures it names:
// each is run again here, and every line README shows must still be in
// what memrelief prints (blanks collapsed; lines README shortens with "…"
// or "..." are left out). A change of output that README does not follow
// fails here, not in an operator's terminal.
func TestREADMEExamples(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	blocks := regexp.MustCompile("(?s)```\n(\\$ memrelief [^\n]*)\n(.*?)```").FindAllStringSubmatch(readme, -1)
	examples := map[string]string{} // command -> README's output
	for _, b := range blocks {
		cmd := strings.TrimSpace(strings.SplitN(strings.TrimPrefix(b[1], "$ "), "#", 2)[0])
		examples[cmd] = b[2]
	}
	for _, tc := range []struct{ cmd, fixture string }{
		{"memrelief explain logging/log-agent", "v2-systemd"},
		{"memrelief status --depth 4", "v2-systemd"},
	} {
		want, ok := examples[tc.cmd]
		if !ok {
			t.Errorf("README has no example of %q: update this test with README", tc.cmd)
			continue
		}
		dir := fixtures.CopyDir(t, tc.fixture)
		args := append(strings.Fields(strings.TrimPrefix(tc.cmd, "memrelief ")), "--root", dir, "--no-dbus")
		out, errOut, code := runCLI(t, args...)
		if code != 0 {
			t.Errorf("%s on %s: exit %d: %s", tc.cmd, tc.fixture, code, errOut)
			continue
		}
		checkLines(t, tc.cmd, want, out)
	}

	// The cgroupfs-driver example of detect, from the v2-cgroupfs fixture.
	i := strings.Index(readme, "(`v2-cgroupfs` fixture):\n\n```\n")
	if i < 0 {
		t.Fatal("README lost its v2-cgroupfs detect example: update this test with README")
	}
	rest := readme[i+len("(`v2-cgroupfs` fixture):\n\n```\n"):]
	cfs := fixtures.CopyDir(t, "v2-cgroupfs")
	out, errOut, code := runCLI(t, "detect", "--root", cfs, "--no-dbus")
	if code != 0 {
		t.Fatalf("detect on v2-cgroupfs: exit %d: %s", code, errOut)
	}
	// README shows the host's paths; the copy's sit under its root.
	checkLines(t, "memrelief detect (v2-cgroupfs)", rest[:strings.Index(rest, "```")], strings.ReplaceAll(out, cfs, ""))

	// README's first command, the newcomer's main job, runs and writes
	// nothing (TestRunNoHistoryWritesNothing checks the writing part).
	first := regexp.MustCompile("(?m)^go run ./cmd/memrelief (run [^#\n]*)").FindStringSubmatch(readme)
	if first == nil {
		t.Fatal("README does not open with go run ./cmd/memrelief run ...")
	}
	dir := fixtures.CopyDir(t, "v2-systemd")
	args := append(strings.Fields(first[1]), "--root", dir, "--no-dbus", "--duration", "300ms")
	if _, errOut, code := runCLI(t, args...); code != 0 || !strings.Contains(errOut, "memrelief started with ") {
		t.Errorf("README's first command (%s): exit %d: %s", first[1], code, errOut)
	}
}

func checkLines(t *testing.T, what, want, got string) {
	t.Helper()
	collapse := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	have := map[string]bool{}
	for _, l := range strings.Split(got, "\n") {
		have[collapse(l)] = true
	}
	checked := 0
	for _, l := range strings.Split(want, "\n") {
		l = collapse(l)
		if l == "" || strings.Contains(l, "…") || strings.Contains(l, "...") {
			continue
		}
		checked++
		if !have[l] {
			t.Errorf("%s: README shows %q, memrelief no longer prints it", what, l)
		}
	}
	if checked < 3 {
		t.Errorf("%s: only %d lines of README's example checked", what, checked)
	}
}
