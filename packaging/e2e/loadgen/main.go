// Command loadgen makes the kernel memory that memrelief is meant to manage,
// fast enough to matter under QEMU's TCG emulation where a shell loop manages
// only a few dozen operations a second.
//
// Usage:
//
//	loadgen dentries  [-dir D] [-rate N] [-count N]       stat unique missing names: negative dentries
//	loadgen files     [-dir D] [-rate N] [-count N]       create empty files: positive dentries and inodes
//	loadgen logagent  [-dir D] [-pods N] [-rate N]        a log agent: inotify over a deep pods tree, files churn
//	loadgen anon      [-rate MB] [-max MB]                touch anonymous memory at MB/s up to a ceiling
//	loadgen leak      [-size S] [-every D] [-max MB]      a slow steady leak: touch S more anonymous memory every D
//	loadgen psi-probe -file F [-trigger T] [-timeout D]   arm a PSI trigger and report what poll saw
//	loadgen scrape    -file SOCKET                        GET /metrics over a Unix socket, the page to stdout
//	loadgen conns     -file SOCKET -count N [-timeout D]  N keep-alive connections, one GET each, then idle; after D, say how many the server closed
//	loadgen unmark    -file CGROUPDIR                     remove systemd's delegation marks (user.delegate, trusted.delegate), say which were there
//
// Common flags: -duration bounds the work (0: until -count is reached or a
// signal arrives), -hold keeps the process alive after the work so its
// /proc files and cgroup can be read, -watch DIR adds an inotify watch on
// every directory under DIR, -open FILE keeps a plain file descriptor open.
// Progress and the final figures go to stdout as key=value lines, so scenario
// scripts can grep them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type options struct {
	dir       string
	rate      int
	count     int
	duration  time.Duration
	hold      bool
	watch     string
	open      string
	pods      int
	maxMB     int
	size      string
	every     time.Duration
	file      string
	trigger   string
	timeout   time.Duration
	keepFiles bool
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen dentries|files|logagent|anon|leak|psi-probe|scrape|conns|unmark [flags]")
		os.Exit(2)
	}
	mode := os.Args[1]
	var o options
	fset := flag.NewFlagSet("loadgen "+mode, flag.ExitOnError)
	fset.StringVar(&o.dir, "dir", "/var/tmp/loadgen", "directory to work in")
	fset.IntVar(&o.rate, "rate", 0, "operations per second (anon: MB per second); 0 is as fast as possible")
	fset.IntVar(&o.count, "count", 0, "stop after this many operations; 0 is no limit")
	fset.DurationVar(&o.duration, "duration", 0, "stop the work after this long; 0 is no limit")
	fset.BoolVar(&o.hold, "hold", false, "stay alive after the work until SIGTERM/SIGINT")
	fset.StringVar(&o.watch, "watch", "", "add an inotify watch on every directory under this one")
	fset.StringVar(&o.open, "open", "", "keep this file open (read only) for the process lifetime")
	fset.IntVar(&o.pods, "pods", 20, "logagent: pod directories to create")
	fset.IntVar(&o.maxMB, "max", 256, "anon, leak: MB to allocate in total")
	fset.StringVar(&o.size, "size", "3M", "leak: bytes to add each step (suffix K, M or G: binary units)")
	fset.DurationVar(&o.every, "every", 5*time.Second, "leak: time between steps")
	fset.StringVar(&o.file, "file", "", "psi-probe: pressure file to arm; scrape, conns: the metrics socket; unmark: the cgroup directory")
	fset.StringVar(&o.trigger, "trigger", "some 150000 1000000", "psi-probe: trigger text (stall µs, window µs)")
	fset.DurationVar(&o.timeout, "timeout", 10*time.Second, "psi-probe: how long to poll; conns: how long the server has to close connections")
	fset.BoolVar(&o.keepFiles, "keep", true, "files: leave created files in place")
	_ = fset.Parse(os.Args[2:])

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if mode == "scrape" {
		// The page alone on stdout, as the agent receives it: no pid= or
		// work= lines around it. The guest image has no curl.
		if err := scrape(ctx, o.file, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "loadgen scrape: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, mode, o); err != nil {
		fmt.Fprintf(os.Stderr, "loadgen %s: %v\n", mode, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, mode string, o options) error {
	fmt.Printf("pid=%d\n", os.Getpid())
	if o.open != "" {
		f, err := os.Open(o.open)
		if err != nil {
			return fmt.Errorf("open %s: %w", o.open, err)
		}
		defer f.Close()
		fmt.Printf("file_fd=%d\n", f.Fd())
	}
	if o.watch != "" {
		if err := os.MkdirAll(o.watch, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", o.watch, err)
		}
		w, err := newWatcher(o.watch)
		if err != nil {
			return err
		}
		defer w.close()
		go w.drain(ctx)
		fmt.Printf("inotify_fd=%d watches=%d\n", w.fd, w.watches)
	}

	workCtx := ctx
	if o.duration > 0 {
		var cancel context.CancelFunc
		workCtx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	var err error
	switch mode {
	case "dentries":
		err = negativeDentries(workCtx, o)
	case "files":
		err = positiveDentries(workCtx, o)
	case "logagent":
		err = logAgent(workCtx, o)
	case "anon":
		var keep [][]byte
		keep, err = anon(workCtx, o)
		defer func() { _ = len(keep) }()
	case "leak":
		var keep [][]byte
		keep, err = leakFlags(workCtx, o)
		defer func() { _ = len(keep) }()
	case "psi-probe":
		err = psiProbe(o)
	case "conns":
		var open []net.Conn
		open, err = idleConns(workCtx, o.file, o.count, o.timeout, os.Stdout)
		defer func() {
			for _, c := range open {
				c.Close()
			}
		}()
	case "unmark":
		err = unmark(o.file, os.Stdout)
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return err
	}
	fmt.Println("work=done")
	if o.hold {
		<-ctx.Done()
	}
	return nil
}

// pacer spreads rate operations a second over 10 ms ticks, so a scenario sees
// a steady growth rather than one burst per second.
type pacer struct {
	rate  int
	start time.Time
	done  int
}

func (p *pacer) wait(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	if p.rate <= 0 {
		return true
	}
	for {
		allowed := int(time.Since(p.start).Seconds()*float64(p.rate)) + 1
		if p.done < allowed {
			p.done++
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func report(op string, n int, start time.Time) {
	fmt.Printf("op=%s count=%d seconds=%.1f\n", op, n, time.Since(start).Seconds())
}

func negativeDentries(ctx context.Context, o options) error {
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", o.dir, err)
	}
	start := time.Now()
	p := pacer{rate: o.rate, start: start}
	prefix := fmt.Sprintf("%s/missing-%d-", o.dir, os.Getpid())
	var st unix.Stat_t
	n := 0
	next := start.Add(5 * time.Second)
	for (o.count == 0 || n < o.count) && p.wait(ctx) {
		if err := unix.Stat(prefix+itoa(n), &st); err == nil {
			return fmt.Errorf("stat %s%d: exists, expected a missing name", prefix, n)
		}
		n++
		if n%1024 == 0 && time.Now().After(next) {
			report("negative-dentries", n, start)
			next = time.Now().Add(5 * time.Second)
		}
	}
	report("negative-dentries", n, start)
	return nil
}

func positiveDentries(ctx context.Context, o options) error {
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", o.dir, err)
	}
	start := time.Now()
	p := pacer{rate: o.rate, start: start}
	prefix := fmt.Sprintf("%s/file-%d-", o.dir, os.Getpid())
	n := 0
	for (o.count == 0 || n < o.count) && p.wait(ctx) {
		name := prefix + itoa(n)
		fd, err := unix.Open(name, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		unix.Close(fd)
		if !o.keepFiles {
			if err := unix.Unlink(name); err != nil {
				return fmt.Errorf("remove %s: %w", name, err)
			}
		}
		n++
	}
	report("positive-dentries", n, start)
	return nil
}

// logAgent builds /var/log/pods-like directories and churns rotated log files
// in them while watching the whole tree, the way node log shippers do: every
// rotation leaves a negative dentry behind, and every directory costs a watch.
func logAgent(ctx context.Context, o options) error {
	var dirs []string
	for i := 0; i < o.pods; i++ {
		pod := fmt.Sprintf("%s/ns%d_pod-%d_%08x-0000-4000-8000-%012x", o.dir, i%5, i, i, i)
		for _, c := range []string{"app", "sidecar"} {
			d := filepath.Join(pod, c)
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("create %s: %w", d, err)
			}
			dirs = append(dirs, d)
		}
	}
	w, err := newWatcher(o.dir)
	if err != nil {
		return err
	}
	defer w.close()
	go w.drain(ctx)
	fmt.Printf("inotify_fd=%d watches=%d\n", w.fd, w.watches)

	start := time.Now()
	p := pacer{rate: o.rate, start: start}
	line := []byte(strings.Repeat("x", 120) + "\n")
	n := 0
	for (o.count == 0 || n < o.count) && p.wait(ctx) {
		d := dirs[n%len(dirs)]
		name := fmt.Sprintf("%s/%d.log.%d", d, n%4, n)
		fd, err := unix.Open(name, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		_, _ = unix.Write(fd, line)
		unix.Close(fd)
		if err := unix.Unlink(name); err != nil {
			return fmt.Errorf("rotate %s: %w", name, err)
		}
		n++
	}
	report("logagent-rotations", n, start)
	fmt.Printf("inotify_events=%d\n", w.events())
	return nil
}

func anon(ctx context.Context, o options) ([][]byte, error) {
	const mb = 1 << 20
	start := time.Now()
	p := pacer{rate: o.rate, start: start}
	var chunks [][]byte
	page := os.Getpagesize()
	for len(chunks) < o.maxMB && p.wait(ctx) {
		b, err := unix.Mmap(-1, 0, mb, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return chunks, fmt.Errorf("map anonymous memory after %d MB: %w", len(chunks), err)
		}
		for i := 0; i < len(b); i += page {
			b[i] = 1
		}
		chunks = append(chunks, b)
	}
	report("anon-mb", len(chunks), start)
	return chunks, nil
}

func leakFlags(ctx context.Context, o options) ([][]byte, error) {
	size, err := parseSize(o.size)
	if err != nil {
		return nil, fmt.Errorf("-size: %w", err)
	}
	if o.every <= 0 {
		return nil, fmt.Errorf("-every %s: want a positive duration", o.every)
	}
	return leak(ctx, size, o.every, int64(o.maxMB)<<20, os.Stdout)
}

// leak maps size bytes of anonymous memory every interval, writes to every
// page so the memory is charged to the cgroup at once (an untouched mapping
// costs nothing), and keeps it, until the next step would pass limit or ctx
// ends. The steps are scheduled from the start, not from the previous step,
// so a slow step under emulation does not bend the line a trend estimator
// is meant to find. It prints progress every 30 s and the total at the end.
func leak(ctx context.Context, size int64, interval time.Duration, limit int64, out io.Writer) ([][]byte, error) {
	start := time.Now()
	page := os.Getpagesize()
	var chunks [][]byte
	var total int64
	nextReport := start.Add(30 * time.Second)
	for step := 0; total+size <= limit; step++ {
		if step > 0 {
			t := time.NewTimer(time.Until(start.Add(time.Duration(step) * interval)))
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		b, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return chunks, fmt.Errorf("map anonymous memory after %d bytes: %w", total, err)
		}
		for i := 0; i < len(b); i += page {
			b[i] = 1
		}
		chunks = append(chunks, b)
		total += size
		if now := time.Now(); now.After(nextReport) {
			fmt.Fprintf(out, "op=leak bytes=%d seconds=%.1f\n", total, now.Sub(start).Seconds())
			nextReport = now.Add(30 * time.Second)
		}
	}
	fmt.Fprintf(out, "op=leak bytes=%d steps=%d seconds=%.1f\n", total, len(chunks), time.Since(start).Seconds())
	return chunks, nil
}

// parseSize reads a byte count with an optional binary suffix: 4096, 640K,
// 3M, 1G.
func parseSize(s string) (int64, error) {
	num, mult := s, int64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'K', 'k':
			num, mult = s[:n-1], 1<<10
		case 'M', 'm':
			num, mult = s[:n-1], 1<<20
		case 'G', 'g':
			num, mult = s[:n-1], 1<<30
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v <= 0 || v > (1<<40)/mult {
		return 0, fmt.Errorf("size %q: want a positive whole number of bytes, optionally with K, M or G, at most 1T", s)
	}
	return v * mult, nil
}

// unmark removes the attributes systemd marks a delegated cgroup with, so a
// scenario can see what memrelief learns of a Delegate=yes unit from
// systemd alone; it says which of them systemd had set.
func unmark(dir string, out io.Writer) error {
	if dir == "" {
		return errors.New("unmark needs -file")
	}
	for _, name := range []string{"user.delegate", "trusted.delegate"} {
		state := "removed"
		if err := unix.Removexattr(dir, name); errors.Is(err, unix.ENODATA) {
			state = "absent"
		} else if err != nil {
			return fmt.Errorf("remove %s of %s: %w", name, dir, err)
		}
		fmt.Fprintf(out, "%s=%s\n", name, state)
	}
	return nil
}

// psiProbe arms a trigger the way memrelief does and says what happened, so a
// scenario can tell "triggers unusable here" from "no pressure".
func psiProbe(o options) error {
	if o.file == "" {
		return errors.New("psi-probe needs -file")
	}
	fd, err := unix.Open(o.file, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		fmt.Printf("psi_open=error psi_errno=%q\n", err.Error())
		return nil
	}
	defer unix.Close(fd)
	fmt.Println("psi_open=ok")
	// The kernel overwrites the last byte written with NUL: send one.
	if _, err := unix.Write(fd, append([]byte(o.trigger), 0)); err != nil {
		fmt.Printf("psi_write=error psi_errno=%q\n", err.Error())
		return nil
	}
	fmt.Println("psi_write=ok")
	_, err = unix.Write(fd, append([]byte(o.trigger), 0))
	fmt.Printf("psi_second_write=%q\n", errString(err))
	start := time.Now()
	deadline := start.Add(o.timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			fmt.Printf("psi_event=timeout psi_wait_ms=%d\n", time.Since(start).Milliseconds())
			return nil
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}
		n, err := unix.Poll(pfd, int(left.Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll %s: %w", o.file, err)
		}
		if n == 0 {
			continue
		}
		switch {
		case pfd[0].Revents&unix.POLLERR != 0:
			fmt.Printf("psi_event=POLLERR psi_wait_ms=%d\n", time.Since(start).Milliseconds())
		case pfd[0].Revents&unix.POLLPRI != 0:
			fmt.Printf("psi_event=POLLPRI psi_wait_ms=%d\n", time.Since(start).Milliseconds())
		default:
			fmt.Printf("psi_event=revents-%#x psi_wait_ms=%d\n", pfd[0].Revents, time.Since(start).Milliseconds())
		}
		return nil
	}
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

type watcher struct {
	fd      int
	watches int
	counter chan int
}

func newWatcher(root string) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	w := &watcher{fd: fd, counter: make(chan int, 1)}
	w.counter <- 0
	const mask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MODIFY | unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_CLOSE_WRITE
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if _, err := unix.InotifyAddWatch(fd, p, mask); err != nil {
			return fmt.Errorf("watch %s: %w", p, err)
		}
		w.watches++
		return nil
	})
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("watch tree %s: %w", root, err)
	}
	return w, nil
}

// drain reads events so the queue never overflows, as a real agent would.
func (w *watcher) drain(ctx context.Context) {
	buf := make([]byte, 64<<10)
	for ctx.Err() == nil {
		n, err := unix.Read(w.fd, buf)
		if err != nil || n <= 0 {
			return
		}
		count := 0
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			nameLen := int(uint32(buf[off+12]) | uint32(buf[off+13])<<8 | uint32(buf[off+14])<<16 | uint32(buf[off+15])<<24)
			off += unix.SizeofInotifyEvent + nameLen
			count++
		}
		c := <-w.counter
		w.counter <- c + count
	}
}

func (w *watcher) events() int {
	c := <-w.counter
	w.counter <- c
	return c
}

func (w *watcher) close() { unix.Close(w.fd) }

func itoa(n int) string { return fmt.Sprint(n) }

// maxPage bounds what scrape copies: memrelief caps its page far below.
const maxPage = 64 << 20

// scrape writes the page GET /metrics returns over the Unix socket sock.
func scrape(ctx context.Context, sock string, out io.Writer) error {
	var d net.Dialer
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return d.DialContext(ctx, "unix", sock)
	}}, Timeout: 30 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://memrelief/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("scrape %s: %w", sock, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("scrape %s: %s", sock, resp.Status)
	}
	_, err = io.Copy(out, io.LimitReader(resp.Body, maxPage))
	return err
}

// idleConns opens n connections to the Unix socket sock, each as an idle
// keep-alive scraper: one GET of / and then nothing. After wait (the
// server's time to answer, and to close what it will not keep) it prints
// dialed=, refused= (dials that failed), closed= (closed by the server, at
// once or later) and open=, and returns the connections still open for
// -hold to keep.
func idleConns(ctx context.Context, sock string, n int, wait time.Duration, out io.Writer) ([]net.Conn, error) {
	var d net.Dialer
	var conns []net.Conn
	refused := 0
	for range n {
		c, err := d.DialContext(ctx, "unix", sock)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			refused++
			continue
		}
		// A connection closed at accept may refuse the request; the
		// read below finds it closed either way.
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: memrelief\r\n\r\n")
		conns = append(conns, c)
	}
	select {
	case <-ctx.Done():
	case <-time.After(wait):
	}
	// The answer, if any, is read and dropped; then the deadline passing
	// means open, anything else (EOF, a reset) closed.
	var open []net.Conn
	closed := 0
	buf := make([]byte, 4096)
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		var err error
		for err == nil {
			_, err = c.Read(buf)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.SetReadDeadline(time.Time{})
			open = append(open, c)
			continue
		}
		closed++
		c.Close()
	}
	fmt.Fprintf(out, "dialed=%d refused=%d closed=%d open=%d\n", len(conns)+refused, refused, closed, len(open))
	return open, nil
}
