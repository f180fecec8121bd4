package history

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWriterNeverBlocksTheCaller: while the disk is busy, Save queues up
// to the queue's room and then says no at once, and the saves land in the
// order given, so the newest save of a key is the one on disk.
func TestWriterNeverBlocksTheCaller(t *testing.T) {
	st := Store{Dir: t.TempDir()}
	w := NewWriter(st, 2)
	release := make(chan struct{})
	busy := make(chan struct{})
	w.offer(func() error { close(busy); <-release; return nil }) // a disk that hangs
	<-busy
	older, newer := testSeries(t, "/a.slice", 1), testSeries(t, "/a.slice", 2)
	if !w.Save(older) || !w.Save(newer) {
		t.Fatal("Save refused with room in the queue")
	}
	start := time.Now()
	if w.Save(testSeries(t, "/b.slice", 3)) {
		t.Fatal("Save queued past the queue's room")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a refused Save took %v: it must not wait for the disk", d)
	}
	close(release)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load("/a.slice", nil)
	if err != nil || got == nil {
		t.Fatalf("load after the saves: %v, %v", got, err)
	}
	if !got.Last().Equal(newer.Last()) {
		t.Errorf("on disk: the series of %v, want the newer save's %v", got.Last(), newer.Last())
	}
	if _, err := os.Stat(filepath.Join(st.Dir, FileName("/b.slice"))); !os.IsNotExist(err) {
		t.Errorf("the refused save was written: %v", err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestWriterReportsFailures: a save that fails is counted and its error,
// naming the directory, comes back to the caller's goroutine.
func TestWriterReportsFailures(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	w := NewWriter(Store{Dir: file}, 4)
	w.Save(testSeries(t, "/a.slice", 1))
	w.Save(testSeries(t, "/b.slice", 1))
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	n, err := w.Failed()
	if n != 2 || err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("Failed() = %d, %v; want 2 failures naming %s", n, err, file)
	}
	if n, err := w.Failed(); n != 0 || err != nil {
		t.Errorf("a second Failed() = %d, %v; want them cleared", n, err)
	}
}

// TestWriterCloseGivesUp: Close waits for the queue only as long as its
// context allows, and says so when writes are left.
func TestWriterCloseGivesUp(t *testing.T) {
	st := Store{Dir: t.TempDir()}
	w := NewWriter(st, 2)
	release := make(chan struct{})
	busy := make(chan struct{})
	w.offer(func() error { close(busy); <-release; return nil })
	<-busy
	w.Save(testSeries(t, "/late.slice", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); err == nil || !strings.Contains(err.Error(), "still queued") {
		t.Fatalf("Close with the disk hung: %v, want it to say writes are left", err)
	}
	// The disk comes back: the writer stops after the job it was doing, so
	// a writer started next cannot be overtaken by this one's older saves.
	close(release)
	<-w.done
	if _, err := os.Stat(filepath.Join(st.Dir, FileName("/late.slice"))); !os.IsNotExist(err) {
		t.Errorf("a save queued before Close gave up was written after it: %v", err)
	}
}

func testSeries(t *testing.T, key string, hours int) *Series {
	t.Helper()
	s, err := NewSeries(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for d := time.Duration(0); d <= time.Duration(hours)*time.Hour; d += time.Minute {
		var v Values
		v.Set(Current, 1<<20)
		s.Add(start.Add(d), v)
	}
	return s
}
