package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	sddbus "github.com/coreos/go-systemd/v22/dbus"

	"github.com/memrelief/memrelief/internal/action"
	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/dropin"
	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/paths"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
	"github.com/memrelief/memrelief/internal/systemd"
)

func runRun(ctx context.Context, c *cli, args []string) int {
	fs := newFlagSet("run", c.stderr)
	policyFile := fs.String("policy", "", "policy file (default /etc/memrelief/policy.toml, else the embedded default)")
	dryRun := fs.Bool("dry-run", false, "decide and report everything, write nothing")
	logTo := fs.String("log", "auto", "where events go: auto (journald when present, else stderr), journal, stderr")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (default: the policy's log_level)")
	duration := fs.Duration("duration", 0, "stop after this long (0: run until SIGTERM)")
	h := hostFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "memrelief run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	roots := h.roots()
	load := func() (*policy.Policy, error) {
		if *policyFile != "" {
			return policy.Load(*policyFile)
		}
		p, _, err := policy.LoadHost(roots)
		return p, err
	}
	pol, err := load()
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief run: %v\n", err)
		return 1
	}
	level := pol.Daemon.LogLevel
	if *logLevel != "" {
		level = *logLevel
	}
	prio, err := report.ParsePriority(level)
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief run: %v\n", err)
		return 2
	}
	sink, err := eventSink(c, *logTo, prio)
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief run: %v\n", err)
		return 2
	}
	layout, err := cgroupfs.DetectLayout(roots.Cgroup, h.statFS())
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief run: %v\n", err)
		return 1
	}

	cfg := engine.Config{
		Roots: roots, Layout: layout, Policy: pol, LoadPolicy: load, DryRun: *dryRun, Sink: sink,
		DropIns: &dropin.Finder{Roots: roots}, Triggers: h.live(), SelfCgroup: selfCgroup(roots, layout),
	}
	if h.live() {
		if os.Getenv("NOTIFY_SOCKET") != "" {
			cfg.Notify = func(state string) { daemon.SdNotify(false, state) }
		}
		if !*h.noDBus && systemd.Probe(ctx, roots, nil).PID1 {
			if conn, err := sddbus.NewSystemConnectionContext(ctx); err == nil {
				defer conn.Close()
				cfg.Units = &action.SystemdUnits{Conn: conn, Run: roots.Run}
				if bus, err := dropin.DialSystemd(ctx); err == nil {
					defer bus.Close()
					cfg.DropIns.Bus = bus
				}
			} else {
				sink.Emit(report.Event{Time: time.Now(), Kind: report.Problem, Priority: report.Warning,
					Message: "systemd's D-Bus API unreachable, unit properties unavailable: " + err.Error()})
			}
		}
	}

	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	reload := make(chan struct{}, 1)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	if err := engine.New(cfg).Run(ctx, reload); err != nil {
		fmt.Fprintf(c.stderr, "memrelief run: %v\n", err)
		return 1
	}
	return 0
}

// eventSink picks journald or stderr. Events the journal refuses go to
// stderr, so none is lost.
func eventSink(c *cli, to string, prio report.Priority) (report.Sink, error) {
	text := &report.Text{W: c.stderr, MinPriority: prio}
	switch to {
	case "stderr":
		return text, nil
	case "journal":
		return &report.Journal{MinPriority: prio, Fallback: text}, nil
	case "auto":
		if report.JournalAvailable() {
			return &report.Journal{MinPriority: prio, Fallback: text}, nil
		}
		return text, nil
	}
	return nil, fmt.Errorf("--log %q: want auto, journal or stderr", to)
}

// selfCgroup is memrelief's own cgroup in the memory hierarchy, which it
// never acts on: reclaiming from itself would only slow it down.
func selfCgroup(roots paths.Roots, l cgroupfs.Layout) string {
	f, err := os.Open(filepath.Join(roots.Proc, "self", "cgroup"))
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "0::/path" on v2; "4:memory:/path" for the v1 memory controller.
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		v2 := parts[0] == "0" && parts[1] == ""
		v1mem := false
		for _, c := range strings.Split(parts[1], ",") {
			v1mem = v1mem || c == "memory"
		}
		if (l.Mode == cgroupfs.Unified && v2) || (l.Mode != cgroupfs.Unified && v1mem) {
			return strings.Trim(parts[2], "/")
		}
	}
	return ""
}
