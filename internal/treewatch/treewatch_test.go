package treewatch

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func newWatcher(t *testing.T, max int) *Watcher {
	t.Helper()
	w, err := New(max)
	if err != nil {
		t.Skipf("no inotify here, the tree is walked on a period instead: %v", err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return w
}

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// signalled waits for a signal; events come within microseconds, and five
// seconds is room for a loaded machine running tests under -race.
func signalled(w *Watcher) bool {
	select {
	case <-w.C():
		return true
	case <-time.After(5 * time.Second):
		return false
	}
}

// quiet reports whether no signal comes within a short while: the kernel
// queues an event at the syscall, so one that would come is there by then.
func quiet(w *Watcher) bool {
	select {
	case <-w.C():
		return false
	case <-time.After(100 * time.Millisecond):
		return true
	}
}

func TestSubdirectoriesComingAndGoingSignal(t *testing.T) {
	root := t.TempDir()
	slice := filepath.Join(root, "system.slice")
	deep := filepath.Join(slice, "a.service")
	mkdirs(t, deep)
	w := newWatcher(t, 10)
	complete, added, err := w.Set([]string{root, slice})
	if !complete || added != 2 || err != nil {
		t.Fatalf("Set = %v, %d, %v; want complete, 2 added", complete, added, err)
	}
	// A cgroup's files are no change of the tree.
	if err := os.WriteFile(filepath.Join(slice, "memory.max"), []byte("max\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !quiet(w) {
		t.Error("a file written in a watched directory signalled a change")
	}
	// Below the watched set: the walk does not look there either.
	mkdirs(t, filepath.Join(deep, "sub"))
	if !quiet(w) {
		t.Error("a directory made below an unwatched one signalled")
	}
	mkdirs(t, filepath.Join(slice, "b.service"))
	if !signalled(w) {
		t.Fatal("mkdir in a watched directory: no signal")
	}
	if err := os.Remove(filepath.Join(slice, "b.service")); err != nil {
		t.Fatal(err)
	}
	if !signalled(w) {
		t.Fatal("rmdir in a watched directory: no signal")
	}
	// Renames: out of the set (the kernel says IN_MOVED_FROM alone) and
	// into it (IN_MOVED_TO alone).
	elsewhere := t.TempDir()
	if err := os.Rename(deep, filepath.Join(elsewhere, "a.service")); err != nil {
		t.Fatal(err)
	}
	if !signalled(w) {
		t.Fatal("a directory moved out of a watched one: no signal")
	}
	if err := os.Rename(filepath.Join(elsewhere, "a.service"), filepath.Join(slice, "c.service")); err != nil {
		t.Fatal(err)
	}
	if !signalled(w) {
		t.Fatal("a directory moved into a watched one: no signal")
	}
}

func TestSetAddsOnlyWhatIsNewAndDropsTheRest(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	mkdirs(t, a, b)
	w := newWatcher(t, 10)
	if _, added, _ := w.Set([]string{root, a}); added != 2 {
		t.Fatalf("first Set added %d, want 2", added)
	}
	complete, added, err := w.Set([]string{root, b})
	if !complete || added != 1 || err != nil {
		t.Fatalf("second Set = %v, %d, %v; want complete, 1 added (b)", complete, added, err)
	}
	if w.Len() != 2 {
		t.Fatalf("watching %d directories, want 2", w.Len())
	}
	// The kernel's IN_IGNORED for a's removed watch is no change.
	if !quiet(w) {
		t.Error("a watch Set removed signalled a change")
	}
	mkdirs(t, filepath.Join(a, "x"))
	if !quiet(w) {
		t.Error("a directory no longer in the set still signals")
	}
	mkdirs(t, filepath.Join(b, "x"))
	if !signalled(w) {
		t.Error("a directory added to the set does not signal")
	}
}

func TestAWatchedDirectoryThatGoesIsForgotten(t *testing.T) {
	root := t.TempDir()
	pod := filepath.Join(root, "pod1")
	mkdirs(t, pod)
	w := newWatcher(t, 10)
	// The pod alone, not its parent: what signals is the kernel dropping
	// the pod's own watch (IN_IGNORED), not the parent's IN_DELETE.
	w.Set([]string{pod})
	if err := os.Remove(pod); err != nil {
		t.Fatal(err)
	}
	if !signalled(w) {
		t.Fatal("rmdir of a watched directory: no signal")
	}
	if w.Len() != 0 {
		t.Fatalf("watching %d directories after the only one went, want 0", w.Len())
	}
	// The same name again is a new directory, watched anew.
	mkdirs(t, pod)
	if _, added, _ := w.Set([]string{pod}); added != 1 {
		t.Fatalf("a directory made again under the same name: added %d, want 1", added)
	}
	if !quiet(w) {
		t.Fatal("a signal with nothing changed in the watched set")
	}
	mkdirs(t, filepath.Join(pod, "c1"))
	if !signalled(w) {
		t.Error("the directory made again does not signal")
	}
}

// Past a queue overflow the kernel may have dropped a watch's IN_IGNORED
// with the rest: every watch is dropped, and the next Set watches all anew.
func TestAnOverflowWatchesEverythingAnew(t *testing.T) {
	root := t.TempDir()
	a := filepath.Join(root, "a")
	mkdirs(t, a)
	w := newWatcher(t, 10)
	w.Set([]string{root, a})
	var ev [unix.SizeofInotifyEvent]byte
	(*unix.InotifyEvent)(unsafe.Pointer(&ev[0])).Mask = unix.IN_Q_OVERFLOW
	(*unix.InotifyEvent)(unsafe.Pointer(&ev[0])).Wd = -1
	if !w.changed(ev[:]) {
		t.Fatal("an overflow is no change")
	}
	if w.Len() != 0 {
		t.Fatalf("watching %d after an overflow, want 0", w.Len())
	}
	if complete, added, _ := w.Set([]string{root, a}); !complete || added != 2 {
		t.Fatalf("Set after an overflow = %v, %d added; want complete, 2", complete, added)
	}
	mkdirs(t, filepath.Join(a, "x"))
	if !signalled(w) {
		t.Error("a directory watched anew does not signal")
	}
}

// A second name for a watched directory (a bind mount; a symbolic link
// here) is one watch, and never counts as added, which would ask for a walk
// at every walk.
func TestASecondNameIsOneWatch(t *testing.T) {
	root := t.TempDir()
	a := filepath.Join(root, "a")
	mkdirs(t, a)
	link := filepath.Join(t.TempDir(), "b")
	if err := os.Symlink(a, link); err != nil {
		t.Fatal(err)
	}
	w := newWatcher(t, 10)
	if _, added, _ := w.Set([]string{a, link}); added != 1 {
		t.Fatalf("first Set added %d, want 1", added)
	}
	if complete, added, err := w.Set([]string{a, link}); !complete || added != 0 || err != nil {
		t.Fatalf("second Set = %v, %d, %v; want complete, nothing added", complete, added, err)
	}
}

func TestTheBoundLeavesTheSetIncomplete(t *testing.T) {
	root := t.TempDir()
	var dirs []string
	for _, n := range []string{"a", "b", "c", "d"} {
		dirs = append(dirs, filepath.Join(root, n))
	}
	mkdirs(t, dirs...)
	w := newWatcher(t, 3)
	complete, added, err := w.Set(dirs)
	if complete || added != 3 || err != nil {
		t.Fatalf("Set of 4 with a bound of 3 = %v, %d, %v; want incomplete, 3 added, no error", complete, added, err)
	}
	if w.Len() != 3 {
		t.Fatalf("watching %d, want the bound, 3", w.Len())
	}
	// A directory that went between the walk and Set is no gap.
	complete, _, err = w.Set([]string{dirs[0], filepath.Join(root, "gone")})
	if !complete || err != nil {
		t.Fatalf("Set with a vanished directory = %v, %v; want complete", complete, err)
	}
}

// On kernfs a removed cgroup's watch holds its inode, and its IN_IGNORED
// need not come: the parent's IN_DELETE is what forgets it, so a
// directory made again under the name is watched anew. (On the temporary
// directories here IN_IGNORED comes too, so the event is made by hand.)
func TestTheParentsDeleteForgetsTheChild(t *testing.T) {
	root := t.TempDir()
	pod := filepath.Join(root, "pod1")
	mkdirs(t, pod)
	w := newWatcher(t, 10)
	w.Set([]string{root, pod})
	ev := make([]byte, unix.SizeofInotifyEvent+16)
	e := (*unix.InotifyEvent)(unsafe.Pointer(&ev[0]))
	e.Wd, e.Mask, e.Len = int32(w.wds[root]), unix.IN_DELETE|unix.IN_ISDIR, 16
	copy(ev[unix.SizeofInotifyEvent:], "pod1")
	if !w.changed(ev) {
		t.Fatal("a directory deleted from a watched one is no change")
	}
	if _, ok := w.wds[pod]; ok || w.Len() != 1 {
		t.Fatalf("the deleted directory is still watched (%d watches)", w.Len())
	}
	if _, added, _ := w.Set([]string{root, pod}); added != 1 {
		t.Fatalf("the directory under the same name again: added %d, want 1", added)
	}
}

// A watcher whose reads fail sees nothing any more: it signals once, so
// its user looks, and Set says it stopped. (A pipe stands in for the
// inotify descriptor: no fixture can make the kernel's reads fail.)
func TestAFailedReadStopsTheWatcher(t *testing.T) {
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w := start(r, -1, 10) // no watch is added: Set is given none before the failure

	t.Cleanup(func() { w.Close() })
	if _, _, err := w.Set(nil); err != nil {
		t.Fatalf("Set before any read failed: %v", err)
	}
	wr.Close() // the next read gets EOF
	if !signalled(w) {
		t.Fatal("no signal after reading failed")
	}
	if complete, _, err := w.Set([]string{t.TempDir()}); !errors.Is(err, ErrStopped) || complete {
		t.Fatalf("Set after reading failed: complete %v, error %v; want ErrStopped", complete, err)
	}
}
