package main

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/fixtures"
)

// parseCase is one command line; every case of a group must give the
// same exit code and the same stdout, which proves the options were
// understood wherever they stood.
type parseCase struct {
	name string
	args []string
}

// TestOptionsAnywhere runs each command with its options before, after
// and between its arguments (GNU style, as systemctl's).
func TestOptionsAnywhere(t *testing.T) {
	root := fixtures.Dir("v2-systemd")
	policyFile := writeFile(t, filepath.Join(t.TempDir(), "p.toml"), checkPolicy)
	for _, g := range []struct {
		cmd   string
		cases []parseCase
		code  int
		// want is in stdout of every case; it shows the options took
		// effect.
		want string
	}{
		{"status", []parseCase{
			{"before", []string{"--root", root, "--depth", "2", "kubepods.slice"}},
			{"after", []string{"kubepods.slice", "--root", root, "--depth", "2"}},
			{"between", []string{"--root", root, "kubepods.slice", "--depth=2"}},
		}, 0, "\n  kubepods-burstable.slice "},
		{"status", []parseCase{
			{"before", []string{"--root", root, "-o", "json", "system.slice", "kubepods.slice"}},
			{"between", []string{"system.slice", "--root", root, "-o", "json", "kubepods.slice"}},
			{"after", []string{"system.slice", "kubepods.slice", "--root=" + root, "-ojson"}},
		}, 0, `"name":"kubepods.slice"`},
		{"explain", []parseCase{
			{"before", []string{"--root", root, "-o", "json-pretty", "logging/log-agent"}},
			{"after", []string{"logging/log-agent", "--root", root, "--output", "json-pretty"}},
		}, 0, `"name": "log-agent"`},
		{"detect", []parseCase{
			{"json", []string{"--root", root, "--json"}},
			{"reversed", []string{"--json", "--root", root}},
		}, 0, `"mode":"unified"`},
		{"check", []parseCase{
			{"before", []string{"--print", policyFile}},
			{"after", []string{policyFile, "--print"}},
		}, 0, "\nbatch = \"8M\"\n"},
		{"version", []parseCase{
			{"command", nil},
			{"no-pager", []string{"--no-pager"}},
		}, 0, "memrelief dev (commit unknown, "},
	} {
		var first string
		for i, tc := range g.cases {
			args := append([]string{g.cmd}, tc.args...)
			out, errOut, code := runCLI(t, args...)
			if code != g.code || !strings.Contains(out, g.want) {
				t.Errorf("%s %s %q: exit %d (want %d), stderr %q; stdout lacks %q:\n%s", g.cmd, tc.name, tc.args, code, g.code, errOut, g.want, out)
			}
			if i == 0 {
				first = out
			} else if out != first {
				t.Errorf("%s %s %q: stdout differs from %s's:\n%s\n---\n%s", g.cmd, tc.name, tc.args, g.cases[0].name, out, first)
			}
		}
	}
	if out, _, _ := runCLI(t, "--version"); !strings.HasPrefix(out, "memrelief dev (commit unknown, ") {
		t.Errorf("--version: %q", out)
	}
}

// -- ends the options: what follows is an argument even when it looks
// like an option.
func TestDoubleDashEndsOptions(t *testing.T) {
	root := fixtures.Dir("v2-systemd")
	_, errOut, code := runCLI(t, "status", "--root", root, "--", "--depth")
	if code != 1 || !strings.Contains(errOut, `"--depth"`) || strings.Contains(errOut, "unknown flag") {
		t.Errorf("status -- --depth: exit %d, %s; want 1 and --depth taken for a cgroup", code, errOut)
	}
	_, errOut, code = runCLI(t, "explain", "--root", root, "--", "-o")
	if code != 1 || !strings.Contains(errOut, `"-o"`) {
		t.Errorf("explain -- -o: exit %d, %s", code, errOut)
	}
}

// Every command: -h and --help print its usage to stdout and exit 0; an
// unknown option exits 2 naming it, with the usage line on stderr.
func TestHelpAndUnknownOptions(t *testing.T) {
	for name := range commands() {
		for _, h := range []string{"-h", "--help"} {
			out, errOut, code := runCLI(t, name, "--no-dbus", h)
			if name == "version" {
				out, errOut, code = runCLI(t, name, h)
			}
			if code != 0 || !strings.HasPrefix(out, "usage: memrelief "+name) || !strings.Contains(out, "--no-pager") || errOut != "" {
				t.Errorf("%s %s: exit %d, stderr %q, stdout:\n%s", name, h, code, errOut, out)
			}
		}
		_, errOut, code := runCLI(t, name, "--colour", "x")
		if code != 2 || !strings.Contains(errOut, "--colour") || !strings.Contains(errOut, "usage: memrelief "+name) {
			t.Errorf("%s --colour: exit %d, stderr %q", name, code, errOut)
		}
		_, errOut, code = runCLI(t, name, "-q")
		if code != 2 || !strings.Contains(errOut, "'q' in -q") {
			t.Errorf("%s -q: exit %d, stderr %q", name, code, errOut)
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		if out, _, code := runCLI(t, args...); code != 0 || !strings.HasPrefix(out, "usage: memrelief COMMAND") {
			t.Errorf("%q: exit %d:\n%s", args, code, out)
		}
	}
	if out, _, code := runCLI(t, "help", "check"); code != 0 || !strings.HasPrefix(out, "usage: memrelief check") {
		t.Errorf("help check: exit %d:\n%s", code, out)
	}
	if _, errOut, code := runCLI(t, "--json", "status"); code != 2 || !strings.Contains(errOut, `unknown option "--json": options follow the command`) {
		t.Errorf("option before the command: exit %d, %s", code, errOut)
	}
	if _, errOut, code := runCLI(t); code != 2 || !strings.HasPrefix(errOut, "usage: memrelief COMMAND") {
		t.Errorf("no command: exit %d, %s", code, errOut)
	}
}

// -o json is one line, -o json-pretty the same value indented; --json and
// --json=pretty are their aliases; a wrong format is a usage error.
func TestOutputFormats(t *testing.T) {
	root := fixtures.Dir("v2-systemd")
	for _, cmd := range [][]string{{"detect"}, {"status", "--depth", "2"}, {"explain", "logging/log-agent"}} {
		run := func(args ...string) string {
			t.Helper()
			all := append(append([]string{cmd[0], "--root", root}, cmd[1:]...), args...)
			out, errOut, code := runCLI(t, all...)
			if code != 0 {
				t.Fatalf("%q: exit %d, %s", all, code, errOut)
			}
			return out
		}
		compact, pretty := run("-o", "json"), run("-o", "json-pretty")
		if strings.Count(compact, "\n") != 1 || !strings.HasPrefix(pretty, "{\n  \"") {
			t.Errorf("%s: -o json is not one line or -o json-pretty not indented:\n%.200s\n%.200s", cmd[0], compact, pretty)
		}
		var a, b any
		if json.Unmarshal([]byte(compact), &a) != nil || json.Unmarshal([]byte(pretty), &b) != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("%s: -o json and -o json-pretty differ", cmd[0])
		}
		if run("--json") != compact || run("--json=pretty") != pretty || run("-o", "table") != run() || run("--json", "-o", "table") != run() {
			t.Errorf("%s: --json, --json=pretty or -o table is not what it stands for", cmd[0])
		}
		all := append(append([]string{cmd[0], "--root", root}, cmd[1:]...), "-o", "yaml")
		if _, errOut, code := runCLI(t, all...); code != 2 || !strings.Contains(errOut, `"yaml"`) || !strings.Contains(errOut, "json-pretty") {
			t.Errorf("%s -o yaml: exit %d, %s", cmd[0], code, errOut)
		}
	}
}
