package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/paths"
)

// Exit codes, the same for every command (memrelief(8), EXIT STATUS).
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed, or found the policy invalid
	exitUsage   = 2 // bad options or arguments; nothing was done
	// exitInterrupted is 128+SIGINT, what a shell reports for a command
	// Ctrl-C stopped; check exits so when interrupted (by SIGTERM too).
	exitInterrupted = 130
)

// flagSet is one command's options, parsed GNU style as systemctl's are:
// options anywhere among the arguments, -- ends them, --name=value or
// --name value, -h and --help print the command's usage to stdout.
type flagSet struct {
	*pflag.FlagSet
	// synopsis is the usage line after "usage: ", then any lines that
	// explain the arguments.
	synopsis string
}

// newFlagSet returns the options of command name with those every
// command shares (--no-pager). Parse errors are returned, never printed
// or acted on by pflag, so parse decides what is said and the exit code.
func newFlagSet(name, synopsis string) *flagSet {
	fs := pflag.NewFlagSet("memrelief "+name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // pflag calls it on --help; parse prints the usage instead
	fs.Bool("no-pager", false, "accepted as systemctl accepts it; memrelief never pages, so it changes nothing")
	return &flagSet{FlagSet: fs, synopsis: synopsis}
}

// parse parses args. When the command is to go on it returns true;
// otherwise the exit code: exitOK after --help (the usage on stdout),
// exitUsage after a bad option (why, on stderr).
func (f *flagSet) parse(c *cli, args []string) (int, bool) {
	err := f.Parse(args)
	switch {
	case err == nil:
		return exitOK, true
	case errors.Is(err, pflag.ErrHelp):
		f.writeUsage(c.stdout)
		return exitOK, false
	}
	return f.usageError(c, "%v", err), false
}

// usageError says why the command line is wrong, with the usage line, and
// returns exitUsage.
func (f *flagSet) usageError(c *cli, format string, a ...any) int {
	line, _, _ := strings.Cut(f.synopsis, "\n")
	fmt.Fprintf(c.stderr, "%s: %s\nusage: %s\nRun '%s --help' for the options.\n", f.Name(), fmt.Sprintf(format, a...), line, f.Name())
	return exitUsage
}

// writeUsage writes the synopsis and every option.
func (f *flagSet) writeUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s\n\nOptions (anywhere among the arguments; -- ends them):\n%s", f.synopsis, f.FlagUsages())
}

// outputValue is -o/--output: table (text for people), json (one line) or
// json-pretty (indented).
type outputValue struct{ format *string }

func (o outputValue) String() string { return *o.format }
func (o outputValue) Type() string   { return "FORMAT" }
func (o outputValue) Set(s string) error {
	switch s {
	case "table", "json", "json-pretty":
		*o.format = s
		return nil
	}
	return errors.New("want table, json or json-pretty")
}

// jsonAlias is --json, the older spelling of -o json; --json=pretty is
// -o json-pretty.
type jsonAlias struct{ format *string }

func (j jsonAlias) String() string { return "false" }

// Type is "bool" so that the usage shows --json without a value.
func (j jsonAlias) Type() string { return "bool" }
func (j jsonAlias) Set(s string) error {
	switch s {
	case "true":
		*j.format = "json"
	case "pretty":
		*j.format = "json-pretty"
	case "false":
		*j.format = "table"
	default:
		return errors.New("want --json or --json=pretty")
	}
	return nil
}

// outputFlags registers -o/--output and --json, and returns the format
// chosen: "table", "json" or "json-pretty".
func outputFlags(fs *flagSet) *string {
	format := "table"
	fs.VarP(outputValue{&format}, "output", "o", "output format: table, json (one line) or json-pretty (indented); JSON sizes are in bytes")
	fs.VarPF(jsonAlias{&format}, "json", "", "same as -o json; --json=pretty is -o json-pretty").NoOptDefVal = "true"
	return &format
}

// host is the view of the machine every inspecting command shares.
type host struct {
	roots  func() paths.Roots
	prefix *string
	noDBus *bool
}

// hostFlags registers --root and the per-root overrides, and --no-dbus.
func hostFlags(fs *flagSet) *host {
	h := &host{}
	h.roots, h.prefix = rootFlags(fs)
	h.noDBus = fs.Bool("no-dbus", false, "do not use D-Bus (systemd's API, and memrelief's own bus name)")
	return h
}

// live reports whether the roots are the running host's, which is when
// probes of the kernel and D-Bus mean something.
func (h *host) live() bool { return *h.prefix == "/" }

// statFS is statfs(2) on the live host and file-based inference for any
// other root: a fixture tree on tmpfs must not pass for a v1 host.
func (h *host) statFS() cgroupfs.StatFS {
	if h.live() {
		return cgroupfs.SysStatFS
	}
	return cgroupfs.FromFiles
}

// rootFlags registers the flags that move memrelief's view of the host file
// systems, and returns a function that yields the resulting roots after
// parsing. --root moves them all (for fixture trees and chroots); the
// individual flags override one root each.
func rootFlags(fs *flagSet) (func() paths.Roots, *string) {
	prefix := fs.String("root", "/", "directory the host's file systems are found under (for fixture trees)")
	var r paths.Roots
	fs.StringVar(&r.Cgroup, "path.cgroup", "", "cgroup mount point (default ROOT/sys/fs/cgroup)")
	fs.StringVar(&r.Proc, "path.proc", "", "procfs mount point (default ROOT/proc)")
	fs.StringVar(&r.Etc, "path.etc", "", "configuration directory (default ROOT/etc)")
	fs.StringVar(&r.Kubelet, "path.kubelet", "", "kubelet state directory (default ROOT/var/lib/kubelet)")
	fs.StringVar(&r.Log, "path.log", "", "log directory holding pods/ and containers/ (default ROOT/var/log)")
	fs.StringVar(&r.Run, "path.run", "", "runtime directory (default ROOT/run)")
	return func() paths.Roots {
		base := paths.Under(*prefix)
		for _, o := range []struct {
			dst *string
			val string
		}{
			{&base.Cgroup, r.Cgroup}, {&base.Proc, r.Proc}, {&base.Etc, r.Etc},
			{&base.Kubelet, r.Kubelet}, {&base.Log, r.Log}, {&base.Run, r.Run},
		} {
			if o.val != "" {
				*o.dst = o.val
			}
		}
		return base
	}, prefix
}
