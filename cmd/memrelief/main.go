// Command memrelief keeps kernel memory and memory pressure of cgroups in
// check and explains where a cgroup's memory went.
//
// main only parses flags and wires packages together; the behaviour lives in
// internal/.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// Set at link time by the Makefile (-X main.version=... -X main.commit=...).
var (
	version = "dev"
	commit  = "unknown"
)

// command is one subcommand. run returns the process exit code.
type command struct {
	summary string
	run     func(ctx context.Context, cli *cli, args []string) int
}

// cli carries what every subcommand writes to, so tests can run the whole
// binary's logic in-process.
type cli struct {
	stdout, stderr io.Writer
	// euid is the effective user ID; nil means os.Geteuid. Tests, which
	// may run as root, set it to play an ordinary user.
	euid func() int
}

func (c *cli) geteuid() int {
	if c.euid != nil {
		return c.euid()
	}
	return os.Geteuid()
}

func commands() map[string]command {
	return map[string]command{
		"run":     {"run the daemon: watch, decide, act, report (the main job)", runRun},
		"version": {"print version, commit and Go version", runVersion},
		"detect":  {"report cgroup mode, kernel features, systemd and cgroup drivers", runDetect},
		"status":  {"show memory, slab and pressure of the node and its slices", runStatus},
		"explain": {"explain where one cgroup's memory went", runExplain},
		"check":   {"validate a policy file and show the effective policy", runCheck},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, &cli{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// dispatch runs the command args name. Options follow the command's name
// (each command parses its own); before it only --help, -h and --version
// are understood.
func dispatch(ctx context.Context, c *cli, args []string) int {
	cmds := commands()
	if len(args) == 0 {
		usage(c.stderr, cmds)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		if args[0] == "help" && len(args) > 1 {
			// memrelief help COMMAND is memrelief COMMAND --help.
			return dispatch(ctx, c, []string{args[1], "--help"})
		}
		usage(c.stdout, cmds)
		return exitOK
	case "--version":
		return runVersion(ctx, c, args[1:])
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		if strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(c.stderr, "memrelief: unknown option %q: options follow the command, as in memrelief COMMAND [OPTIONS] [ARGS]\n\n", args[0])
		} else {
			fmt.Fprintf(c.stderr, "memrelief: unknown command %q\n\n", args[0])
		}
		usage(c.stderr, cmds)
		return exitUsage
	}
	return cmd.run(ctx, c, args[1:])
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: memrelief COMMAND [OPTIONS] [ARGS]")
	fmt.Fprintln(w, "       memrelief --version")
	fmt.Fprintln(w)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nOptions may come anywhere after COMMAND; -- ends them. Run 'memrelief COMMAND --help' for the")
	fmt.Fprintln(w, "options of one command. Exit status: 0 success, 1 failure, 2 bad usage, 130 interrupted.")
}
