package driver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// process is one running daemon found in the process table.
type process struct {
	pid  int
	argv []string
}

// procTable holds the daemons this package looks for, by argv[0] basename.
type procTable struct {
	dir   string
	found map[string]process
	// err is why the table could not be read; found is then empty and every
	// detector says so instead of claiming "not running".
	err error
}

// daemons are the argv[0] basenames worth remembering.
var daemons = []string{"kubelet", "containerd", "crio", "dockerd"}

// scanProcesses reads every procDir/<pid>/cmdline once. For each daemon it
// keeps the lowest pid, which is the daemon rather than a later helper of the
// same name. Processes that vanish or hide their cmdline are skipped.
func scanProcesses(ctx context.Context, procDir string) procTable {
	t := procTable{dir: procDir, found: map[string]process{}}
	ents, err := os.ReadDir(procDir)
	if err != nil {
		t.err = fmt.Errorf("read process table %s: %w", procDir, err)
		return t
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			t.found = map[string]process{}
			t.err = fmt.Errorf("scan process table %s: %w", procDir, err)
			return t
		}
		b, err := os.ReadFile(filepath.Join(procDir, strconv.Itoa(pid), "cmdline"))
		if err != nil || len(b) == 0 {
			continue // gone, or a kernel thread
		}
		argv := splitCmdline(b)
		name := filepath.Base(argv[0])
		if !slices.Contains(daemons, name) {
			continue
		}
		if _, ok := t.found[name]; !ok {
			t.found[name] = process{pid: pid, argv: argv}
		}
	}
	return t
}

// splitCmdline splits a NUL-separated /proc/PID/cmdline. The kernel ends it
// with a NUL; a process that rewrote its title may not.
func splitCmdline(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	parts := bytes.Split(b, []byte{0})
	argv := make([]string, len(parts))
	for i, p := range parts {
		argv[i] = string(p)
	}
	return argv
}

// lookup returns the running daemon called name.
func (t procTable) lookup(name string) (process, bool) {
	p, ok := t.found[name]
	return p, ok
}

// notRunning says why a daemon counts as not running, for Component.Why.
func (t procTable) notRunning(name string) string {
	if t.err != nil {
		return fmt.Sprintf("process table unreadable (%v)", t.err)
	}
	return fmt.Sprintf("no %s process in %s", name, t.dir)
}

// flagValues returns every value given to any of the named flags, in command
// line order, accepting "--name=value" and "--name value" (the forms pflag,
// urfave/cli and the standard flag package all accept). Parsing stops at
// "--". A flag given last without a value is ignored.
func flagValues(argv []string, names ...string) []string {
	var out []string
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		if a == "--" {
			break
		}
		for _, n := range names {
			if a == n {
				if i+1 < len(argv) {
					out = append(out, argv[i+1])
					i++
				}
				break
			}
			if v, ok := strings.CutPrefix(a, n+"="); ok {
				out = append(out, v)
				break
			}
		}
	}
	return out
}

// flagValue returns the last value given to any of the named flags: for a
// single-valued flag the last one wins, as in every flag parser these daemons
// use.
func flagValue(argv []string, names ...string) (string, bool) {
	v := flagValues(argv, names...)
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// binaryPath returns the host path of name in /usr/bin, /usr/local/bin or /usr/sbin
// under roots.Usr, or "".
func binaryPath(usr, name string) string {
	for _, d := range []string{"bin", "local/bin", "sbin"} {
		if fi, err := os.Stat(filepath.Join(usr, d, name)); err == nil && fi.Mode().IsRegular() {
			return "/usr/" + d + "/" + name
		}
	}
	return ""
}
