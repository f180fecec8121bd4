package treewatch

import (
	"os"
	"path/filepath"
	"testing"
	"time"
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

// signalled waits for a signal; events come within microseconds, and a
// second is far beyond any scheduling delay.
func signalled(w *Watcher) bool {
	select {
	case <-w.C():
		return true
	case <-time.After(time.Second):
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
	if err := os.Rename(deep, filepath.Join(slice, "c.service")); err != nil {
		t.Fatal(err)
	}
	if !signalled(w) {
		t.Fatal("a rename in a watched directory: no signal")
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
	w.Set([]string{root, pod})
	if err := os.Remove(pod); err != nil {
		t.Fatal(err)
	}
	if !signalled(w) {
		t.Fatal("rmdir of a watched directory: no signal")
	}
	deadline := time.Now().Add(time.Second)
	for w.Len() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if w.Len() != 1 {
		t.Fatalf("watching %d directories after one went, want 1", w.Len())
	}
	// The same name again is a new directory, watched anew.
	mkdirs(t, pod)
	<-w.C()
	if _, added, _ := w.Set([]string{root, pod}); added != 1 {
		t.Fatalf("a directory made again under the same name: added %d, want 1", added)
	}
	mkdirs(t, filepath.Join(pod, "c1"))
	if !signalled(w) {
		t.Error("the directory made again does not signal")
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
