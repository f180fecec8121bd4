package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/report"
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

// changedAt waits for the watcher's signal and passes it on as Run does.
func (h *harness) treeChanged(changed <-chan struct{}) {
	h.t.Helper()
	select {
	case <-changed:
		h.eng.treeDirty = true
	case <-time.After(time.Second):
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
	var said []string
	for _, ev := range h.events(report.Problem, "") {
		if strings.Contains(ev.Message, "directories memrelief watches for new cgroups") {
			said = append(said, ev.Message)
		}
	}
	if len(said) != 1 || !strings.Contains(said[0], "than the 3 directories") || !strings.Contains(said[0], "every 10s") {
		t.Fatalf("warnings of the bound: %q; want one naming the 3 and the 10s walks", said)
	}
}
