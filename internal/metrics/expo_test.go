package metrics

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/report"
)

// TestHostileNamesKeepThePageParseable: anyone who can make a cgroup picks
// its name; quotes, backslashes and newlines are escaped and come back as
// they were, and bytes that are not UTF-8 (which Prometheus's parser
// refuses, taking the whole page with them) become U+FFFD.
func TestHostileNamesKeepThePageParseable(t *testing.T) {
	quoted := "/system.slice/a\"b\\c\nd}e{f=g.service"
	binary := "/system.slice/x\xff\xfe.service"
	snap := engine.Snapshot{Cgroups: []engine.CgroupStatus{
		{Cgroup: quoted, Unit: "a.service", Rule: "services", Level: "normal", CurrentBytes: 1},
		{Cgroup: binary, Unit: "x.service", Rule: "services", Level: "normal", CurrentBytes: 2},
	}}
	m := New(context.Background(), QueryFunc(func(context.Context) (engine.Snapshot, error) { return snap, nil }), Options{})
	fams := gather(t, m)
	got := map[string]float64{}
	for _, s := range fams["memrelief_cgroup_memory_current_bytes"].GetMetric() {
		got[labels(s)["cgroup"]] = value(s)
	}
	if got[quoted] != 1 {
		t.Errorf("cgroup %q did not come back as it was: %v", quoted, got)
	}
	if got["/system.slice/x\uFFFD.service"] != 2 {
		t.Errorf("cgroup %q not served with U+FFFD for its bad bytes: %v", binary, got)
	}
}

// TestServeGzip: Prometheus asks for gzip; the page comes compressed and
// reads the same.
func TestServeGzip(t *testing.T) {
	snap := engine.Snapshot{Cgroups: []engine.CgroupStatus{{Cgroup: "/a.slice", Unit: "a.slice", Rule: "pods", Level: "normal", CurrentBytes: 7}}}
	m := New(context.Background(), QueryFunc(func(context.Context) (engine.Snapshot, error) { return snap, nil }), Options{})
	for _, tt := range []struct {
		accept string
		gz     bool
	}{{"gzip", true}, {"deflate, gzip;q=1.0, *;q=0.5", true}, {"gzip;q=0", false}, {"gzip; q=0.000", false}, {"", false}} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if tt.accept != "" {
			req.Header.Set("Accept-Encoding", tt.accept)
		}
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, req)
		if ct := rec.Header().Get("Content-Type"); ct != contentType {
			t.Errorf("Accept-Encoding %q: Content-Type %q", tt.accept, ct)
		}
		body := rec.Body.Bytes()
		if enc := rec.Header().Get("Content-Encoding"); (enc == "gzip") != tt.gz {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q", tt.accept, enc)
			continue
		}
		if tt.gz {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("Accept-Encoding %q: %v", tt.accept, err)
			}
			var plain bytes.Buffer
			if _, err := plain.ReadFrom(zr); err != nil {
				t.Fatal(err)
			}
			body = plain.Bytes()
		}
		fams := parse(t, bytes.NewReader(body))
		if v := value(fams["memrelief_cgroup_memory_current_bytes"].GetMetric()[0]); v != 7 {
			t.Errorf("Accept-Encoding %q: memory.current %v", tt.accept, v)
		}
	}
}

// TestServeBoundsScrapesInFlight: each scrape builds a page in memory, so
// past maxInFlight at once the next one is answered 503 at once instead
// of queueing; once one ends, scrapes are answered again.
func TestServeBoundsScrapesInFlight(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, maxInFlight+1)
	m := New(context.Background(), QueryFunc(func(ctx context.Context) (engine.Snapshot, error) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return engine.Snapshot{}, nil
	}), Options{QueryTimeout: time.Minute})
	h := m.Handler()
	var wg sync.WaitGroup
	codes := make(chan int, maxInFlight)
	for range maxInFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			codes <- rec.Code
		}()
	}
	for range maxInFlight {
		<-entered
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("scrape %d while %d wait: %d, want 503", maxInFlight+1, maxInFlight, rec.Code)
	}
	close(release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("a waiting scrape ended with %d", c)
		}
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("scrape after the others ended: %d", rec.Code)
	}
}

// TestProcessSeriesOverHTTPOnly: the process's figures come from procfs
// over HTTP, like client_golang's process collector gave them, and stay
// out of WriteTo (the textfile), where node_exporter has its own.
func TestProcessSeriesOverHTTPOnly(t *testing.T) {
	m := New(context.Background(), QueryFunc(func(context.Context) (engine.Snapshot, error) { return engine.Snapshot{}, nil }), Options{Proc: "/proc"})
	fams := gather(t, m)
	for _, name := range []string{"process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds", "process_max_fds",
		"process_start_time_seconds", "go_goroutines", "go_memstats_heap_alloc_bytes", "go_info"} {
		f := fams[name]
		if f == nil || len(f.GetMetric()) != 1 {
			t.Errorf("%s: %v", name, f)
			continue
		}
		if name != "process_cpu_seconds_total" && value(f.GetMetric()[0]) <= 0 {
			t.Errorf("%s = %v", name, value(f.GetMetric()[0]))
		}
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	for name := range parse(t, &buf) {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			t.Errorf("%s in WriteTo's page", name)
		}
	}
}

// TestCountersUnderConcurrentScrapes: events arrive on the daemon's
// goroutine while scrapes read; every event is counted (run with -race).
func TestCountersUnderConcurrentScrapes(t *testing.T) {
	m := New(context.Background(), QueryFunc(func(context.Context) (engine.Snapshot, error) { return engine.Snapshot{}, nil }), Options{})
	const n = 500
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range n {
			m.Emit(report.Event{Kind: report.LevelChanged, Fields: map[string]string{report.FieldRule: "pods", report.FieldLevel: "elevated"}})
		}
	}()
	for range 20 {
		var buf bytes.Buffer
		if _, err := m.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if v := m.levels.value("pods", "elevated"); v != n {
		t.Errorf("level_changes_total{pods,elevated} = %v, want %d", v, n)
	}
}
