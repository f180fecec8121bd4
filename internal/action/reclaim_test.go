package action

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
)

const mib = 1 << 20

var now = time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)

func spec(pct float64, batch, budget uint64) *policy.Reclaim {
	return &policy.Reclaim{
		Amount:          policy.Amount{Percent: policy.Percent(pct), Of: policy.OfSlabReclaimable},
		Batch:           policy.Size(batch),
		BudgetPerMinute: policy.Size(budget),
		Timeout:         policy.Duration(time.Second),
	}
}

func TestReclaimOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		reclaim    func(m *cgroupfs.Memory, n uint64, sw *int) error
		spec       *policy.Reclaim
		nodeBudget uint64
		result     string
		stop       string
		minWrites  int
		maxWrites  int
	}{
		{"target met in batches", freeSlab(1, nil), spec(25, 16*mib, 1024*mib), 0, report.ResultOK, "target met", 7, 7},
		{"EAGAIN is a partial result judged by effect", freeSlab(1, syscall.EAGAIN), spec(25, 16*mib, 1024*mib), 0, report.ResultOK, "target met", 7, 7},
		{"overshoot ends early", freeSlab(5, nil), spec(25, 16*mib, 1024*mib), 0, report.ResultOK, "target met", 2, 2},
		{"freed nothing", freeSlab(0, syscall.EAGAIN), spec(25, 16*mib, 1024*mib), 0, report.ResultIneffective, "a batch freed nothing", 1, 1},
		{"per-cgroup budget caps the target", freeSlab(1, nil), spec(25, 16*mib, 32*mib), 0, report.ResultOK, "target met", 2, 2},
		{"node budget caps the target", freeSlab(1, nil), spec(25, 16*mib, 1024*mib), 16 * mib, report.ResultOK, "target met", 1, 1},
		{"EBUSY fails", func(*cgroupfs.Memory, uint64, *int) error { return syscall.EBUSY }, spec(25, 16*mib, 1024*mib), 0, report.ResultFailed, "write failed", 1, 1},
		{"no memory.reclaim", func(*cgroupfs.Memory, uint64, *int) error { return cgroupfs.ErrNoReclaim }, spec(25, 16*mib, 1024*mib), 0, report.ResultUnsupported, "write failed", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.setCgroup("pod.slice", 500*mib, 400*mib) // 25% of slab: 100M
			f.reclaim = tt.reclaim
			r := &Reclaimer{Sys: f}
			r.SetNodeBudget(tt.nodeBudget)
			o := r.Run(context.Background(), "pod.slice", &CgroupReclaim{}, tt.spec, now)
			if o.Result != tt.result || o.Stop != tt.stop {
				t.Fatalf("result %s (%s), want %s (%s); outcome %+v", o.Result, o.Stop, tt.result, tt.stop, o)
			}
			if n := len(f.log()); n < tt.minWrites || n > tt.maxWrites {
				t.Errorf("%d writes, want %d..%d: %q", n, tt.minWrites, tt.maxWrites, f.log())
			}
			if o.SlabBefore != 400*mib || !o.HasSlab {
				t.Errorf("before figures not measured: %+v", o)
			}
			if o.Requested > uint64(tt.spec.BudgetPerMinute) {
				t.Errorf("requested %d over the budget %d", o.Requested, tt.spec.BudgetPerMinute)
			}
		})
	}
}

func TestReclaimBudgetSpansRuns(t *testing.T) {
	f := newFake()
	f.setCgroup("a", 500*mib, 400*mib)
	f.reclaim = freeSlab(1, nil)
	r := &Reclaimer{Sys: f}
	cr := &CgroupReclaim{}
	s := spec(25, 16*mib, 64*mib)
	if o := r.Run(context.Background(), "a", cr, s, now); o.Requested != 64*mib {
		t.Fatalf("first run requested %d, want the whole 64M budget", o.Requested)
	}
	if o := r.Run(context.Background(), "a", cr, s, now.Add(30*time.Second)); o.Result != report.ResultSkipped || !strings.Contains(o.Stop, "budget spent") {
		t.Fatalf("second run within the minute: %+v", o)
	}
	if o := r.Run(context.Background(), "a", cr, s, now.Add(61*time.Second)); o.Requested == 0 {
		t.Fatalf("budget did not refill after a minute: %+v", o)
	}
}

func TestReclaimSwappinessFallback(t *testing.T) {
	f := newFake()
	f.setCgroup("a", 500*mib, 400*mib)
	base := freeSlab(1, nil)
	f.reclaim = func(m *cgroupfs.Memory, n uint64, sw *int) error {
		if sw != nil {
			return syscall.EINVAL
		}
		return base(m, n, sw)
	}
	zero := 0
	s := spec(25, 64*mib, 1024*mib)
	s.Swappiness = &zero
	r := &Reclaimer{Sys: f}
	cr := &CgroupReclaim{}
	o := r.Run(context.Background(), "a", cr, s, now)
	if o.Result != report.ResultOK {
		t.Fatalf("result %s: %+v", o.Result, o)
	}
	log := f.log()
	if !strings.HasSuffix(log[0], "swappiness=0") || strings.Contains(log[1], "swappiness") {
		t.Fatalf("writes %q: want one with swappiness=, then without", log)
	}
	for _, w := range log[2:] {
		if strings.Contains(w, "swappiness") {
			t.Fatalf("swappiness= tried again after EINVAL: %q", log)
		}
	}
}

func TestReclaimVanishedCgroup(t *testing.T) {
	r := &Reclaimer{Sys: newFake()}
	cr := &CgroupReclaim{}
	o := r.Run(context.Background(), "gone", cr, spec(25, mib, 64*mib), now)
	if o.Result != report.ResultFailed || !errors.Is(o.Err, cgroupfs.ErrGone) {
		t.Fatalf("%+v", o)
	}
}

func TestReclaimTimeoutKeepsCgroupBusy(t *testing.T) {
	f := newFake()
	f.setCgroup("a", 500*mib, 400*mib)
	release := make(chan struct{})
	f.gate = release
	r := &Reclaimer{Sys: f}
	cr := &CgroupReclaim{}
	s := spec(25, 16*mib, 1024*mib)
	s.Timeout = policy.Duration(50 * time.Millisecond)
	o := r.Run(context.Background(), "a", cr, s, now)
	if o.Stop != "timeout" || o.Result != report.ResultIneffective {
		t.Fatalf("blocked write: %+v", o)
	}
	// The outcome says how long the action took (DURATION_MS).
	if o.Duration < 50*time.Millisecond {
		t.Fatalf("duration %v of a write cut at its 50 ms timeout", o.Duration)
	}
	if o2 := r.Run(context.Background(), "a", cr, s, now.Add(time.Second)); o2.Result != report.ResultSkipped {
		t.Fatalf("second run while the first write still blocks: %+v", o2)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		cr.mu.Lock()
		busy := cr.inflight
		cr.mu.Unlock()
		if !busy {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("cgroup still in flight after the write returned")
}

func TestReclaimDryRunWritesNothing(t *testing.T) {
	f := newFake()
	f.setCgroup("a", 500*mib, 400*mib)
	f.setDry(true)
	r := &Reclaimer{Sys: f}
	cr := &CgroupReclaim{}
	o := r.Run(context.Background(), "a", cr, spec(25, 16*mib, 1024*mib), now)
	if o.Result != report.ResultDryRun || o.Requested != 100*mib {
		t.Fatalf("%+v", o)
	}
	if len(f.log()) != 0 {
		t.Fatalf("dry run wrote: %q", f.log())
	}
}

// A write the kernel holds is interrupted at the timeout (the kernel's
// reclaim loop ends on a signal): the cgroup is not left busy, and the next
// reclaim runs.
func TestReclaimTimeoutInterruptsTheWrite(t *testing.T) {
	f := newFake()
	f.setCgroup("a", 500*mib, 400*mib)
	f.gate = make(chan struct{}) // never opens
	f.interruptible = true
	r := &Reclaimer{Sys: f}
	cr := &CgroupReclaim{}
	s := spec(25, 16*mib, 1024*mib)
	s.Timeout = policy.Duration(50 * time.Millisecond)
	o := r.Run(context.Background(), "a", cr, s, now)
	if o.Stop != "timeout" || o.Result != report.ResultIneffective || o.Err != nil {
		t.Fatalf("interrupted write: %+v", o)
	}
	if o2 := r.Run(context.Background(), "a", cr, s, now.Add(time.Minute)); o2.Stop == "a previous memory.reclaim write is still running" {
		t.Fatalf("the cgroup stayed busy after an interrupted write: %+v", o2)
	}
}
