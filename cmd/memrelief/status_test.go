package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/fixtures"
	"github.com/memrelief/memrelief/internal/inspect"
)

const statusPodSlice = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice"

// statusGrowth is a trend of high quality, bytesPerHour of anon.
func statusGrowth(bytesPerHour float64) *engine.TrendStatus {
	return &engine.TrendStatus{BytesPerSec: bytesPerHour / 3600, Quality: "high", Growing: bytesPerHour > 0, Dominant: "anon",
		ToHigh: engine.NeverMet, ToMax: engine.NeverMet, ToOOM: engine.NeverMet}
}

// statusWithTrends is the v2-systemd fixture as a daemon would show it: the
// pod grows 24M/h, its stress container 20M/h, system.slice shrinks.
func statusWithTrends(t *testing.T) inspect.Status {
	t.Helper()
	roots := fixtures.Roots("v2-systemd")
	layout, err := cgroupfs.DetectLayout(roots.Cgroup, cgroupfs.FromFiles)
	if err != nil {
		t.Fatal(err)
	}
	stress := "/" + statusPodSlice + "/cri-containerd-712926b079e2569857847b10c6d933822f402f94e4cf0b2e7edc31c30862c35c.scope"
	d := &inspect.Daemon{Status: "watching 2 cgroups", Trends: true, Levels: map[string]inspect.DaemonLevel{
		"/":             {Rule: "node", Level: "normal"},
		"/system.slice": {Rule: "slices", Level: "normal", Trend: statusGrowth(-1 << 20)},
		"/" + statusPodSlice: {Rule: "pods", Level: "normal", Pod: "logging/log-agent", Trend: statusGrowth(24 << 20),
			Containers: []engine.ContainerStatus{{Name: "stress", Cgroup: stress, Trend: statusGrowth(20 << 20)}}},
	}}
	st, err := inspect.BuildStatus(inspect.StatusOptions{Roots: roots, Layout: layout, Depth: 3, Daemon: d})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// frameRows are the table rows of a frame, after its heading and header.
func frameRows(f string) []string {
	var rows []string
	lines := strings.Split(f, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "LEVEL") {
			continue
		}
		for _, r := range lines[i+1:] {
			if r == "" {
				break
			}
			rows = append(rows, r)
		}
		break
	}
	return rows
}

func TestFrameSortsByGrowth(t *testing.T) {
	at := time.Date(2026, 11, 24, 6, 0, 0, 0, time.Local)
	o := watchOptions{every: 2 * time.Second, sort: "growth", now: func() time.Time { return at }}
	f, err := frame(statusWithTrends(t), o, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(f, "memrelief status, 2026-11-24 06:00:00, every 2s, sorted by growth (Ctrl-C stops)\n\nLEVEL ") {
		t.Fatalf("frame does not start with its heading and the table:\n%s", f)
	}
	rows := frameRows(f)
	want := []string{"node", "kubepods-burstable-pod1234_5678.slice", "logging/log-agent/stress", "system.slice"}
	if len(rows) < len(want)+1 {
		t.Fatalf("%d rows:\n%s", len(rows), f)
	}
	for i, w := range want {
		if fields := strings.Fields(rows[i]); fields[1] != w {
			t.Errorf("row %d is %q, want %s (fastest growth first, the node on top)", i, fields[1], w)
		}
	}
	for _, w := range []string{"24M/h anon", "20M/h anon", "-1.0M/h"} {
		if !strings.Contains(f, w) {
			t.Errorf("frame lacks GROWTH %q:\n%s", w, f)
		}
	}
	for _, r := range rows[len(want):] {
		if g := strings.Fields(r)[5]; g != "-" {
			t.Errorf("row without a trend shows GROWTH %q: %s", g, r)
		}
	}

	// Frames after the first are set apart by a blank line; on a terminal
	// each clears the screen instead.
	if next, _ := frame(statusWithTrends(t), o, false); !strings.HasPrefix(next, "\nmemrelief status, ") {
		t.Errorf("second frame starts %q", next[:20])
	}
	o.tty = true
	for _, first := range []bool{true, false} {
		if f, _ := frame(statusWithTrends(t), o, first); !strings.HasPrefix(f, clearScreen+"memrelief status, ") || strings.Count(f, "\033") != 2 {
			t.Errorf("terminal frame (first %v) starts %q", first, f[:20])
		}
	}
	o.sort = "colour"
	if _, err := frame(statusWithTrends(t), o, true); err == nil || !strings.Contains(err.Error(), `"colour"`) {
		t.Errorf("unknown sort key: %v", err)
	}
}

func TestWatchLoop(t *testing.T) {
	node := inspect.Status{Mode: "unified", Rows: []inspect.Row{{Name: "node"}}}
	at := time.Date(2026, 11, 24, 6, 0, 0, 0, time.Local)
	o := watchOptions{every: 20 * time.Millisecond, sort: "growth", now: func() time.Time { return at }}

	// Until the context ends, a frame per interval, one blank line apart.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var b bytes.Buffer
	calls := 0
	err := watchStatus(ctx, &b, o, func(context.Context) (inspect.Status, error) { calls++; return node, nil })
	if err != nil {
		t.Fatal(err)
	}
	// The context may end while the last frame is built: it is not shown.
	frames := strings.Count(b.String(), "memrelief status, ")
	if frames < 3 || (frames != calls && frames != calls-1) || strings.Count(b.String(), "\n\nmemrelief status, ") != frames-1 || strings.Contains(b.String(), "\033") {
		t.Errorf("%d calls, %d frames:\n%s", calls, frames, b.String())
	}
	if calls > 17 {
		t.Errorf("%d frames in 300ms at one per 20ms", calls)
	}

	// On a terminal every frame clears the screen.
	o.tty = true
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	b.Reset()
	if err := watchStatus(ctx, &b, o, func(context.Context) (inspect.Status, error) { return node, nil }); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), clearScreen); n < 2 || n != strings.Count(b.String(), "memrelief status, ") {
		t.Errorf("%d clears:\n%q", n, b.String())
	}

	// A source that fails ends the loop with its error, at once.
	calls = 0
	b.Reset()
	boom := errors.New("no cgroup \"gone.slice\"")
	err = watchStatus(context.Background(), &b, o, func(context.Context) (inspect.Status, error) { calls++; return inspect.Status{}, boom })
	if !errors.Is(err, boom) || calls != 1 || b.Len() != 0 {
		t.Errorf("failing source: %v after %d calls, wrote %q", err, calls, b.String())
	}

	// Ctrl-C while a frame is built: no frame, no error.
	ctx, cancel = context.WithCancel(context.Background())
	b.Reset()
	err = watchStatus(ctx, &b, o, func(context.Context) (inspect.Status, error) { cancel(); return inspect.Status{}, context.Canceled })
	if err != nil || b.Len() != 0 {
		t.Errorf("interrupted frame: %v, wrote %q", err, b.String())
	}
}

func TestStatusWatchCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	var out, errOut bytes.Buffer
	code := dispatch(ctx, &cli{stdout: &out, stderr: &errOut}, []string{"status", "--root", fixtures.Dir("v2-systemd"), "--watch", "--interval", "100ms"})
	if code != 0 || errOut.Len() != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut.String())
	}
	// Not a terminal: frames one after the other, without a daemon's
	// columns and saying why.
	frames := strings.Split(out.String(), "\n\nmemrelief status, ")
	if len(frames) < 2 || strings.Contains(out.String(), "\033") || !strings.Contains(frames[0], "GROWTH and TO-LIMIT are left out") ||
		!strings.Contains(frames[0], "\nNAME ") || !strings.Contains(frames[0], "sorted by growth") {
		t.Errorf("%d frames:\n%s", len(frames), out.String())
	}
	for _, args := range [][]string{{"--watch", "--json"}, {"--watch", "--interval", "1ms"}} {
		if _, errOut, code := runCLI(t, append([]string{"status", "--root", fixtures.Dir("v2-systemd")}, args...)...); code != 2 || errOut == "" {
			t.Errorf("status %q: exit %d, stderr %q; want 2 and why", args, code, errOut)
		}
	}
}
