// Package report turns what the engine decides and does into records for
// operators: structured events with stable field names and a MESSAGE_ID per
// kind, written to journald natively when it is there and to stderr
// otherwise.
package report

import (
	"sort"
	"sync"
	"time"
)

// Kind is what an event is about. Each kind has a MESSAGE_ID, so
// `journalctl MESSAGE_ID=...` finds every event of one kind and the catalog
// can explain it.
type Kind string

// Event kinds.
const (
	Started        Kind = "started"         // the daemon runs: what it watches and what this host allows
	Stopped        Kind = "stopped"         // the daemon stopped, its changes undone or those left named
	LevelChanged   Kind = "level_changed"   // a cgroup (or the node) entered or left a level
	ActionTaken    Kind = "action"          // an action ran, with its measured outcome
	ActionUndone   Kind = "action_undone"   // a change was reverted
	PolicyLoaded   Kind = "policy_loaded"   // a policy was loaded or reloaded
	PolicyRejected Kind = "policy_rejected" // a reload failed validation; the old policy stays
	Yielded        Kind = "yielded"         // someone else changed a knob memrelief managed; memrelief let go
	Problem        Kind = "problem"         // something failed that memrelief works around
	Growth         Kind = "growth"          // a cgroup's memory grows steadily: what grows, and when it meets its limit
)

// MessageID returns the journal MESSAGE_ID of k, "" for an unknown kind.
func (k Kind) MessageID() string { return messageIDs[k] }

var messageIDs = map[Kind]string{
	Started:        "923e2f23cfc64a09bf3fbd28d2d8b205",
	Stopped:        "9f1824c422204b88a3c0bd130c1ac4d9",
	LevelChanged:   "f6d504c27dea47aa86f9f46299936c3c",
	ActionTaken:    "734c5b60ff4443b49bb42e17d046e8bb",
	ActionUndone:   "d7abad46e57e456fb7340c918ee55c4c",
	PolicyLoaded:   "50cc0061dfc54a23a9d2129bc7302236",
	PolicyRejected: "bf30124fc22d419a8ec174cdbd51a4cf",
	Yielded:        "d23530cb2ef146628c7972d867ef8a6b",
	Problem:        "61748e86553e4eb5beb092978828f4a7",
	Growth:         "fd1c6229890c4109bced6e78eda4b387",
}

// Kinds lists every kind, for the catalog and its test.
func Kinds() []Kind {
	ks := make([]Kind, 0, len(messageIDs))
	for k := range messageIDs {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	return ks
}

// Priority is a syslog priority, as journald uses them.
type Priority int

// Priorities used by memrelief.
const (
	Err     Priority = 3
	Warning Priority = 4
	Notice  Priority = 5
	Info    Priority = 6
	Debug   Priority = 7
)

// Field names. Stable: dashboards and alert rules match on them.
const (
	FieldUnit                 = "UNIT"
	FieldCgroup               = "CGROUP"
	FieldPodNamespace         = "POD_NAMESPACE"
	FieldPodName              = "POD_NAME"
	FieldRule                 = "RULE"
	FieldLevel                = "LEVEL"
	FieldPreviousLevel        = "PREVIOUS_LEVEL"
	FieldReasons              = "REASONS"
	FieldAction               = "ACTION"
	FieldResult               = "RESULT"
	FieldDryRun               = "DRY_RUN"
	FieldRequestedBytes       = "REQUESTED_BYTES"
	FieldReclaimedBytes       = "RECLAIMED_BYTES"
	FieldSlabReclaimable      = "SLAB_RECLAIMABLE_BYTES"
	FieldSlabReclaimableAfter = "SLAB_RECLAIMABLE_AFTER_BYTES"
	// FieldKernelMemory is all kernel memory of the cgroup, on cgroup v1
	// hosts in place of SLAB_RECLAIMABLE_BYTES, which v1 does not give per
	// cgroup.
	FieldKernelMemory       = "KERNEL_MEMORY_BYTES"
	FieldMemoryCurrent      = "MEMORY_CURRENT_BYTES"
	FieldMemoryCurrentAfter = "MEMORY_CURRENT_AFTER_BYTES"
	FieldPSISomeAvg10       = "PSI_SOME_AVG10"
	FieldPSIFullAvg10       = "PSI_FULL_AVG10"
	FieldDurationMs         = "DURATION_MS"
	// FieldTriggerLatencyMs is, for an action started by a kernel PSI
	// trigger event, the time from memrelief's wake-up on that event
	// (poll's POLLPRI) to the start of the action's first write.
	FieldTriggerLatencyMs = "TRIGGER_LATENCY_MS"
	FieldValueBefore      = "VALUE_BEFORE"
	FieldValueAfter       = "VALUE_AFTER"
	FieldPolicy           = "POLICY_FILE"
	FieldError            = "ERROR"
	// Growth events.
	FieldContainer            = "CONTAINER_NAME"       // the kubelet's name of a pod's container, or its scope unit
	FieldGrowthReason         = "GROWTH_REASON"        // first, closer, reminder or stopped
	FieldGrowthComponent      = "GROWTH_COMPONENT"     // anon, file, slab_reclaimable, slab_unreclaimable or other_kernel
	FieldGrowthBytesPerSec    = "GROWTH_BYTES_PER_SEC" // trend of memory.current
	FieldGrowthQuality        = "GROWTH_QUALITY"       // low, medium or high
	FieldGrowthSince          = "GROWTH_SINCE"         // RFC 3339: start of the window the trend rests on
	FieldTimeToMemoryHigh     = "TIME_TO_MEMORY_HIGH_SEC"
	FieldTimeToMemoryMax      = "TIME_TO_MEMORY_MAX_SEC"
	FieldTimeToOOM            = "TIME_TO_OOM_SEC" // node: until MemAvailable reaches 0
	FieldGrowthClassification = "GROWTH_CAUSES"   // one line per growing component
)

// Results of an action.
const (
	ResultOK          = "ok"          // did what it set out to do
	ResultPartial     = "partial"     // did some of it (budget, timeout, target not met)
	ResultIneffective = "ineffective" // ran, and measured no effect
	ResultSkipped     = "skipped"     // not run: budget spent, busy, excluded
	ResultUnsupported = "unsupported" // this host cannot do it
	ResultFailed      = "failed"      // an error
	ResultDryRun      = "dry-run"     // would have run
)

// Event is one record.
type Event struct {
	Time     time.Time
	Kind     Kind
	Priority Priority
	Message  string
	Fields   map[string]string
}

// Sink receives events. Emit must not block for long: the engine calls it
// from its loop.
type Sink interface {
	Emit(Event)
}

// Multi sends every event to each of its sinks.
type Multi []Sink

// Emit implements Sink.
func (m Multi) Emit(e Event) {
	for _, s := range m {
		s.Emit(e)
	}
}

// Recorder keeps events in memory, for tests and for `status` answers
// about recent actions.
type Recorder struct {
	mu     sync.Mutex
	events []Event // guarded by mu
}

// Emit implements Sink.
func (r *Recorder) Emit(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// Events returns a copy of what was recorded.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

var (
	_ Sink = Multi(nil)
	_ Sink = (*Recorder)(nil)
)
