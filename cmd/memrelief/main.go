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

func dispatch(ctx context.Context, c *cli, args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(c.stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(c.stderr, "memrelief: unknown command %q\n\n", args[0])
		usage(c.stderr, cmds)
		return 2
	}
	return cmd.run(ctx, c, args[1:])
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: memrelief COMMAND [flags] [args]")
	fmt.Fprintln(w)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'memrelief COMMAND -h' for the flags of one command.")
}
