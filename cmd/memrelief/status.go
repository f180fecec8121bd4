package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	godbus "github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/dbusapi"
	"github.com/memrelief/memrelief/internal/inspect"
)

func runStatus(ctx context.Context, c *cli, args []string) int {
	fs := newFlagSet("status", "memrelief status [-o table|json|json-pretty] [--depth N] [--sort KEY] [--watch [--interval D]] [UNIT|PATH...]")
	format := outputFlags(fs)
	depth := fs.Int("depth", 1, "levels of cgroups to show below the root (or below each UNIT|PATH)")
	sortKey := fs.String("sort", "", "sort rows by one of: "+strings.Join(inspect.SortKeys, ", ")+" (--watch: growth)")
	watch := fs.Bool("watch", false, "show the table again every --interval, fastest growth first, until Ctrl-C")
	interval := fs.Duration("interval", 2*time.Second, "how often --watch refreshes")
	h := hostFlags(fs)
	if code, ok := fs.parse(c, args); !ok {
		return code
	}
	switch {
	case *depth < 1:
		return fs.usageError(c, "--depth must be at least 1")
	case *watch && *format != "table":
		return fs.usageError(c, "--watch shows the table; for JSON run status -o json as often as needed")
	case *interval < 100*time.Millisecond:
		return fs.usageError(c, "--interval must be at least 100ms")
	}
	// An empty status sorts by nothing but checks the key, as BuildStatus
	// would only after reading the host.
	if err := new(inspect.Status).SortBy(*sortKey); err != nil {
		return fs.usageError(c, "--sort: %v", err)
	}
	roots := h.roots()
	layout, err := cgroupfs.DetectLayout(roots.Cgroup, h.statFS())
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief status: %v\n", err)
		return exitFailure
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
	if *watch {
		key := *sortKey
		if key == "" {
			key = "growth"
		}
		o := watchOptions{every: *interval, tty: isTerminal(c.stdout), sort: key, now: time.Now}
		if err := watchStatus(ctx, c.stdout, o, func(ctx context.Context) (inspect.Status, error) { return build(ctx, "") }); err != nil {
			fmt.Fprintf(c.stderr, "memrelief status: %v\n", err)
			return exitFailure
		}
		return exitOK
	}
	st, err := build(ctx, *sortKey)
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief status: %v\n", err)
		return exitFailure
	}
	return printResult(c, "status", *format, st, func(w io.Writer) error { return st.WriteText(w, *sortKey != "") })
}

// watchOptions are those of status --watch.
type watchOptions struct {
	every time.Duration
	// tty is set when the frames go to a terminal, which is cleared
	// before each.
	tty  bool
	sort string
	now  func() time.Time
}

// clearScreen moves the cursor home and clears the terminal.
const clearScreen = "\033[H\033[2J"

// watchStatus writes a frame of next's status every o.every until ctx
// ends (Ctrl-C: main's signal.NotifyContext), and returns nil then. It
// returns next's error, or the writer's, at once.
func watchStatus(ctx context.Context, w io.Writer, o watchOptions, next func(context.Context) (inspect.Status, error)) error {
	t := time.NewTicker(o.every)
	defer t.Stop()
	for first := true; ; first = false {
		st, err := next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		f, err := frame(st, o, first)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(w, f); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// frame is one refresh of --watch: a heading and the table sorted by
// o.sort. On a terminal it clears the screen first; elsewhere (a file, a
// pipe) frames follow each other after a blank line.
func frame(st inspect.Status, o watchOptions, first bool) (string, error) {
	if err := st.SortBy(o.sort); err != nil {
		return "", err
	}
	var b strings.Builder
	switch {
	case o.tty:
		b.WriteString(clearScreen)
	case !first:
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "memrelief status, %s, every %s, sorted by %s (Ctrl-C stops)\n\n", o.now().Local().Format("2006-01-02 15:04:05"), o.every, o.sort)
	if err := st.WriteText(&b, true); err != nil {
		return "", err
	}
	return b.String(), nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// daemonClient asks a running memrelief over the system bus, keeping one
// connection across the frames of --watch. A nil *daemonClient asks
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
