package action

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
)

// minBatch is the smallest request worth a write: below it the kernel
// rounds to pages and the syscall costs more than it frees.
const minBatch = 1 << 20

// ReclaimOutcome is what one reclaim action measured.
type ReclaimOutcome struct {
	Target        uint64 // bytes the action set out to free (after budgets)
	Requested     uint64 // bytes asked of the kernel in all batches
	Batches       int
	CurrentBefore uint64
	CurrentAfter  uint64
	SlabBefore    uint64 // slab_reclaimable; 0 when the host has no such figure
	SlabAfter     uint64
	HasSlab       bool
	Duration      time.Duration
	// FirstWrite is when the first memory.reclaim write started; zero when
	// none did.
	FirstWrite time.Time
	// Result is one of the report.Result* values; Stop says why the batches
	// ended.
	Result string
	Stop   string
	Err    error
}

// Freed is the drop of memory.current, 0 when it grew.
func (o ReclaimOutcome) Freed() uint64 { return sub(o.CurrentBefore, o.CurrentAfter) }

// SlabFreed is the drop of slab_reclaimable, 0 when it grew.
func (o ReclaimOutcome) SlabFreed() uint64 { return sub(o.SlabBefore, o.SlabAfter) }

// Effective reports whether the reclaim measurably freed memory. The errno
// of the write does not decide it: the kernel returns EAGAIN whenever it
// freed less than asked, and slab freed by memcg reclaim is not counted at
// all on newer kernels (kernel-facts).
func (o ReclaimOutcome) Effective() bool {
	threshold := min(uint64(minBatch), o.Requested/4)
	return o.Requested > 0 && max(o.Freed(), o.SlabFreed()) >= max(threshold, 1)
}

func sub(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}

// Reclaimer runs reclaim actions under a node-wide budget. What it keeps
// per cgroup (the cgroup's budget and whether a write is still running)
// lives in that cgroup's CgroupReclaim, owned by the engine's record of
// the cgroup, so it goes when the cgroup goes.
type Reclaimer struct {
	Sys System

	mu sync.Mutex
	// nodeBudget caps bytes requested across all cgroups per minute;
	// guarded by mu, as are the two below.
	nodeBudget uint64
	node       budget
	// noSwappiness is set once the kernel rejected swappiness=.
	noSwappiness bool
}

// SetNodeBudget sets the node-wide cap per minute (0: none).
func (r *Reclaimer) SetNodeBudget(b uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nodeBudget = b
}

// CgroupReclaim is what reclaim keeps about one cgroup. It allows one
// memory.reclaim write per cgroup at a time: a write that outlives its
// timeout is left to finish in the background, and the cgroup is skipped
// until it has.
type CgroupReclaim struct {
	mu       sync.Mutex
	budget   budget // guarded by mu
	inflight bool   // guarded by mu
}

// Run reclaims from cgroup cg as spec says, in decaying batches, until the
// target is met, a budget is spent, a batch frees nothing, the time runs
// out or an error stops it. It measures memory.current and slab_reclaimable
// before and after.
func (r *Reclaimer) Run(ctx context.Context, cg string, cr *CgroupReclaim, spec *policy.Reclaim, now time.Time) (o ReclaimOutcome) {
	start := time.Now()
	// A named result: the deferred assignment must reach the caller's copy
	// (DURATION_MS was always 0 before).
	defer func() { o.Duration = time.Since(start) }()
	if !r.Sys.CanReclaim() {
		o.Result, o.Err, o.Stop = report.ResultUnsupported, fmt.Errorf("%w: cgroup v1 hierarchy", cgroupfs.ErrNoReclaim), "not on this host"
		return o
	}
	var m cgroupfs.Memory
	if err := r.Sys.Memory(cg, &m); err != nil {
		o.Result, o.Err, o.Stop = report.ResultFailed, err, "cannot read the cgroup"
		return o
	}
	o.CurrentBefore, o.CurrentAfter = m.Current, m.Current
	o.SlabBefore, o.HasSlab = m.Stat.Get(cgroupfs.SlabReclaimable)
	o.SlabAfter = o.SlabBefore

	want := target(spec.Amount, &m)
	o.Target = min(want, cr.left(uint64(spec.BudgetPerMinute), now), r.nodeLeft(now))
	if o.Target < minBatch {
		o.Result, o.Stop = report.ResultSkipped, "budget spent or nothing to reclaim"
		if want >= minBatch {
			o.Stop = fmt.Sprintf("budget spent (%s wanted)", policy.Size(want))
		}
		return o
	}
	if r.Sys.DryRun() { // asked now: a reload may have changed it
		o.Requested, o.Batches = o.Target, 1
		o.Result, o.Stop = report.ResultDryRun, "dry run"
		return o
	}
	if !cr.begin() {
		o.Result, o.Stop = report.ResultSkipped, "a previous memory.reclaim write is still running"
		return o
	}
	release := true
	defer func() {
		if release {
			cr.end()
		}
	}()

	batch := min(uint64(spec.Batch), o.Target)
	timeout := spec.Timeout.Std()
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	deadline := time.Now().Add(timeout)
	o.FirstWrite = time.Now()
	for {
		abandoned, err := r.write(ctx, cg, cr, batch, spec.Swappiness, time.Until(deadline))
		release = !abandoned
		o.Requested += batch
		o.Batches++
		cr.spend(batch, now)
		r.spendNode(batch, now)
		prev := o.CurrentAfter
		prevSlab := o.SlabAfter
		if rerr := r.Sys.Memory(cg, &m); rerr == nil {
			o.CurrentAfter = m.Current
			o.SlabAfter, _ = m.Stat.Get(cgroupfs.SlabReclaimable)
		}
		freed := max(sub(prev, o.CurrentAfter), sub(prevSlab, o.SlabAfter))
		switch {
		case abandoned:
			o.Err, o.Stop = err, "timeout"
		case errors.Is(err, context.DeadlineExceeded):
			o.Stop = "timeout" // interrupted at the deadline: judged by its effect
		case err != nil && !errors.Is(err, syscall.EAGAIN):
			o.Err, o.Stop = err, "write failed"
		case freed == 0:
			o.Stop = "a batch freed nothing"
		case max(o.Freed(), o.SlabFreed()) >= o.Target:
			o.Stop = "target met"
		case time.Now().After(deadline):
			o.Stop = "timeout"
		case ctx.Err() != nil:
			o.Stop = "stopping"
		}
		if o.Stop != "" {
			break
		}
		left := o.Target - max(o.Freed(), o.SlabFreed())
		// Reclaim overshoots on slab (a 16M request freed 72M on the 6.1
		// VM): after a batch that freed more than asked, ask for half.
		if freed > batch {
			batch /= 2
		}
		batch = max(min(batch, left), minBatch)
	}
	switch {
	case errors.Is(o.Err, cgroupfs.ErrNoReclaim):
		o.Result = report.ResultUnsupported
	case o.Err != nil && o.Stop != "timeout":
		o.Result = report.ResultFailed
	case !o.Effective():
		o.Result = report.ResultIneffective
	case max(o.Freed(), o.SlabFreed()) >= o.Target:
		o.Result = report.ResultOK
	default:
		o.Result = report.ResultPartial
	}
	return o
}

func (r *Reclaimer) nodeLeft(now time.Time) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nodeBudget == 0 {
		return ^uint64(0)
	}
	return r.node.left(r.nodeBudget, now)
}

func (r *Reclaimer) spendNode(n uint64, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.node.spend(n, now)
}

func target(a policy.Amount, m *cgroupfs.Memory) uint64 {
	switch a.Of {
	case "":
		return uint64(a.Bytes)
	case policy.OfSlabReclaimable:
		slab, _ := m.Stat.Get(cgroupfs.SlabReclaimable)
		return uint64(float64(slab) * float64(a.Percent) / 100)
	case policy.OfMemoryCurrent:
		return uint64(float64(m.Current) * float64(a.Percent) / 100)
	}
	return 0
}

func (cr *CgroupReclaim) left(limit uint64, now time.Time) uint64 {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return cr.budget.left(limit, now)
}

func (cr *CgroupReclaim) spend(n uint64, now time.Time) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	cr.budget.spend(n, now)
}

func (cr *CgroupReclaim) begin() bool {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if cr.inflight {
		return false
	}
	cr.inflight = true
	return true
}

func (cr *CgroupReclaim) end() {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	cr.inflight = false
}

// write issues one memory.reclaim request, bounded by timeout: the kernel
// is asked to stop at the timeout (Sys.Reclaim interrupts the write when its
// context ends). A write that still has not returned a second later is left
// to finish in the background: write returns abandoned, and the cgroup
// stays in flight until the kernel returns.
func (r *Reclaimer) write(ctx context.Context, cg string, cr *CgroupReclaim, n uint64, swappiness *int, timeout time.Duration) (abandoned bool, err error) {
	r.mu.Lock()
	if r.noSwappiness {
		swappiness = nil
	}
	r.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, max(timeout, time.Millisecond))
	done := make(chan error, 1)
	go func() {
		defer cancel()
		err := r.Sys.Reclaim(wctx, cg, n, swappiness)
		if swappiness != nil && errors.Is(err, syscall.EINVAL) {
			// Kernels before swappiness= reject the whole request: remember,
			// and ask again without it.
			r.mu.Lock()
			r.noSwappiness = true
			r.mu.Unlock()
			err = r.Sys.Reclaim(wctx, cg, n, nil)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil && errors.Is(wctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			// Interrupted at the timeout: the batch ends here, judged by
			// its effect like any other.
			return false, fmt.Errorf("memory.reclaim of %s stopped after %v: %w", cg, timeout, err)
		}
		return false, err
	case <-time.After(max(timeout, time.Millisecond) + time.Second):
		err = fmt.Errorf("memory.reclaim of %s still running after %v", cg, timeout)
	}
	go func() {
		<-done
		cr.end()
	}()
	return true, err
}
