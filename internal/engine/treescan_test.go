package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/treewatch"
)

// watchingTree gives h's engine its tree watcher, as Run does.
func watchingTree(t *testing.T, h *harness) <-chan struct{} {
	t.Helper()
	h.eng.cfg.WatchTree = true
	changed := h.eng.watchForChanges()
	if changed == nil {
		t.Skip("no inotify here: the engine walks the tree every RescanEvery instead, which the other tests cover")
	}
	return changed
}

// treeChanged waits for the watcher's signal and passes it on as Run does.
func (h *harness) treeChanged(changed <-chan struct{}) {
	h.t.Helper()
	select {
	case <-changed:
		h.eng.treeDirty = true
	case <-time.After(5 * time.Second):
		h.t.Fatal("the tree watcher said nothing of a new cgroup")
	}
}

// A pod of the kubelet's cgroupfs driver comes with no systemd signal: the
// tree watcher is what finds it before the periodic walk, and with it the
// tree is not walked every RescanEvery when nothing changes.
func TestEngineWalksTheTreeWhenItChanges(t *testing.T) {
	h := newHarness(t, testPolicy, true)
	changed := watchingTree(t, h)
	h.tickAt(0)
	if !h.eng.treeWatched {
		t.Fatal("the fixture tree is not all watched")
	}
	if msg := h.eng.startedEvent().Message; !strings.Contains(msg, "new cgroups found as they appear (inotify on ") {
		t.Errorf("the start event does not say the tree is watched: %s", msg)
	}
	// Its directories were read before they were watched: one more walk.
	gen := h.eng.scanGen
	h.tickAt(2)
	if h.eng.scanGen != gen+1 {
		t.Fatalf("no second walk after the watches were set (walks %d -> %d)", gen, h.eng.scanGen)
	}
	gen = h.eng.scanGen
	h.tickAt(30)
	if h.eng.scanGen != gen {
		t.Fatalf("walked at 30 s with nothing changed (RescanEvery is %v; the watcher should make that wait)", h.eng.cfg.RescanEvery)
	}
	pod := "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod9999.slice"
	h.addPodCopy(pod)
	h.treeChanged(changed)
	h.tickAt(31)
	if h.eng.watched[pod] == nil {
		t.Fatalf("a new pod is not watched at the tick after its cgroup appeared (walks %d -> %d)", gen, h.eng.scanGen)
	}
	// In case an event was lost, the tree is still walked every minute.
	h.tickAt(34) // the new pod's directory was read before its watch
	gen = h.eng.scanGen
	h.tickAt(60 + 33)
	if h.eng.scanGen != gen {
		t.Fatal("walked before WatchedRescanEvery with nothing changed")
	}
	h.tickAt(60 + 35)
	if h.eng.scanGen != gen+1 {
		t.Fatal("no walk after WatchedRescanEvery")
	}
}

// Past its bound the watcher cannot see every change: the engine says so
// once and walks the tree every RescanEvery, as without it.
func TestEngineWalksOnAPeriodPastTheWatchBound(t *testing.T) {
	h := newHarness(t, testPolicy, true)
	h.eng.cfg.MaxTreeWatches = 3
	watchingTree(t, h)
	h.tickAt(0)
	h.tickAt(2)
	if h.eng.treeWatched {
		t.Fatal("the tree counts as watched with 3 watches")
	}
	gen := h.eng.scanGen
	h.tickAt(2 + 10)
	if h.eng.scanGen != gen+1 {
		t.Fatalf("not walked after RescanEvery (%v) with the tree not all watched", h.eng.cfg.RescanEvery)
	}
	h.tickAt(2 + 20)
	if msg := h.eng.startedEvent().Message; !strings.Contains(msg, "new cgroups found by walking the tree every 10s") {
		t.Errorf("the start event does not say the tree is walked every 10s: %s", msg)
	}
	said := h.warnings("directories memrelief watches for new cgroups")
	if len(said) != 1 || !strings.Contains(said[0], "than the 3 directories") || !strings.Contains(said[0], "every 10s") {
		t.Fatalf("warnings of the bound: %q; want one naming the 3 and the 10s walks", said)
	}
}

// A walk that fails leaves the set of watches as it was, which may miss
// what the walk would have found: the next walk is RescanEvery away, not
// WatchedRescanEvery.
func TestEngineWalksSoonAfterAFailedWalk(t *testing.T) {
	h := newHarness(t, testPolicy, true)
	watchingTree(t, h)
	h.tickAt(0)
	h.tickAt(2)
	if !h.eng.treeWatched {
		t.Fatal("the fixture tree is not all watched")
	}
	restore := h.unlistRoot()
	h.eng.treeDirty = true // as Run does on the watcher's signal
	h.tickAt(4)
	if said := h.warnings("list cgroups"); len(said) != 1 {
		t.Fatalf("warnings of the failed walk: %q; want one", said)
	}
	restore()
	pod := "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod9999.slice"
	h.addPodCopy(pod)
	h.tickAt(4 + 9)
	if h.eng.watched[pod] != nil {
		t.Fatal("walked before RescanEvery with nothing said to have changed")
	}
	h.tickAt(4 + 10)
	if h.eng.watched[pod] == nil {
		t.Fatalf("a pod made after a failed walk is not watched RescanEvery (%v) later", h.eng.cfg.RescanEvery)
	}
	if !h.eng.treeWatched {
		t.Fatal("the tree does not count as watched again after a walk that worked")
	}
}

// stoppingWatcher is a tree watcher whose reads fail once err is set.
type stoppingWatcher struct {
	err    error
	closed bool
}

func (s *stoppingWatcher) Set([]string) (bool, int, error) { return s.err == nil, 0, s.err }
func (s *stoppingWatcher) Len() int                        { return 1 }
func (s *stoppingWatcher) Max() int                        { return 10 }
func (s *stoppingWatcher) Close() error                    { s.closed = true; return nil }

// A watcher whose reads failed sees nothing: the engine says so once,
// closes it and walks the tree every RescanEvery, as without one.
func TestEngineWalksOnAPeriodWhenTheWatcherStops(t *testing.T) {
	h := newHarness(t, testPolicy, true)
	w := &stoppingWatcher{}
	h.eng.tree = w
	h.tickAt(0)
	if !h.eng.treeWatched {
		t.Fatal("the tree does not count as watched")
	}
	w.err = fmt.Errorf("%w: read inotify events: input/output error", treewatch.ErrStopped)
	h.eng.treeDirty = true // the watcher signals when its reads fail
	h.tickAt(2)
	if !w.closed || h.eng.tree != nil {
		t.Fatalf("the stopped watcher is kept (closed %v)", w.closed)
	}
	said := h.warnings("new cgroups are found by walking the tree every 10s")
	if len(said) != 1 || !strings.Contains(said[0], "input/output error") {
		t.Fatalf("warnings of the stopped watcher: %q; want one saying why", said)
	}
	if msg := h.eng.startedEvent().Message; !strings.Contains(msg, "new cgroups found by walking the tree every 10s") {
		t.Errorf("the start event does not say the tree is walked every 10s: %s", msg)
	}
	pod := "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod9999.slice"
	h.addPodCopy(pod)
	h.tickAt(2 + 10)
	if h.eng.watched[pod] == nil {
		t.Fatalf("a new pod is not watched RescanEvery (%v) after the watcher stopped", h.eng.cfg.RescanEvery)
	}
}

// Run passes the watcher's signal on: with both periodic walks an hour
// away, a pod made with mkdir is watched at the tick after.
func TestEngineRunWalksWhenTheTreeChanges(t *testing.T) {
	probe, err := treewatch.New(1)
	if err != nil {
		t.Skipf("no inotify here: %v", err)
	}
	probe.Close()
	h := newHarness(t, testPolicy, true)
	h.eng.cfg.WatchTree = true
	h.eng.cfg.RescanEvery, h.eng.cfg.WatchedRescanEvery = time.Hour, time.Hour
	// Real time: the walk a change asks for waits minRescanGap.
	h.eng.cfg.Now = time.Now
	defer h.run()()
	if n := len(h.query().Cgroups); n != 1 {
		t.Fatalf("watching %d cgroups, want 1", n)
	}
	// Past the second tick (2 s), which walks once more for the
	// directories read before their watches: what finds the pod below is
	// the watcher's signal alone.
	time.Sleep(3 * time.Second)
	h.addPodCopy("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod9999.slice")
	if !h.watchingWithin(2, 10*time.Second) {
		t.Fatal("a pod made with mkdir was not watched within 10 s; the periodic walks are an hour away")
	}
}

// A delegated subtree's owner makes and removes cgroups at will: none of
// its directories is watched (nor the delegating unit's own), so a loop of
// mkdir and rmdir there asks for no walk.
func TestEngineDoesNotWatchDelegatedSubtrees(t *testing.T) {
	h := newHarness(t, testPolicy, true)
	changed := watchingTree(t, h)
	h.tickAt(0)
	h.tickAt(2)
	before := h.eng.tree.Len()
	user := filepath.Join(h.roots.Cgroup, "user.slice/user-1000.slice")
	if err := os.MkdirAll(filepath.Join(user, "user@1000.service/app.slice/x.service"), 0o755); err != nil {
		t.Fatal(err)
	}
	h.treeChanged(changed) // user-1000.slice is systemd's, and watched
	h.tickAt(4)
	if got := h.eng.tree.Len(); got != before+1 {
		t.Fatalf("watching %d directories after a user's subtree came, want %d (user-1000.slice alone)", got, before+1)
	}
	if err := os.Mkdir(filepath.Join(user, "user@1000.service/app.slice/y.service"), 0o755); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
		t.Fatal("a cgroup made in a delegated subtree signalled a change")
	case <-time.After(100 * time.Millisecond):
	}
}
