package metrics

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/engine"
)

// hangGuard bounds reads that a broken server would never answer; it is
// not a limit the tests assert.
const hangGuard = 30 * time.Second

// serveBounded serves m's handler with opts on a Unix socket for the
// test's lifetime and returns the socket path.
func serveBounded(t *testing.T, opts Options) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "metrics.sock")
	ln, err := Listen(Addr{"unix", sock})
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, ln, opts)
	return sock
}

// serveOn serves an empty engine's page with opts on ln until the test
// ends, and fails the test if Serve returns an error.
func serveOn(t *testing.T, ln net.Listener, opts Options) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m := New(ctx, QueryFunc(func(context.Context) (engine.Snapshot, error) { return engine.Snapshot{}, nil }), opts)
	errc := make(chan error, 1)
	go func() { errc <- m.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

// getOn sends one keep-alive GET / on c and reads the response.
func getOn(t *testing.T, c net.Conn, r *bufio.Reader) error {
	t.Helper()
	c.SetDeadline(time.Now().Add(hangGuard))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: memrelief\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /: %s", resp.Status)
	}
	return nil
}

func TestServeRefusesConnectionsBeyondTheCap(t *testing.T) {
	const limit, excess = 3, 4
	var refusals atomic.Int32
	var reportedLimit atomic.Int32
	sock := serveBounded(t, Options{MaxConns: limit, OnConnLimit: func(n int) {
		refusals.Add(1)
		reportedLimit.Store(int32(n))
	}})

	// Each of the first connections is served and, kept alive, holds its
	// slot.
	held := make([]net.Conn, limit)
	for i := range held {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := getOn(t, c, bufio.NewReader(c)); err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, limit, err)
		}
		held[i] = c
	}
	// Every further one is closed without an answer.
	for i := range excess {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := getOn(t, c, bufio.NewReader(c)); err == nil {
			t.Errorf("connection %d beyond the cap of %d was served", i+1, limit)
		} else if isTimeout(err) {
			t.Errorf("connection %d beyond the cap hung instead of being closed: %v", i+1, err)
		}
	}
	if n := refusals.Load(); n != 1 {
		t.Errorf("OnConnLimit called %d times for %d refusals; want once", n, excess)
	}
	if n := reportedLimit.Load(); n != limit {
		t.Errorf("OnConnLimit(%d); want the cap, %d", n, limit)
	}

	// A closed connection gives its slot back. The server notices the
	// close asynchronously, so a new connection may still be refused for
	// a moment.
	held[0].Close()
	for attempt := 0; ; attempt++ {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		err = getOn(t, c, bufio.NewReader(c))
		c.Close()
		if err == nil {
			break
		}
		if attempt == 200 {
			t.Fatalf("no connection served after one of %d was closed: %v", limit, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestServeClosesIdleConnections(t *testing.T) {
	sock := serveBounded(t, Options{IdleTimeout: 50 * time.Millisecond})
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if err := getOn(t, c, r); err != nil {
		t.Fatal(err)
	}
	// Nothing more is sent: the server must end the keep-alive connection
	// on its own, long before the guard.
	c.SetReadDeadline(time.Now().Add(hangGuard))
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("idle connection: read %v; want EOF (closed by the server)", err)
	}
}

func TestServeRefusesHugeHeaders(t *testing.T) {
	sock := serveBounded(t, Options{})
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hangGuard))
	req := "GET / HTTP/1.1\r\nHost: memrelief\r\nX-Filler: " + strings.Repeat("a", 64<<10) + "\r\n\r\n"
	go io.WriteString(c, req) // the server may stop reading part way
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB header: %s; want 431", resp.Status)
	}
}
