package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	godbus "github.com/godbus/dbus/v5"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/dbusapi"
	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/inspect"
	"github.com/memrelief/memrelief/internal/paths"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/procinfo"
)

func runExplain(ctx context.Context, c *cli, args []string) int {
	fs := newFlagSet("explain", "memrelief explain [-o table|json|json-pretty] UNIT|PATH|NAMESPACE/POD")
	format := outputFlags(fs)
	h := hostFlags(fs)
	if code, ok := fs.parse(c, args); !ok {
		return code
	}
	switch fs.NArg() {
	case 0:
		return fs.usageError(c, "explain needs a UNIT, PATH or NAMESPACE/POD")
	case 1:
	default:
		return fs.usageError(c, "explain takes one UNIT, PATH or NAMESPACE/POD, not %d", fs.NArg())
	}
	roots := h.roots()
	layout, err := cgroupfs.DetectLayout(roots.Cgroup, h.statFS())
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief explain: %v\n", err)
		return exitFailure
	}
	hist, done := historyOptions(ctx, h, roots)
	defer done()
	e, err := inspect.Explain(inspect.ExplainOptions{Roots: roots, Layout: layout, Target: fs.Arg(0), Pods: podResolver(roots), History: hist})
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief explain: %v\n", err)
		return exitFailure
	}
	return printResult(c, "explain", *format, e, e.WriteText)
}

// historyTimeout bounds the talk with the daemon: connecting and one
// GetHistory per series (a pod and its containers).
const historyTimeout = 5 * time.Second

// historyOptions says where the trend comes from: the daemon on the
// system bus when the roots are the live host's and D-Bus may be used,
// else the files the daemon saved where its policy puts them. The
// function returned closes the bus.
func historyOptions(ctx context.Context, h *host, roots paths.Roots) (*inspect.HistoryOptions, func()) {
	p, _, err := policy.LoadHost(roots)
	if err != nil {
		// The daemon refuses such a policy too and runs with the last good
		// one, most often the default.
		p, err = policy.Default()
	}
	var o inspect.HistoryOptions
	if err == nil {
		o = inspect.HistoryFromPolicy(p.History, p.Source, roots.Lib)
	}
	o.ASCII = inspect.PlainTerminal(os.Getenv)
	if mi, err := procinfo.ReadMeminfo(roots.Proc); err == nil {
		o.MemTotal = mi.MemTotal // the node's saved history forecasts against it
	}
	switch {
	case !h.live():
		o.NoDaemon = "the daemon is not asked about a tree under --root"
		return &o, func() {}
	case *h.noDBus:
		o.NoDaemon = "D-Bus is not used (--no-dbus)"
		return &o, func() {}
	}
	// The connection lives as long as the context it was opened with.
	ctx, cancel := context.WithTimeout(ctx, historyTimeout)
	conn, err := godbus.ConnectSystemBus(godbus.WithContext(ctx))
	if err != nil {
		cancel()
		o.NoDaemon = fmt.Sprintf("the system bus is not reachable (%v)", err)
		return &o, func() {}
	}
	o.Daemon = func(cgroup string) (engine.HistoryView, error) {
		v, err := dbusapi.GetHistory(ctx, conn, cgroup, time.Time{})
		var derr godbus.Error
		if errors.As(err, &derr) && (derr.Name == "org.freedesktop.DBus.Error.ServiceUnknown" || derr.Name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
			return v, fmt.Errorf("%w: %v", inspect.ErrNoDaemon, err)
		}
		return v, err
	}
	return &o, func() {
		conn.Close()
		cancel()
	}
}
