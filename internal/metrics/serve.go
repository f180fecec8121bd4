package metrics

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// TextfileName is the file written in the textfile collector directory;
// node_exporter reads *.prom.
const TextfileName = "memrelief.prom"

// Addr is a parsed --metrics-listen value.
type Addr struct {
	Network string // "unix" or "tcp"
	Address string // socket path, or a loopback host:port
}

func (a Addr) String() string {
	if a.Network == "unix" {
		return "unix:" + a.Address
	}
	return a.Address
}

// ParseAddr reads "unix:/abs/path.sock" or a loopback "host:port"
// (127.0.0.1:9780, [::1]:9780, localhost:9780). Anything that would listen
// beyond this host is refused unless protected (a web configuration with
// TLS or basic authentication, see WebConfig.Protected): memrelief's metrics
// name every workload on the node. Protected, any host:port is taken
// (":9780" is every address).
func ParseAddr(s string, protected bool) (Addr, error) {
	if path, ok := strings.CutPrefix(s, "unix:"); ok {
		if !filepath.IsAbs(path) || strings.ContainsRune(path, 0) {
			return Addr{}, fmt.Errorf("metrics listen address %q: want unix:/absolute/path.sock", s)
		}
		// sun_path holds 108 bytes with the terminating NUL.
		if p := filepath.Clean(path); len(p) > 107 {
			return Addr{}, fmt.Errorf("metrics listen address %q: socket path is %d bytes, the kernel takes at most 107", s, len(p))
		}
		return Addr{"unix", filepath.Clean(path)}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Addr{}, fmt.Errorf("metrics listen address %q: want unix:/path or a loopback host:port: %w", s, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return Addr{}, fmt.Errorf("metrics listen address %q: port %q is not a number from 0 to 65535", s, port)
	}
	if protected {
		return Addr{"tcp", net.JoinHostPort(host, port)}, nil
	}
	if host == "localhost" {
		// Pinned rather than resolved: /etc/hosts must not move the
		// listener off loopback.
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		what := host
		if host == "" {
			what = "every address"
		}
		return Addr{}, fmt.Errorf("metrics listen address %q is not loopback (%s): without a web configuration that sets TLS or basic authentication (--metrics-web-config), memrelief serves metrics only on a Unix socket or 127.0.0.1/[::1]; scrape it through a local agent or use --metrics-textfile", s, what)
	}
	return Addr{"tcp", net.JoinHostPort(ip.String(), port)}, nil
}

// Listen opens a. The socket's directory is created when missing (run by
// hand, without systemd's RuntimeDirectory=). A stale socket file left by
// a crash is replaced; any other file in the way is an error.
//
// The socket is world-connectable (0666), deliberately: it serves read-only
// data that tells no more than world-readable /sys/fs/cgroup does, a
// scraping agent running as its own user needs no group set up for it, and
// what any local user can cost the daemon by connecting is bounded by Serve
// (a connection cap, timeouts), with the first refusal reported. To narrow
// who may scrape, restrict the socket's directory, which connecting needs
// search permission on.
func Listen(a Addr) (net.Listener, error) {
	if a.Network == "unix" {
		if err := os.MkdirAll(filepath.Dir(a.Address), 0o755); err != nil {
			return nil, fmt.Errorf("create socket directory: %w", err)
		}
		if fi, err := os.Lstat(a.Address); err == nil {
			if fi.Mode().Type() != fs.ModeSocket {
				return nil, fmt.Errorf("listen on %s: a file that is not a socket is in the way", a.Address)
			}
			// Stale only if nobody answers: a second memrelief (a trial
			// run, or a DaemonSet next to the service) must not take a
			// live socket from the first.
			if c, err := net.DialTimeout("unix", a.Address, time.Second); err == nil {
				c.Close()
				return nil, fmt.Errorf("listen on %s: another process serves there", a.Address)
			}
			if err := os.Remove(a.Address); err != nil {
				return nil, fmt.Errorf("remove stale socket %s: %w", a.Address, err)
			}
		}
	}
	ln, err := net.Listen(a.Network, a.Address)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", a, err)
	}
	if a.Network == "unix" {
		if err := os.Chmod(a.Address, 0o666); err != nil {
			ln.Close()
			return nil, fmt.Errorf("chmod %s: %w", a.Address, err)
		}
	}
	return ln, nil
}

// Handler serves /metrics: memrelief's series plus the Go runtime's and
// the process's. At most maxInFlight scrapes are answered at once (each
// builds a page in memory); more get 503 at once.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	inFlight := make(chan struct{}, maxInFlight)
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		select {
		case inFlight <- struct{}{}:
			defer func() { <-inFlight }()
		default:
			http.Error(w, "memrelief: too many scrapes at once", http.StatusServiceUnavailable)
			return
		}
		var buf bytes.Buffer
		if _, err := m.writePage(&buf, true); err != nil {
			http.Error(w, "memrelief: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			h.Set("Content-Encoding", "gzip")
			gz := gzip.NewWriter(w)
			gz.Write(buf.Bytes())
			gz.Close()
			return
		}
		h.Set("Content-Length", strconv.Itoa(buf.Len()))
		w.Write(buf.Bytes())
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "memrelief: metrics at /metrics")
	})
	return mux
}

// acceptsGzip reports whether an Accept-Encoding header lists gzip (as
// Prometheus sends it) without refusing it by q=0.
func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		enc, param, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			q, ok := strings.CutPrefix(strings.ReplaceAll(param, " ", ""), "q=")
			if !ok {
				return true
			}
			f, err := strconv.ParseFloat(q, 64)
			return err != nil || f > 0
		}
	}
	return false
}

// Bounds of the metrics listener. A scrape is one small GET answered in
// well under Prometheus's default 10 s scrape timeout; node_exporter caps
// in-flight scrapes at 40 for two Prometheus servers with room for stuck
// ones, and memrelief already caps in-flight scrapes at 4, so a few dozen
// connections leave room for every agent on a node while bounding what
// idle ones cost (about 20 KB each: 4,000 of them took the daemon from
// 11 MB to 90 MB).
const (
	DefaultMaxConns = 32
	// DefaultIdleTimeout outlasts the usual 15 s to 60 s scrape interval,
	// so a scraper's keep-alive connection is reused rather than redialled.
	DefaultIdleTimeout = 2 * time.Minute
	// maxInFlight bounds scrapes answered at once, as promhttp's
	// MaxRequestsInFlight did.
	maxInFlight = 4
	// maxHeaderBytes is far above a scraper's few headers (Accept,
	// User-Agent, a Prometheus timeout header).
	maxHeaderBytes = 8 << 10
	// readTimeout covers the whole request; a GET has no body.
	readTimeout = 10 * time.Second
)

// Serve answers HTTP on ln until ctx ends, then closes it (removing a Unix
// socket). At most Options.MaxConns connections are open at once; more are
// closed as soon as they are accepted, and the first refusal is passed to
// Options.OnConnLimit. It returns nil after ctx ends, the error otherwise.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       readTimeout,
		// Longer than a scrape's wait for the engine (QueryTimeout), so a
		// slow engine gives a page with memrelief_metrics_snapshot_success
		// 0, not a cut connection.
		WriteTimeout:   m.opts.QueryTimeout + 10*time.Second,
		IdleTimeout:    m.opts.IdleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		BaseContext:    func(net.Listener) context.Context { return ctx },
	}
	ln = newLimitListener(ln, m.opts.MaxConns, m.opts.OnConnLimit)
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	var err error
	if web := m.opts.Web; web != nil {
		srv.Handler = web.authHandler(srv.Handler)
		if web.TLS != nil {
			if srv.TLSConfig, err = web.serverTLS(); err != nil {
				return fmt.Errorf("serve metrics on %s: %s: %w", ln.Addr(), web.Path, err)
			}
		}
	}
	if srv.TLSConfig != nil {
		err = srv.ServeTLS(ln, "", "")
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return fmt.Errorf("serve metrics on %s: %w", ln.Addr(), err)
}

// WriteTextfile writes memrelief's series to dir/memrelief.prom atomically
// (a temporary file renamed over it), so node_exporter never reads half a
// file. The Go runtime's series stay out: node_exporter has its own.
func (m *Metrics) WriteTextfile(dir string) error {
	path := filepath.Join(dir, TextfileName)
	// The temporary's name does not end in .prom, so node_exporter skips
	// it; one a crash leaves behind is never read, and the next run
	// removes it.
	tmp, err := os.CreateTemp(dir, textfileTemp+"*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := m.WriteTo(tmp); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	done = true
	return nil
}

// RunTextfile writes the textfile now and every interval until ctx ends,
// then removes it: series of a stopped daemon would otherwise look current.
// Write errors go to report, once per run of consecutive failures. It
// first removes the temporaries earlier runs left (see sweepTextfileTemps).
func (m *Metrics) RunTextfile(ctx context.Context, dir string, every time.Duration, report func(error)) {
	sweepTextfileTemps(dir, time.Now())
	failing := false
	write := func() {
		err := m.WriteTextfile(dir)
		if err != nil && !failing && report != nil {
			report(err)
		}
		failing = err != nil
	}
	write()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			os.Remove(filepath.Join(dir, TextfileName))
			return
		case <-t.C:
			write()
		}
	}
}

// textfileTemp starts the name of WriteTextfile's temporaries, which
// sweepTextfileTemps finds by it.
const textfileTemp = "." + TextfileName + "."

// staleTemp is how old a textfile temporary must be before a starting
// daemon removes it: a write takes milliseconds, so one this old was left
// by a crash, never by another instance writing to the same directory now.
const staleTemp = time.Minute

// sweepTextfileTemps removes the temporaries of WriteTextfile that a crash
// between their creation and the rename left in dir. node_exporter never
// reads them, but each crash would leave one more for good.
// (Read by prefix, not filepath.Glob: a directory named with [ or * would
// be a pattern.)
func sweepTextfileTemps(dir string, now time.Time) {
	entries, _ := os.ReadDir(dir)
	for _, de := range entries {
		if !de.Type().IsRegular() || !strings.HasPrefix(de.Name(), textfileTemp) {
			continue
		}
		if fi, err := de.Info(); err == nil && now.Sub(fi.ModTime()) >= staleTemp {
			os.Remove(filepath.Join(dir, de.Name()))
		}
	}
}
