package main

import (
	"context"
	"time"

	godbus "github.com/godbus/dbus/v5"

	"fmt"
	"github.com/memrelief/memrelief/internal/dbusapi"
	"io"
	"strings"

	"github.com/memrelief/memrelief/internal/cgroupfs"
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
	st, err := inspect.BuildStatus(inspect.StatusOptions{
		Roots: roots, Layout: layout, Targets: fs.Args(), Depth: *depth, Sort: *sortKey,
	})
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief status: %v\n", err)
		return 1
	}
	if h.live() && !*h.noDBus {
		// The figures come from the files either way; a running daemon adds
		// each cgroup's rule and level.
		if line, levels, recent, err := daemonLevels(ctx); err == nil {
			st.AddDaemon(line, levels, recent)
		}
	}
	return printResult(c, "status", *asJSON, st, func(w io.Writer) error { return st.WriteText(w, *sortKey != "") })
}

// daemonLevels asks a running memrelief for its status over the system bus.
// It fails quickly when no daemon runs.
func daemonLevels(ctx context.Context) (string, map[string]inspect.DaemonLevel, []inspect.DaemonEvent, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := godbus.ConnectSystemBus(godbus.WithContext(ctx))
	if err != nil {
		return "", nil, nil, err
	}
	defer conn.Close()
	st, err := dbusapi.GetStatus(ctx, conn)
	if err != nil {
		return "", nil, nil, err
	}
	snap, err := st.Snapshot()
	if err != nil {
		return "", nil, nil, err
	}
	var recent []inspect.DaemonEvent
	if evs, err := dbusapi.GetRecentEvents(ctx, conn); err == nil {
		for _, ev := range evs {
			recent = append(recent, inspect.DaemonEvent{Time: ev.Time, Message: ev.Message})
		}
	}
	levels := map[string]inspect.DaemonLevel{}
	if snap.Node != nil {
		levels["/"] = inspect.DaemonLevel{Rule: snap.Node.Rule, Level: snap.Node.Level}
	}
	for _, cg := range snap.Cgroups {
		levels[cg.Cgroup] = inspect.DaemonLevel{Rule: cg.Rule, Level: cg.Level}
	}
	return snap.Status, levels, recent, nil
}
