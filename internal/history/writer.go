package history

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Writer does a Store's file work on a goroutine of its own. A save is a
// write, an fsync, a rename and an fsync of the directory, a millisecond or
// more on a real disk; with thousands of series a daemon's loop would wait
// for the disk every tick. The caller encodes a series (a Series belongs
// to the caller's goroutine) and the writer writes the bytes, one job at a
// time in the order given, so the newest save of a key lands last and
// Prune never removes a file a save is writing.
type Writer struct {
	st   Store
	jobs chan func() error
	done chan struct{}
	quit chan struct{} // closed when Close gives up: no job after the current one

	mu     sync.Mutex
	err    error // the first failure since Failed was last called
	failed int
}

// NewWriter starts a writer for st with room for queue jobs waiting.
func NewWriter(st Store, queue int) *Writer {
	w := &Writer{st: st, jobs: make(chan func() error, max(queue, 1)), done: make(chan struct{}), quit: make(chan struct{})}
	go w.run()
	return w
}

func (w *Writer) run() {
	defer close(w.done)
	for job := range w.jobs {
		select {
		case <-w.quit:
			return
		default:
		}
		if err := job(); err != nil {
			w.mu.Lock()
			if w.err == nil {
				w.err = err
			}
			w.failed++
			w.mu.Unlock()
		}
	}
}

// Save queues what s holds now. It returns false, queueing nothing, when
// the queue is full: the disk is behind, and the caller keeps the series
// to try again later.
func (w *Writer) Save(s *Series) bool {
	return w.offer(w.saveJob(s))
}

// SaveWait is Save that waits for room until ctx ends, for saving
// everything on the way out.
func (w *Writer) SaveWait(ctx context.Context, s *Series) bool {
	select {
	case w.jobs <- w.saveJob(s):
		return true
	case <-ctx.Done():
		return false
	}
}

func (w *Writer) saveJob(s *Series) func() error {
	key, data := s.key, encode(nil, s)
	return func() error { return w.st.write(key, data) }
}

// Prune queues Store.Prune; false when the queue is full.
func (w *Writer) Prune(now time.Time, maxAge time.Duration) bool {
	return w.offer(func() error {
		_, err := w.st.Prune(now, maxAge)
		return err
	})
}

func (w *Writer) offer(job func() error) bool {
	select {
	case w.jobs <- job:
		return true
	default:
		return false
	}
}

// Failed returns the first failure since the last call and how many jobs
// failed in all meanwhile (0 and nil when none did).
func (w *Writer) Failed() (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.failed, w.err
	w.failed, w.err = 0, nil
	return n, err
}

// Flush waits until every job queued before it is done, or ctx ends.
func (w *Writer) Flush(ctx context.Context) error {
	flushed := make(chan struct{})
	select {
	case w.jobs <- func() error { close(flushed); return nil }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-flushed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops taking jobs and waits until the queued ones are done, or
// ctx ends: then the writer stops after the job it is doing, the rest are
// left undone, and Close says so (a writer that went on would race the
// next one with older saves). The Writer must not be used after Close;
// Failed still answers.
func (w *Writer) Close(ctx context.Context) error {
	close(w.jobs)
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		close(w.quit)
		return errors.Join(errors.New("history writes still queued when time ran out"), ctx.Err())
	}
}
