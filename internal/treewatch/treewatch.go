// Package treewatch tells when a set of directories gains or loses a
// subdirectory, through inotify, so that a cgroup tree can be walked when it
// changed instead of every few seconds in case it did. A mkdir or rmdir of a
// cgroup, by systemd, a container runtime or the kubelet's cgroupfs driver,
// is a directory event on its parent like any other.
package treewatch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// What a watched directory reports: its subdirectories coming and going
// (mkdir, rmdir, rename), and its own removal.
const mask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_ONLYDIR | unix.IN_EXCL_UNLINK

// ErrStopped is what Set returns once reading events failed: the watcher
// sees nothing any more, and the caller should close it.
var ErrStopped = errors.New("the tree watcher stopped")

// Watcher holds an inotify watch on each directory of the set it was last
// given, up to a bound, and sends on C when one of them changed.
type Watcher struct {
	f *os.File
	// ifd is f's descriptor, kept because f.Fd() would make the file
	// blocking and its reads would hold a thread that Close cannot wake.
	ifd int
	max int
	c   chan struct{}

	// mu guards the maps and err, which Set changes and the reading
	// goroutine trims when the kernel drops a watch (its directory went)
	// or its queue overflowed.
	mu    sync.Mutex
	wds   map[string]int
	paths map[int]string
	err   error // why reading stopped before Close: nothing is seen since
	done  chan struct{}
}

// New starts a watcher that keeps at most max watches. Every inotify watch
// is kernel memory charged to the caller's cgroup and counted against
// fs.inotify.max_user_watches, shared by all of root's daemons: the bound
// keeps a tree others can grow from taking either.
func New(max int) (*Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	return start(os.NewFile(uintptr(fd), "inotify"), fd, max), nil
}

// start reads events from f (with descriptor fd) until it is closed.
func start(f *os.File, fd, max int) *Watcher {
	w := &Watcher{f: f, ifd: fd, max: max, c: make(chan struct{}, 1), wds: map[string]int{}, paths: map[int]string{}, done: make(chan struct{})}
	go w.read()
	return w
}

// C receives when a watched directory gained or lost a subdirectory, when
// the kernel dropped events (its queue overflowed), or when a watched
// directory went: in each case the tree is worth walking again. One
// pending receive stands for any number of changes.
func (w *Watcher) C() <-chan struct{} { return w.c }

// Set makes dirs the set of watched directories: it watches those not
// watched yet and stops watching the rest. complete is false when not
// every directory could be watched (the bound, the kernel's limit, or an
// error other than the directory having gone, or reading events failed:
// err says why), so changes may go unseen;
// added counts the directories watched anew, which were read before their
// watch existed: a change in them since is seen only by walking again.
func (w *Watcher) Set(dirs []string) (complete bool, added int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return false, 0, w.err
	}
	want := make(map[string]bool, len(dirs))
	for _, d := range dirs {
		want[d] = true
	}
	for p := range w.wds {
		if !want[p] {
			// Forgotten before the kernel's IN_IGNORED comes back, so that
			// event is not taken for a change.
			w.forget(p)
		}
	}
	complete = true
	for _, d := range dirs {
		if _, ok := w.wds[d]; ok {
			continue
		}
		if len(w.wds) >= w.max {
			return false, added, nil
		}
		wd, aerr := unix.InotifyAddWatch(w.ifd, d, mask)
		switch {
		case aerr == nil:
			if _, ok := w.paths[wd]; ok {
				// The same directory under a second name (a bind mount) is
				// watched once, under the first.
				continue
			}
			w.wds[d], w.paths[wd] = wd, d
			added++
		case errors.Is(aerr, unix.ENOENT), errors.Is(aerr, unix.ENOTDIR):
			// Gone since the walk: its parent's event says so.
		case errors.Is(aerr, unix.ENOSPC):
			return false, added, fmt.Errorf("watch %s: fs.inotify.max_user_watches reached: %w", d, aerr)
		default:
			complete = false
			if err == nil {
				err = fmt.Errorf("watch %s: %w", d, aerr)
			}
		}
	}
	return complete, added, err
}

// Max is the bound New was given.
func (w *Watcher) Max() int { return w.max }

// Len is how many directories are watched.
func (w *Watcher) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.wds)
}

// Close stops the watcher and releases its watches; Set must not be
// called after it.
func (w *Watcher) Close() error {
	err := w.f.Close()
	<-w.done
	return err
}

func (w *Watcher) signal() {
	select {
	case w.c <- struct{}{}:
	default:
	}
}

// read turns the kernel's events into signals until Close. The file is
// non-blocking, so its reads park in the runtime's poller, not a thread.
func (w *Watcher) read() {
	defer close(w.done)
	// Room for dozens of events at once, and at least one with the longest
	// name; the kernel never splits an event across reads.
	buf := make([]byte, 4096)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				w.mu.Lock()
				w.err = fmt.Errorf("%w: read inotify events: %w", ErrStopped, err)
				w.mu.Unlock()
				w.signal()
			}
			return
		}
		if w.changed(buf[:n]) {
			w.signal()
		}
	}
}

// forget stops watching path, if it is watched; w.mu is held.
func (w *Watcher) forget(path string) {
	wd, ok := w.wds[path]
	if !ok {
		return
	}
	delete(w.wds, path)
	delete(w.paths, wd)
	_, _ = unix.InotifyRmWatch(w.ifd, uint32(wd))
}

// changed reports whether the events in b say the tree changed, and
// forgets the watches the kernel dropped.
func (w *Watcher) changed(b []byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	changed := false
	for len(b) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		size := unix.SizeofInotifyEvent + int(ev.Len)
		if size > len(b) {
			break
		}
		name := string(bytes.TrimRight(b[unix.SizeofInotifyEvent:size], "\x00"))
		b = b[size:]
		switch {
		case ev.Mask&unix.IN_Q_OVERFLOW != 0:
			// Events were lost, IN_IGNORED among them maybe: a watch the
			// maps hold may be gone. Dropping them all makes the next Set
			// watch every directory anew.
			for wd := range w.paths {
				_, _ = unix.InotifyRmWatch(w.ifd, uint32(wd))
			}
			clear(w.wds)
			clear(w.paths)
			changed = true
		case ev.Mask&unix.IN_IGNORED != 0:
			// The directory went (or was unmounted). A watch Set removed,
			// or forget did, is no longer in paths, and says nothing.
			if p, ok := w.paths[int(ev.Wd)]; ok {
				delete(w.paths, int(ev.Wd))
				if w.wds[p] == int(ev.Wd) {
					delete(w.wds, p)
				}
				changed = true
			}
		case ev.Mask&unix.IN_ISDIR != 0:
			// Files come and go in a cgroup's directory only on ordinary
			// file systems (fixture trees); kernfs makes them without events.
			parent, ok := w.paths[int(ev.Wd)]
			if !ok {
				continue
			}
			changed = true
			if ev.Mask&(unix.IN_DELETE|unix.IN_MOVED_FROM) != 0 && name != "" {
				// A cgroup's directory gone from its parent: on kernfs its
				// own IN_IGNORED need not follow (the watch holds the inode),
				// and a directory made again under that name must be
				// watched anew.
				w.forget(filepath.Join(parent, name))
			}
		}
	}
	return changed
}
