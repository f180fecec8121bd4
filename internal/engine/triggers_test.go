package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/memrelief/memrelief/configs"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/psi"
	"github.com/memrelief/memrelief/internal/report"
)

// refused returns the watcher's current refusals, changed or not.
func refused(w *triggerWatcher) map[string]error {
	out, _, _ := w.Refused(^uint64(0))
	return out
}

// The watcher sleeps in epoll_wait: a new set must wake it (here, a
// pressure file that cannot take a trigger is then reported refused), and
// so must the end of its context.
func TestTriggerWatcherWakesOnSetAndStop(t *testing.T) {
	w := newTriggerWatcher(make(chan wakeup, 1), 1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.run(ctx); close(done) }()
	time.Sleep(100 * time.Millisecond) // let it start waiting on nothing
	missing := filepath.Join(t.TempDir(), "memory.pressure")
	spec := policy.PSITrigger{Kind: "some", Stall: policy.Duration(100 * time.Millisecond), Window: policy.Duration(time.Second)}
	w.set(map[string]policy.PSITrigger{missing: spec}, "")
	deadline := time.Now().Add(5 * time.Second)
	for refused(w)[missing] == nil {
		if time.Now().After(deadline) {
			t.Fatal("a new set did not wake the watcher: the missing file is not reported within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher did not stop within 5 s of its context's end")
	}
}

// Whatever others make the daemon watch, triggers hold at most max
// descriptors: past it a pressure file is refused with errTriggerBudget
// (its cgroup is polled), under a new generation so the loop sees it, and
// gets a trigger once others close. The triggers here are eventfds, which
// epoll accepts and which never fire: this host's kernel may refuse real
// PSI triggers (the guest scenarios use real ones).
func TestTriggerWatcherKeepsToItsBudget(t *testing.T) {
	w := newTriggerWatcher(make(chan wakeup, 1), 2)
	var live int
	w.open = func(path string, _ policy.PSITrigger) (*psi.Trigger, error) {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			return nil, err
		}
		live++
		return psi.AdoptTrigger(path, fd), nil
	}
	p, err := psi.NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	open := map[string]*psi.Trigger{}
	defer func() {
		for _, tr := range open {
			tr.Close()
		}
		p.Close()
	}()
	spec := policy.PSITrigger{Kind: "some", Stall: policy.Duration(100 * time.Millisecond), Window: policy.Duration(time.Second)}
	want := map[string]policy.PSITrigger{}
	for i := range 5 {
		want[fmt.Sprintf("/cg%d/memory.pressure", i)] = spec
	}
	w.set(want, "")
	_, gen, _ := w.Refused(0) // what the loop sees before the watcher syncs
	w.sync(p, open)
	r, gen2, ok := w.Refused(gen)
	if !ok || len(r) != 3 {
		t.Fatalf("after the sync: refusals %v (changed %v), want 3 of 5 over a budget of 2", r, ok)
	}
	for path, err := range r {
		if !errors.Is(err, errTriggerBudget) {
			t.Errorf("%s refused with %v, want the budget", path, err)
		}
	}
	if live != 2 || len(open) != 2 || p.Len() != 2 {
		t.Errorf("%d triggers opened, %d open, %d polled; want 2 for a budget of 2", live, len(open), p.Len())
	}
	w.sync(p, open)
	if _, _, ok := w.Refused(gen2); ok {
		t.Error("a sync that changed nothing made a new generation: the loop would redo its work")
	}
	// Two of the refused ones alone: the open two close, these two open.
	two := map[string]policy.PSITrigger{}
	for path := range r {
		if len(two) < 2 {
			two[path] = spec
		}
	}
	w.set(two, "")
	w.sync(p, open)
	if r := refused(w); len(r) != 0 {
		t.Errorf("refusals %v once the others closed, want none", r)
	}
	if live != 4 || len(open) != 2 || p.Len() != 2 {
		t.Errorf("%d triggers opened in all, %d open, %d polled; want 4, 2, 2", live, len(open), p.Len())
	}
}

// Under the packaged default every pod holds a trigger: when the budget
// leaves some pressure files without one, their cgroups are disarmed (so
// polled, and psi_stall never holds for them), one warning says how many
// and names the first; when the budget frees, they are armed again and a
// notice says so.
func TestEngineReportsTheTriggerBudgetOnce(t *testing.T) {
	h := newHarness(t, string(configs.Default()), false)
	h.eng.triggers = newTriggerWatcher(h.eng.wake, 1024) // not started: the test plays the watcher
	h.tickAt(0)
	pod := h.eng.watched[podSlice]
	if pod == nil || !pod.armed {
		t.Fatalf("the pod is not armed under the default policy: %+v", pod)
	}
	path, err := h.eng.rd.PressurePath(podSlice)
	if err != nil {
		t.Fatal(err)
	}
	budget := func(over bool) {
		w := h.eng.triggers
		w.mu.Lock()
		w.over = nil
		if over {
			w.over = map[string]bool{path: true}
		}
		w.gen++
		w.mu.Unlock()
	}
	problems := func(sub string) int { return len(h.warnings(sub)) }
	budget(true)
	h.tickAt(2)
	h.tickAt(4)
	if pod.armed {
		t.Error("a pod left without a trigger by the budget is still armed")
	}
	if n := problems("budget of 1024 open at once is spent; 1 pressure files (" + path + " first)"); n != 1 {
		t.Errorf("%d warnings of the spent budget, want 1: %+v", n, h.events(report.Problem, ""))
	}
	budget(true) // a rescan: the same files still over
	h.tickAt(8)
	if n := problems("budget of 1024 open at once is spent"); n != 1 {
		t.Errorf("%d warnings of the spent budget after a rescan, want still 1", n)
	}
	if n := problems("no PSI trigger on"); n != 0 {
		t.Errorf("the budget reported per file (%d warnings)", n)
	}
	// Another trigger closed and this file got one, between rescans (the
	// harness rescans every tick, which arms every wanted file anyway).
	budget(false)
	h.eng.refusedTriggers(h.now)
	if !pod.armed {
		t.Error("a pod whose file got a trigger when the budget freed is still disarmed")
	}
	h.tickAt(10)
	if n := problems("within the budget of 1024 again"); n != 1 {
		t.Errorf("%d notices of the budget met again, want 1", n)
	}
	// The watcher breaks while the budget is spent: one warning for all,
	// none per file, and no notice that every file has a trigger.
	budget(true)
	h.tickAt(12)
	w := h.eng.triggers
	w.mu.Lock()
	w.broken = errors.New("epoll_wait: bad file descriptor")
	w.gen++
	w.mu.Unlock()
	h.tickAt(14)
	if pod.armed {
		t.Error("a pod is armed while the watcher cannot wait on any trigger")
	}
	if n := problems("PSI triggers: PSI triggers cannot be waited on: epoll_wait: bad file descriptor; all "); n != 1 {
		t.Errorf("%d warnings of the broken watcher, want 1: %+v", n, h.events(report.Problem, ""))
	}
	if n := problems("within the budget of 1024 again"); n != 1 {
		t.Errorf("%d notices of the budget met again, want still 1: the watcher broke, nothing has a trigger", n)
	}
	if n := problems("no PSI trigger on"); n != 0 {
		t.Errorf("the broken watcher reported per file (%d warnings)", n)
	}
}

// The node's pressure file gets its trigger before any cgroup's, so a
// spent budget never leaves the node polled (the map of wanted files has
// no order: without the rule it would win a budget of 2 among 6 files a
// third of the time).
func TestTriggerWatcherOpensTheNodeFirst(t *testing.T) {
	spec := policy.PSITrigger{Kind: "some", Stall: policy.Duration(100 * time.Millisecond), Window: policy.Duration(time.Second)}
	const node = "/proc/pressure/memory"
	want := map[string]policy.PSITrigger{node: spec}
	for i := range 5 {
		want[fmt.Sprintf("/cg%d/memory.pressure", i)] = spec
	}
	for range 20 {
		w := newTriggerWatcher(make(chan wakeup, 1), 2)
		w.open = func(path string, _ policy.PSITrigger) (*psi.Trigger, error) {
			fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
			if err != nil {
				return nil, err
			}
			return psi.AdoptTrigger(path, fd), nil
		}
		p, err := psi.NewPoller()
		if err != nil {
			t.Fatal(err)
		}
		open := map[string]*psi.Trigger{}
		w.set(want, node)
		w.sync(p, open)
		for _, tr := range open {
			tr.Close()
		}
		p.Close()
		if open[node] == nil {
			t.Fatalf("the node has no trigger; these have: %v", open)
		}
	}
}

// A kernel that refuses every trigger (before 6.4 without
// CAP_SYS_RESOURCE, or without PSI for cgroups) refuses them all alike: one
// warning per reason, with the count and the first file, and nothing
// remembered per file, however many cgroups come and go.
func TestEngineSummarisesKernelRefusals(t *testing.T) {
	h := newHarness(t, string(configs.Default()), false)
	h.eng.triggers = newTriggerWatcher(h.eng.wake, 1024) // not started: the test plays the watcher
	h.tickAt(0)
	w := h.eng.triggers
	refuse := func(errno unix.Errno, paths ...string) {
		w.mu.Lock()
		for _, p := range paths {
			w.failed[p] = fmt.Errorf("register PSI trigger %q on %s: %w", "some 100000 1000000", p, errno)
		}
		w.gen++
		w.mu.Unlock()
	}
	w.mu.Lock()
	var wanted []string
	for p := range w.want {
		wanted = append(wanted, p)
	}
	w.mu.Unlock()
	if len(wanted) < 3 {
		t.Fatalf("the default policy wants %d triggers on the fixture, want at least 3", len(wanted))
	}
	slices.Sort(wanted)
	refuse(unix.EINVAL, wanted[1:]...)
	h.tickAt(2)
	got := h.warnings("the kernel refused PSI triggers")
	want := fmt.Sprintf("the kernel refused PSI triggers on %d pressure files (%s first): invalid argument;", len(wanted)-1, wanted[1])
	if len(got) != 1 || !strings.HasPrefix(got[0], want) || !strings.Contains(got[0], "invalid argument") {
		t.Fatalf("kernel refusals reported as %q, want one beginning %q", got, want)
	}
	for cg, rec := range h.eng.watched {
		if p, _ := h.eng.rd.PressurePath(cg); slices.Contains(wanted[1:], p) && rec.armed {
			t.Errorf("%s is armed though the kernel refused its trigger", cg)
		}
	}
	// The same reason on another file: nothing new. Another reason: one more.
	refuse(unix.EINVAL, wanted[0])
	h.tickAt(4)
	if got := h.warnings("the kernel refused PSI triggers"); len(got) != 1 {
		t.Fatalf("a second file refused alike gave another warning: %q", got)
	}
	w.mu.Lock()
	delete(w.failed, wanted[0])
	w.mu.Unlock()
	refuse(unix.EPERM, wanted[0])
	h.tickAt(6)
	if got := h.warnings("the kernel refused PSI triggers"); len(got) != 2 || !strings.Contains(got[1], "operation not permitted") {
		t.Fatalf("a refusal for another reason: %q", got)
	}
	// A cgroup that went between the walk and its trigger is no refusal.
	refuse(unix.ENOENT, "/gone/memory.pressure")
	h.tickAt(8)
	if got := h.warnings("the kernel refused PSI triggers"); len(got) != 2 {
		t.Fatalf("a vanished cgroup reported as refused: %q", got)
	}
	for key := range h.eng.reported {
		if strings.HasPrefix(key, "trigger") && !strings.HasPrefix(key, "trigger-refused:") {
			t.Errorf("a refusal remembered as %q", key)
		}
	}
}
