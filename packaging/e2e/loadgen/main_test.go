package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "4096", want: 4096},
		{in: "640K", want: 640 << 10},
		{in: "3M", want: 3 << 20},
		{in: "3m", want: 3 << 20},
		{in: "1G", want: 1 << 30},
		{in: "1024G", want: 1 << 40},
		{in: "1025G", wantErr: true},
		{in: "", wantErr: true},
		{in: "M", wantErr: true},
		{in: "0", wantErr: true},
		{in: "-1K", wantErr: true},
		{in: "1.5M", wantErr: true},
		{in: "3MiB", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func unmapAll(t *testing.T, chunks [][]byte) {
	t.Helper()
	for _, c := range chunks {
		if err := unix.Munmap(c); err != nil {
			t.Errorf("munmap: %v", err)
		}
	}
}

// The ceiling is a whole number of steps: a step that would pass it is not
// taken, and every page of every step is written (so the kernel charges it).
func TestLeakStopsAtLimitWithPagesTouched(t *testing.T) {
	var out bytes.Buffer
	const size = 48 << 10
	chunks, err := leak(t.Context(), size, time.Millisecond, 200<<10, &out)
	defer unmapAll(t, chunks)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 4 {
		t.Fatalf("%d steps of 48K under a 200K limit, want 4", len(chunks))
	}
	for i, c := range chunks {
		if len(c) != size {
			t.Errorf("step %d: %d bytes, want %d", i, len(c), size)
		}
		for off := 0; off < len(c); off += os.Getpagesize() {
			if c[off] != 1 {
				t.Fatalf("step %d: page at %d not written", i, off)
			}
		}
	}
	if !strings.Contains(out.String(), "op=leak bytes=196608 steps=4 ") {
		t.Errorf("final report %q does not give bytes=196608 steps=4", out.String())
	}
}

// Steps are spaced by the interval from the start: n steps take at least
// (n-1) intervals.
func TestLeakPacesSteps(t *testing.T) {
	const every = 30 * time.Millisecond
	start := time.Now()
	chunks, err := leak(t.Context(), 4096, every, 4*4096, &bytes.Buffer{})
	took := time.Since(start)
	defer unmapAll(t, chunks)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 4 || took < 3*every {
		t.Errorf("%d steps in %s, want 4 in at least %s", len(chunks), took, 3*every)
	}
}

// Cancelling ends the leak at once, keeping what was taken: the scenario's
// -duration and SIGTERM both rely on it.
func TestLeakStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	chunks, err := leak(ctx, 4096, time.Hour, 1<<30, &bytes.Buffer{})
	defer unmapAll(t, chunks)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 1 || time.Since(start) > 10*time.Second {
		t.Errorf("%d steps after %s, want the first step only and a prompt return", len(chunks), time.Since(start))
	}
}

func TestScrapeReadsThePageOverAUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "metrics.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("memrelief_engine_watched_cgroups 3\n"))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	var out bytes.Buffer
	if err := scrape(context.Background(), sock, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "memrelief_engine_watched_cgroups 3\n" {
		t.Errorf("page %q", got)
	}
	if err := scrape(context.Background(), filepath.Join(t.TempDir(), "none.sock"), &out); err == nil {
		t.Error("scrape of a missing socket did not fail")
	}
}

// TestIdleConnsCountsWhatTheServerClosed: a server that answers and keeps
// the first three connections and closes the rest is seen as such.
func TestIdleConnsCountsWhatTheServerClosed(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "m.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var kept []net.Conn
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range kept {
			c.Close()
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if len(kept) < 3 {
				kept = append(kept, c)
				go func() {
					// The request, answered; the connection kept open.
					if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
					}
				}()
			} else {
				c.Close()
			}
			mu.Unlock()
		}
	}()
	var out bytes.Buffer
	open, err := idleConns(context.Background(), sock, 10, time.Second, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range open {
		c.Close()
	}
	if got := out.String(); got != "dialed=10 refused=0 closed=7 open=3\n" {
		t.Errorf("got %q", got)
	}
	if len(open) != 3 {
		t.Errorf("%d connections returned open, want 3", len(open))
	}
}

func TestUnmarkRemovesTheDelegationMarks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: removing trusted.* attributes takes CAP_SYS_ADMIN, as in the guest")
	}
	dir := t.TempDir()
	if err := unix.Setxattr(dir, "user.delegate", []byte("1"), 0); err != nil {
		t.Skipf("no user.* attributes on %s (tmpfs before Linux 6.6 has none): %v", dir, err)
	}
	var out bytes.Buffer
	if err := unmark(dir, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "user.delegate=removed\ntrusted.delegate=absent\n" {
		t.Fatalf("unmark said %q", got)
	}
	if _, err := unix.Getxattr(dir, "user.delegate", make([]byte, 8)); err == nil {
		t.Fatal("user.delegate is still there")
	}
	out.Reset()
	if err := unmark(dir, &out); err != nil || out.String() != "user.delegate=absent\ntrusted.delegate=absent\n" {
		t.Fatalf("unmark again: %q, %v", out.String(), err)
	}
}
