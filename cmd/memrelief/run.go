package main

import (
	"bufio"
	"context"
	"errors"
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
	"github.com/memrelief/memrelief/internal/state"
	"github.com/memrelief/memrelief/internal/systemd"
)

// runOptions are run's flags.
type runOptions struct {
	policyFile      string
	dryRun          bool
	noHistory       bool
	logTo, logLevel string
	duration        time.Duration
	metricsListen   string
	metricsWeb      string
	metricsTextfile string
	policyPoll      time.Duration
	textfileEvery   time.Duration
}

func runFlags(fs *flagSet) *runOptions {
	o := &runOptions{}
	fs.StringVar(&o.policyFile, "policy", "", "policy file (default /etc/memrelief/policy.toml, else the embedded default)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "decide and report everything, write nothing")
	fs.BoolVar(&o.noHistory, "no-history", false, "keep no growth history (as the policy's history.enabled = false): a trial run leaves nothing in /var/lib/memrelief")
	fs.StringVar(&o.logTo, "log", "auto", "where events go: auto (journald when present, else stderr), journal, stderr")
	fs.StringVar(&o.logLevel, "log-level", "", "debug, info, warn or error (default: the policy's log_level)")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (0: run until SIGTERM)")
	fs.DurationVar(&o.policyPoll, "policy-poll", 0, "re-read the policy file this often and reload when its content changed, as a ConfigMap mounted in a pod needs "+
		"(0, the default: reload on SIGHUP, systemctl reload or D-Bus only)")
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "serve Prometheus metrics on unix:/path.sock or a loopback host:port (127.0.0.1:9780), or any host:port with --metrics-web-config; "+
		"default with the policy sink \"metrics\" and no --metrics-textfile: unix:/run/memrelief/metrics.sock")
	fs.StringVar(&o.metricsWeb, "metrics-web-config", "", "TLS and basic authentication for --metrics-listen, in node_exporter's web configuration format (--web.config.file); "+
		"required to listen beyond loopback, and then it must set TLS or basic_auth_users")
	fs.StringVar(&o.metricsTextfile, "metrics-textfile", "", "write metrics to DIR/memrelief.prom for node_exporter's textfile collector")
	fs.DurationVar(&o.textfileEvery, "metrics-textfile-interval", 15*time.Second, "how often --metrics-textfile is rewritten")
	return o
}

func runRun(ctx context.Context, c *cli, args []string) int {
	thpErr := disableHugePages()
	tuneGC(os.Getenv)
	tuneProcs(os.Getenv)
	fs := newFlagSet("run", "memrelief run [--policy FILE] [--dry-run] [--no-history] [--log auto|journal|stderr] [--log-level LEVEL] [--metrics-listen ADDR [--metrics-web-config FILE]] [--metrics-textfile DIR] [--policy-poll D]")
	o := runFlags(fs)
	h := hostFlags(fs)
	if code, ok := fs.parse(c, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return fs.usageError(c, "unexpected argument %q", fs.Arg(0))
	}
	if o.policyPoll < 0 {
		return fs.usageError(c, "--policy-poll %s: want a positive duration, or 0 for none", o.policyPoll)
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(c.stderr, "memrelief run: %v\n", err)
		return code
	}
	// Every action writes what only root may write; a dry run writes
	// nothing and is how anyone tries memrelief out.
	if uid := c.geteuid(); uid != 0 && !o.dryRun {
		return fail(exitFailure, fmt.Errorf("refusing to run as user %d: memrelief writes cgroup files, sysctls and systemd unit properties, "+
			"which needs root; run it as root, or add --dry-run to decide and report without writing anything", uid))
	}
	roots := h.roots()
	pl := &policyLoader{file: o.policyFile, roots: roots, noHistory: o.noHistory}
	pol, err := pl.load()
	if err != nil {
		return fail(exitFailure, err)
	}
	sink, err := logSink(c, o, pol)
	if err != nil {
		return fail(exitUsage, err)
	}
	if thpErr != nil {
		sink.Emit(report.Event{Time: time.Now(), Kind: report.Problem, Priority: report.Debug, Message: thpErr.Error()})
	}
	getNofile, setNofile := nofile()
	raiseOpenFilesLimit(sink, getNofile, setNofile)
	layout, err := cgroupfs.DetectLayout(roots.Cgroup, h.statFS())
	if err != nil {
		return fail(exitFailure, err)
	}

	observer, release := instance(roots, o.dryRun, sink)
	defer release()

	bgCtx, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	d := &daemonParts{reload: make(chan struct{}, 1), sinks: report.Multi{sink}}
	if err := d.addSinks(bgCtx, o, h, pl, pol, layout); err != nil {
		return fail(exitUsage, err)
	}
	cfg := engine.Config{
		Roots: roots, Layout: layout, Policy: pol, LoadPolicy: pl.load, DryRun: o.dryRun, Observer: observer, Sink: d.sinks,
		DropIns: &dropin.Finder{Roots: roots}, Triggers: h.live(), SelfCgroup: selfCgroup(roots, layout),
		// inotify works on a fixture tree as on cgroupfs.
		WatchTree: true,
	}
	if h.live() {
		defer wireSystemd(ctx, h, &cfg, sink)()
	}

	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	defer forwardHangups(d.reload)()
	if o.policyPoll > 0 {
		d.background = append(d.background, func(ctx context.Context) { pollPolicy(ctx, pl.path(), o.policyPoll, d.reload) })
	}
	d.eng = engine.New(cfg)
	var wg sync.WaitGroup
	for _, run := range d.background {
		wg.Add(1)
		go func() { defer wg.Done(); run(bgCtx) }()
	}
	err = d.eng.Run(ctx, d.reload)
	stopBackground()
	wg.Wait()
	if err != nil {
		return fail(exitFailure, err)
	}
	return exitOK
}

// instance decides whether this run may act on the host: one memrelief
// acts, holding the instance lock in ROOT/run/memrelief for its life; a
// second (a DaemonSet next to the service) observes only, says so, and
// touches neither the knobs nor the records of the first. A --dry-run
// trial never takes the lock, so it can neither restore the service's
// knobs nor keep it from acting. observer is why this run only observes,
// "" when it acts; release lets the lock go.
func instance(roots paths.Roots, dryRun bool, sink report.Sink) (observer string, release func()) {
	if dryRun {
		return "--dry-run: a trial leaves alone what any run changed, and writes no history", func() {}
	}
	lock, err := state.TakeLock(filepath.Join(roots.Run, "memrelief"))
	switch {
	case errors.Is(err, state.ErrHeld):
		observer = "another memrelief acts on this host: " + err.Error()
		warnEvent(sink, observer+"; this one observes only until restarted after that one stops")
		return observer, func() {}
	case err != nil:
		warnEvent(sink, fmt.Sprintf("%v: acting without the guard against a second memrelief on this host", err))
		return "", func() {}
	}
	return "", func() { lock.Release() }
}

// warnEvent reports a problem run works around, its message also as the
// event's ERROR field.
func warnEvent(sink report.Sink, msg string) {
	sink.Emit(report.Event{Time: time.Now(), Kind: report.Problem, Priority: report.Warning, Message: msg, Fields: map[string]string{report.FieldError: msg}})
}

// policyLoader loads run's policy at start and on each reload.
type policyLoader struct {
	file  string // --policy; "" for ROOT/etc/memrelief/policy.toml or the default
	roots paths.Roots
	// noHistory (--no-history) switches history off in every policy loaded.
	noHistory bool
	// api, once the D-Bus API runs, has its signals turned on or off by
	// each policy's daemon.sinks.
	api *dbusapi.Server
	// metrics, when they run, start each policy's rule counters at 0.
	metrics *metrics.Metrics
}

// path is the file load reads (or, for the host's, would read).
func (l *policyLoader) path() string {
	if l.file != "" {
		return l.file
	}
	return policy.File(l.roots)
}

func (l *policyLoader) load() (*policy.Policy, error) {
	var p *policy.Policy
	var err error
	if l.file != "" {
		p, err = policy.Load(l.file)
	} else {
		p, _, err = policy.LoadHost(l.roots)
	}
	if err == nil && l.noHistory {
		p.History.Enabled = false
	}
	if err == nil && l.api != nil {
		l.api.SetSignals(slices.Contains(p.Daemon.Sinks, "dbus"))
	}
	if err == nil && l.metrics != nil {
		l.metrics.Know(p)
	}
	return p, err
}

// logSink is where events go, at the level of --log-level or else the
// policy's log_level.
func logSink(c *cli, o *runOptions, pol *policy.Policy) (report.Sink, error) {
	level := pol.Daemon.LogLevel
	if o.logLevel != "" {
		level = o.logLevel
	}
	prio, err := report.ParsePriority(level)
	if err != nil {
		return nil, err
	}
	return eventSink(c, o.logTo, prio)
}

// daemonParts is what run assembles around the engine: the sinks events go
// to and what runs beside it. The engine is built last, since it takes
// every sink; the D-Bus API and the metrics query it only once it runs.
type daemonParts struct {
	eng        *engine.Engine
	reload     chan struct{}
	sinks      report.Multi
	background []func(context.Context)
}

func (d *daemonParts) query(ctx context.Context) (engine.Snapshot, error) { return d.eng.Query(ctx) }

// addSinks adds the metrics and, on the live host with D-Bus, the D-Bus
// API to d's sinks and background work. Its error is a bad flag.
func (d *daemonParts) addSinks(ctx context.Context, o *runOptions, h *host, pl *policyLoader, pol *policy.Policy, layout cgroupfs.Layout) error {
	m, err := metricsSinks(ctx, d.query, pol, pl.roots, o, d.sinks[0])
	if err != nil {
		return err
	}
	if m != nil {
		d.sinks = append(d.sinks, m.sink)
		d.background = append(d.background, m.run...)
		pl.metrics = m.sink
	}
	if h.live() && !*h.noDBus {
		api := dbusapi.New(dbusapi.Config{
			Dial: dbusapi.SystemBus, Engine: dbusapi.QueryFunc(d.query), Reload: d.reload, Problems: d.sinks,
			History: func(ctx context.Context, cg string, from time.Time) (engine.HistoryView, error) {
				return d.eng.History(ctx, cg, from)
			},
			Signals: slices.Contains(pol.Daemon.Sinks, "dbus"), Props: busProps(pol, layout, o.dryRun),
		})
		pl.api = api
		d.sinks = append(d.sinks, api)
		d.background = append(d.background, api.Run)
	}
	return nil
}

// wireSystemd connects cfg to systemd on the live host: sd_notify when
// started by systemd, and with D-Bus its unit API, drop-in lookup and unit
// signals. What is unreachable is a warning on sink and the daemon runs
// without it. The function returned closes the connections.
func wireSystemd(ctx context.Context, h *host, cfg *engine.Config, sink report.Sink) func() {
	var closers []func()
	done := func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}
	if os.Getenv("NOTIFY_SOCKET") != "" {
		cfg.Notify = func(state string) { daemon.SdNotify(false, state) }
		if every, err := daemon.SdWatchdogEnabled(false); err == nil && every > 0 {
			cfg.WatchdogEvery = every / 3
		}
	}
	if *h.noDBus || !systemd.Probe(ctx, cfg.Roots, nil).PID1 {
		return done
	}
	warn := func(msg string) {
		sink.Emit(report.Event{Time: time.Now(), Kind: report.Problem, Priority: report.Warning, Message: msg})
	}
	// The connection outlives the signal that stops Run: godbus closes a
	// connection when its context ends, and the stop's restores of unit
	// properties (Engine.shutdown) still need it. The closers end it.
	conn, err := sddbus.NewSystemConnectionContext(context.WithoutCancel(ctx))
	if err != nil {
		warn("systemd's D-Bus API unreachable, unit properties unavailable: " + err.Error())
		return done
	}
	closers = append(closers, conn.Close)
	cfg.Units = &action.SystemdUnits{Conn: conn}
	if bus, err := dropin.DialSystemd(ctx); err == nil {
		closers = append(closers, bus.Close)
		cfg.DropIns.Bus = bus
	}
	if rescan, closeWatch, err := watchUnits(ctx); err == nil {
		closers = append(closers, closeWatch)
		cfg.Rescan = rescan
	} else {
		warn("no systemd unit signals, new units are found by the tree watcher or the periodic walk: " + err.Error())
	}
	return done
}

// forwardHangups turns SIGHUP into reload requests (one pending covers
// any number) until the function returned is called.
func forwardHangups(reload chan<- struct{}) func() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	return func() { signal.Stop(hup) }
}

// runMetrics is the metrics sink and what serves it.
type runMetrics struct {
	sink *metrics.Metrics
	run  []func(context.Context)
}

// metricsSinks sets up metrics when a flag or the policy's daemon.sinks
// asks for them; nil when nothing does. A bad address is an error; a
// listener that cannot open is a problem event, and the daemon runs on.
func metricsSinks(ctx context.Context, query metrics.QueryFunc, pol *policy.Policy, roots paths.Roots, o *runOptions, problems report.Sink) (*runMetrics, error) {
	listen, textfile, every := o.metricsListen, o.metricsTextfile, o.textfileEvery
	if listen == "" && textfile == "" && slices.Contains(pol.Daemon.Sinks, "metrics") {
		listen = "unix:" + filepath.Join(roots.Run, "memrelief", "metrics.sock")
	}
	if o.metricsWeb != "" && listen == "" {
		return nil, fmt.Errorf("--metrics-web-config %s: given without --metrics-listen, so nothing would use it", o.metricsWeb)
	}
	if listen == "" && textfile == "" {
		return nil, nil
	}
	var web *metrics.WebConfig
	if o.metricsWeb != "" {
		w, err := metrics.LoadWebConfig(o.metricsWeb)
		if err != nil {
			return nil, fmt.Errorf("--metrics-web-config: %w", err)
		}
		web = w
	}
	var addr metrics.Addr
	if listen != "" {
		a, err := metrics.ParseAddr(listen, web.Protected())
		if err != nil {
			if o.metricsWeb != "" {
				err = fmt.Errorf("%w (%s sets neither tls_server_config nor basic_auth_users)", err, o.metricsWeb)
			}
			return nil, fmt.Errorf("--metrics-listen: %w", err)
		}
		addr = a
	}
	if every <= 0 {
		return nil, fmt.Errorf("--metrics-textfile-interval %s: want a positive duration", every)
	}
	problem := func(err error) {
		problems.Emit(report.Event{Time: time.Now(), Kind: report.Problem, Priority: report.Warning,
			Message: "metrics unavailable: " + err.Error(), Fields: map[string]string{report.FieldError: err.Error()}})
	}
	say := func(msg string) { warnEvent(problems, msg) }
	m := metrics.New(ctx, query, metrics.Options{Proc: roots.Proc, Version: version, Revision: commit, Web: web,
		OnConnLimit: func(limit int) {
			say(fmt.Sprintf("metrics listener reached its limit of %d open connections; further connections are closed until some end (said once)", limit))
		},
		OnCgroupLimit: func(limit, dropped int) {
			say(fmt.Sprintf("metrics page reached its limit of %d cgroups with per-cgroup series; %d left out (memrelief_metrics_cgroups_dropped counts them; said once)", limit, dropped))
		},
	})
	m.Know(pol)
	out := &runMetrics{sink: m}
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
