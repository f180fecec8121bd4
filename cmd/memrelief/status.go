package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	godbus "github.com/godbus/dbus/v5"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/dbusapi"
	"github.com/memrelief/memrelief/internal/inspect"
)

func runStatus(ctx context.Context, c *cli, args []string) int {
	fs := newFlagSet("status", c.stderr)
	asJSON := fs.Bool("json", false, "print rows as JSON, sizes in bytes")
	depth := fs.Int("depth", 1, "levels of cgroups to show below the root (or below each UNIT|PATH)")
	sortKey := fs.String("sort", "", "sort rows by one of: "+strings.Join(inspect.SortKeys, ", "))
	h := hostFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(c.stderr, "usage: memrelief status [--json] [--depth N] [--sort KEY] [UNIT|PATH...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *depth < 1 {
		fmt.Fprintln(c.stderr, "memrelief status: --depth must be at least 1")
		return 2
	}
	roots := h.roots()
	layout, err := cgroupfs.DetectLayout(roots.Cgroup, h.statFS())
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief status: %v\n", err)
		return 1
	}
	// The figures come from the files either way; a running daemon adds
	// each cgroup's rule, level and trend.
	var d *daemonClient
	if h.live() && !*h.noDBus {
		d = &daemonClient{}
		defer d.close()
	}
	build := func(ctx context.Context, sortKey string) (inspect.Status, error) {
		return inspect.BuildStatus(inspect.StatusOptions{
			Roots: roots, Layout: layout, Targets: fs.Args(), Depth: *depth, Sort: sortKey, Daemon: d.ask(ctx),
		})
	}
	st, err := build(ctx, *sortKey)
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief status: %v\n", err)
		return 1
	}
	return printResult(c, "status", *asJSON, st, func(w io.Writer) error { return st.WriteText(w, *sortKey != "") })
}

// daemonClient asks a running memrelief over the system bus, keeping one
// connection across calls. A nil *daemonClient asks
// nothing.
type daemonClient struct {
	conn *godbus.Conn
}

// ask returns what the daemon says, or nil when none answers within 2 s.
// A daemon that answers GetStatus but not GetTrends (one older than
// trends) still gives levels.
func (d *daemonClient) ask(ctx context.Context) *inspect.Daemon {
	if d == nil {
		return nil
	}
	if d.conn == nil || !d.conn.Connected() {
		d.close()
		// The connection lives as long as the command; each call has its
		// own timeout.
		conn, err := godbus.ConnectSystemBus(godbus.WithContext(ctx))
		if err != nil {
			return nil
		}
		d.conn = conn
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := dbusapi.GetStatus(ctx, d.conn)
	if err != nil {
		return nil
	}
	snap, err := st.Snapshot()
	if err != nil {
		return nil
	}
	out := &inspect.Daemon{Status: snap.Status, Levels: map[string]inspect.DaemonLevel{}}
	if evs, err := dbusapi.GetRecentEvents(ctx, d.conn); err == nil {
		for _, ev := range evs {
			out.Recent = append(out.Recent, inspect.DaemonEvent{Time: ev.Time, Message: ev.Message})
		}
	}
	if tr, err := dbusapi.GetTrends(ctx, d.conn); err == nil {
		tr.Merge(&snap)
		out.Trends = true
	}
	if n := snap.Node; n != nil {
		out.Levels["/"] = inspect.DaemonLevel{Rule: n.Rule, Level: n.Level, Trend: n.Trend}
	}
	for _, cg := range snap.Cgroups {
		out.Levels[cg.Cgroup] = inspect.DaemonLevel{Rule: cg.Rule, Level: cg.Level, Pod: cg.Pod, Trend: cg.Trend, Containers: cg.Containers}
	}
	return out
}

func (d *daemonClient) close() {
	if d.conn != nil {
		d.conn.Close()
		d.conn = nil
	}
}
