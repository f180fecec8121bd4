package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"

	"github.com/memrelief/memrelief/internal/action"
	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/dbusapi"
	"github.com/memrelief/memrelief/internal/driver"
	"github.com/memrelief/memrelief/internal/dropin"
	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/metrics"
	"github.com/memrelief/memrelief/internal/paths"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
	"github.com/memrelief/memrelief/internal/systemd"
)

func runRun(ctx context.Context, c *cli, args []string) int {
	fs := newFlagSet("run", "memrelief run [--policy FILE] [--dry-run] [--log auto|journal|stderr] [--log-level LEVEL] [--metrics-listen ADDR] [--metrics-textfile DIR]")
	policyFile := fs.String("policy", "", "policy file (default /etc/memrelief/policy.toml, else the embedded default)")
	dryRun := fs.Bool("dry-run", false, "decide and report everything, write nothing")
	logTo := fs.String("log", "auto", "where events go: auto (journald when present, else stderr), journal, stderr")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (default: the policy's log_level)")
	duration := fs.Duration("duration", 0, "stop after this long (0: run until SIGTERM)")
	metricsListen := fs.String("metrics-listen", "", "serve Prometheus metrics on unix:/path.sock or a loopback host:port (127.0.0.1:9780); "+
		"default with the policy sink \"metrics\" and no --metrics-textfile: unix:/run/memrelief/metrics.sock")
	metricsTextfile := fs.String("metrics-textfile", "", "write metrics to DIR/memrelief.prom for node_exporter's textfile collector")
	textfileEvery := fs.Duration("metrics-textfile-interval", 15*time.Second, "how often --metrics-textfile is rewritten")
	h := hostFlags(fs)
	if code, ok := fs.parse(c, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return fs.usageError(c, "unexpected argument %q", fs.Arg(0))
	}
	roots := h.roots()
	// api is set below when the D-Bus API runs; each policy loaded turns
	// its signals on or off by the policy's daemon.sinks.
	var api *dbusapi.Server
	load := func() (*policy.Policy, error) {
		var p *policy.Policy
		var err error
		if *policyFile != "" {
			p, err = policy.Load(*policyFile)
		} else {
			p, _, err = policy.LoadHost(roots)
		}
		if err == nil && api != nil {
			api.SetSignals(slices.Contains(p.Daemon.Sinks, "dbus"))
		}
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

	// The engine is built last, since it takes every sink; the D-Bus API
	// and the metrics query it only once it runs.
	var eng *engine.Engine
	query := func(ctx context.Context) (engine.Snapshot, error) { return eng.Query(ctx) }
	reload := make(chan struct{}, 1)
	sinks := report.Multi{sink}
	var background []func(context.Context)
	bgCtx, stopBackground := context.WithCancel(ctx)
	defer stopBackground()

	m, err := metricsSinks(bgCtx, query, pol, roots, *metricsListen, *metricsTextfile, *textfileEvery, sink)
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief run: %v\n", err)
		return 2
	}
	if m != nil {
		sinks = append(sinks, m.sink)
		background = append(background, m.run...)
	}
	if h.live() && !*h.noDBus {
		api = dbusapi.New(dbusapi.Config{
			Dial: dbusapi.SystemBus, Engine: dbusapi.QueryFunc(query), Reload: reload, Problems: sinks,
			History: func(ctx context.Context, cg string, from time.Time) (engine.HistoryView, error) {
				return eng.History(ctx, cg, from)
			},
			Signals: slices.Contains(pol.Daemon.Sinks, "dbus"), Props: busProps(pol, layout, *dryRun),
		})
		sinks = append(sinks, api)
		background = append(background, api.Run)
	}

	cfg := engine.Config{
		Roots: roots, Layout: layout, Policy: pol, LoadPolicy: load, DryRun: *dryRun, Sink: sinks,
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
				if rescan, closeWatch, err := watchUnits(ctx); err == nil {
					defer closeWatch()
					cfg.Rescan = rescan
				} else {
					sink.Emit(report.Event{Time: time.Now(), Kind: report.Problem, Priority: report.Warning,
						Message: "no systemd unit signals, new units are found by the periodic rescan: " + err.Error()})
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
	eng = engine.New(cfg)
	var wg sync.WaitGroup
	for _, run := range background {
		wg.Add(1)
		go func() { defer wg.Done(); run(bgCtx) }()
	}
	err = eng.Run(ctx, reload)
	stopBackground()
	wg.Wait()
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief run: %v\n", err)
		return 1
	}
	return 0
}

// runMetrics is the metrics sink and what serves it.
type runMetrics struct {
	sink report.Sink
	run  []func(context.Context)
}

// metricsSinks sets up metrics when a flag or the policy's daemon.sinks
// asks for them; nil when nothing does. A bad address is an error; a
// listener that cannot open is a problem event, and the daemon runs on.
func metricsSinks(ctx context.Context, query metrics.QueryFunc, pol *policy.Policy, roots paths.Roots, listen, textfile string, every time.Duration, problems report.Sink) (*runMetrics, error) {
	if listen == "" && textfile == "" && slices.Contains(pol.Daemon.Sinks, "metrics") {
		listen = "unix:" + filepath.Join(roots.Run, "memrelief", "metrics.sock")
	}
	if listen == "" && textfile == "" {
		return nil, nil
	}
	var addr metrics.Addr
	if listen != "" {
		a, err := metrics.ParseAddr(listen)
		if err != nil {
			return nil, fmt.Errorf("--metrics-listen: %w", err)
		}
		addr = a
	}
	if every <= 0 {
		return nil, fmt.Errorf("--metrics-textfile-interval %s: want a positive duration", every)
	}
	m := metrics.New(ctx, query, metrics.Options{Proc: roots.Proc})
	out := &runMetrics{sink: m}
	problem := func(err error) {
		problems.Emit(report.Event{Time: time.Now(), Kind: report.Problem, Priority: report.Warning,
			Message: "metrics unavailable: " + err.Error(), Fields: map[string]string{report.FieldError: err.Error()}})
	}
	if listen != "" {
		if ln, err := metrics.Listen(addr); err != nil {
			problem(err)
		} else {
			out.run = append(out.run, func(ctx context.Context) {
				if err := m.Serve(ctx, ln); err != nil {
					problem(err)
				}
			})
		}
	}
	if textfile != "" {
		out.run = append(out.run, func(ctx context.Context) { m.RunTextfile(ctx, textfile, every, problem) })
	}
	return out, nil
}

// busProps are the D-Bus API's properties at start.
func busProps(pol *policy.Policy, l cgroupfs.Layout, dryRun bool) dbusapi.Props {
	p := dbusapi.Props{Mode: string(l.Mode), CgroupVersion: 1, PolicyFile: pol.Source, DryRun: dryRun || pol.Daemon.DryRun}
	if l.Mode == cgroupfs.Unified {
		p.CgroupVersion = 2
	}
	if l.MemoryDir != "" {
		p.Driver = string(driver.DetectTree(l.MemoryDir).Driver)
	}
	return p
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

// watchUnits asks systemd for UnitNew/UnitRemoved on a connection of its
// own and turns them into rescan requests for the engine.
func watchUnits(ctx context.Context) (<-chan struct{}, func(), error) {
	conn, err := godbus.ConnectSystemBus(godbus.WithContext(ctx))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the system bus: %w", err)
	}
	rescan := make(chan struct{}, 1)
	err = systemd.WatchUnits(ctx, conn, func(string) {
		select {
		case rescan <- struct{}{}:
		default: // one pending rescan covers any number of units
		}
	})
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return rescan, func() { conn.Close() }, nil
}
