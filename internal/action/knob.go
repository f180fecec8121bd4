package action

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// A Knob is one setting outside memrelief that memrelief may change and must
// put back: a sysctl, or one property of one systemd unit. Values are
// integers (sysctl values, byte counts, MaxUint64 for "infinity").
type Knob interface {
	// Spec names the knob; it is saved in the intent record so the next
	// start can rebuild the knob after a crash.
	Spec() KnobSpec
	// Read returns the value in force now. ErrGone means the thing the knob
	// belongs to no longer exists (a stopped transient unit).
	Read(ctx context.Context) (uint64, error)
	// Write sets the value.
	Write(ctx context.Context, v uint64) error
	// SaveSide captures what else a Write changes on the host and must be
	// put back with the original (the unit's runtime drop-in file); nil
	// when nothing does.
	SaveSide(ctx context.Context) (*Side, error)
	// RestoreSide puts it back.
	RestoreSide(ctx context.Context, s *Side) error
}

// KnobSpec identifies a knob: Kind "sysctl" with Name the path below /proc
// ("sys/vm/vfs_cache_pressure"), or Kind "unit_property" with Unit and Name
// ("MemoryHigh").
type KnobSpec struct {
	Kind string `json:"kind"`
	Unit string `json:"unit,omitempty"`
	Name string `json:"name"`
}

// Knob kinds.
const (
	KnobSysctl       = "sysctl"
	KnobUnitProperty = "unit_property"
)

// ID is the knob's key: one record, one job in flight, per ID.
func (s KnobSpec) ID() string {
	if s.Unit == "" {
		return s.Kind + " " + s.Name
	}
	return s.Kind + " " + s.Unit + " " + s.Name
}

// Side is a file a Write changes besides the value itself, as it was before
// memrelief's first change.
type Side struct {
	Path       string `json:"path"`
	Existed    bool   `json:"existed"`
	Content    string `json:"content,omitempty"`
	DirExisted bool   `json:"dir_existed"`
}

// ErrGone is what Knob.Read returns when the knob's owner is gone.
var ErrGone = errors.New("gone")

// intent is the record of one knob memrelief manages. It is saved before
// every write ("about to set Pending, from Set, original Original") and
// again after it (Pending cleared, Set confirmed), so that whatever point a
// crash interrupts, the next start finds the value in one of Original, Set
// or Pending and knows it is memrelief's; any other value is an
// administrator's, and stays.
type intent struct {
	Knob     KnobSpec `json:"knob"`
	Original uint64   `json:"original"`
	Set      uint64   `json:"set"`
	Pending  *uint64  `json:"pending,omitempty"`
	Side     *Side    `json:"side,omitempty"`
}

func (in *intent) ours(v uint64) bool {
	return v == in.Set || v == in.Original || (in.Pending != nil && v == *in.Pending)
}

// Records is where intents are kept; state.Store in the daemon.
type Records interface {
	Load(name string, v any) (bool, error)
	Save(name string, v any) error
	Remove(name string) error
	SetAside(name string) error
	List(prefix string) ([]string, error)
	SweepTemporaries() ([]string, error)
}

const intentPrefix = "knob-"

// recordName is the knob's record file, readable in /run/memrelief:
// "knob-sysctl-sys.vm.vfs_cache_pressure",
// "knob-unit_property-app.service-MemoryHigh". Unit and property names hold
// no slash; a sysctl's path has its slashes turned into dots.
func recordName(s KnobSpec) string {
	name := s.Kind + "-"
	if s.Unit != "" {
		name += s.Unit + "-"
	}
	return intentPrefix + strings.ReplaceAll(name+s.Name, "/", ".")
}

// Knobs moves knobs to the values memrelief wants and back, with a
// write-ahead intent record for each. Its methods may be called from
// several goroutines, but never two for the same knob at once (the engine
// keeps one job in flight per knob).
type Knobs struct {
	Records Records
	// Build rebuilds a knob from its spec, for recovery after a crash.
	Build func(KnobSpec) (Knob, error)

	mu      sync.Mutex
	managed map[string]*intent // guarded by mu: by KnobSpec.ID
	yielded map[string]bool    // guarded by mu: let go after an outside change
}

// MoveResult says what a move did.
type MoveResult int

// Move results.
const (
	MoveNone     MoveResult = iota // already there, or yielded
	MoveDone                       // written and confirmed
	MoveDryRun                     // would have written
	MoveFailed                     // not written (Err says why)
	MoveYielded                    // someone else changed the value: memrelief let go
	MoveRestored                   // the original is back
	MoveGone                       // the owner is gone; its side state was put back
	MoveKept                       // after a crash, an administrator's value was found and kept
)

// Move is the outcome of one step of a knob.
type Move struct {
	Knob     KnobSpec
	Result   MoveResult
	From, To uint64
	Original uint64
	Err      error
	// Warn is a problem that did not stop the move (a record not saved).
	Warn error
}

func (k *Knobs) lookup(id string) *intent {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.managed[id]
}

func (k *Knobs) put(id string, in *intent) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if in == nil {
		delete(k.managed, id)
		return
	}
	if k.managed == nil {
		k.managed = map[string]*intent{}
	}
	k.managed[id] = in
}

// Managed returns a copy of the managed knob's original and confirmed value.
func (k *Knobs) Managed(id string) (original, set uint64, ok bool) {
	in := k.lookup(id)
	if in == nil {
		return 0, 0, false
	}
	return in.Original, in.Set, true
}

// IDs lists the managed knobs, sorted.
func (k *Knobs) IDs() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]string, 0, len(k.managed))
	for id := range k.managed {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Record is what an intent record on disk says of a knob.
type Record struct {
	Knob          KnobSpec
	Original, Set uint64
}

// Recorded lists the intent records on disk, sorted by ID: the knobs
// managed now, and those a previous run left that this one could not
// rebuild (kept for the next start). What it lists is what is not undone.
func (k *Knobs) Recorded() ([]Record, error) {
	names, err := k.Records.List(intentPrefix)
	if err != nil {
		return nil, fmt.Errorf("list intent records: %w", err)
	}
	var out []Record
	for _, name := range names {
		var in intent
		if ok, err := k.Records.Load(name, &in); err != nil || !ok || in.Knob.Kind == "" {
			continue // recovery sets such a record aside; it names no knob
		}
		out = append(out, Record{Knob: in.Knob, Original: in.Original, Set: in.Set})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Knob.ID() < out[j].Knob.ID() })
	return out, nil
}

// Specs lists the managed knobs' specs, sorted by ID.
func (k *Knobs) Specs() []KnobSpec {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]KnobSpec, 0, len(k.managed))
	for _, in := range k.managed {
		out = append(out, in.Knob)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out
}

// Yielded reports whether memrelief let go of the knob after an outside
// change; it takes it up again once nobody wants it (Release).
func (k *Knobs) Yielded(id string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.yielded[id]
}

func (k *Knobs) setYielded(id string, y bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !y {
		delete(k.yielded, id)
		return
	}
	if k.yielded == nil {
		k.yielded = map[string]bool{}
	}
	k.yielded[id] = true
}

// Release forgets that memrelief yielded a knob nobody wants any more.
func (k *Knobs) Release(id string) { k.setYielded(id, false) }

// Want is the value wanted of a knob: Target, reached in steps of Step from
// the value in force (0: at once). Raise says which way is stricter: higher
// values (vm.vfs_cache_pressure, MemoryLow) or lower ones (MemoryHigh).
// memrelief only ever moves a knob the stricter way from its original: a
// want looser than what the administrator configured leaves it alone.
type Want struct {
	Target, Step uint64
	Raise        bool
}

// next is the value to write now, from cur with original orig.
func (w Want) next(cur, orig uint64) uint64 {
	goal := w.Target
	if (w.Raise && goal < orig) || (!w.Raise && goal > orig) {
		goal = orig
	}
	switch {
	case w.Step == 0 || cur == goal:
		return goal
	case cur < goal:
		return cur + min(w.Step, goal-cur)
	default:
		return cur - min(w.Step, cur-goal)
	}
}

// Set moves knob one step toward want. dry reports, at this moment,
// whether changes are suppressed: a dry move writes nothing new, and puts
// back what memrelief changed before the dry run began.
func (k *Knobs) Set(ctx context.Context, knob Knob, want Want, dry bool) Move {
	spec := knob.Spec()
	id := spec.ID()
	m := Move{Knob: spec}
	if k.Yielded(id) {
		return m
	}
	in := k.lookup(id)
	if dry && in != nil {
		return k.Restore(ctx, knob)
	}
	cur, err := knob.Read(ctx)
	if err != nil {
		m.Result, m.Err = MoveFailed, fmt.Errorf("read %s: %w", id, err)
		return m
	}
	m.From, m.Original = cur, cur
	if in != nil && cur != in.Set {
		k.forget(spec)
		k.setYielded(id, true)
		m.Result, m.Original, m.To = MoveYielded, in.Original, cur
		m.From = in.Set
		return m
	}
	if in != nil {
		m.Original = in.Original
	}
	v := want.next(cur, m.Original)
	m.To = v
	if cur == v {
		return m
	}
	if dry {
		m.Result = MoveDryRun
		return m
	}
	if in == nil {
		side, err := knob.SaveSide(ctx)
		if err != nil {
			m.Result, m.Err = MoveFailed, fmt.Errorf("not changing %s: %w", id, err)
			return m
		}
		in = &intent{Knob: spec, Original: cur, Set: cur, Side: side}
	}
	return k.write(ctx, knob, in, v, m)
}

// write is the write-ahead step both Set and restore use: record Pending,
// write, confirm.
func (k *Knobs) write(ctx context.Context, knob Knob, in *intent, v uint64, m Move) Move {
	id := in.Knob.ID()
	next := *in
	next.Pending = &v
	if err := k.Records.Save(recordName(in.Knob), &next); err != nil {
		m.Result, m.Err = MoveFailed, fmt.Errorf("not changing %s: %w", id, err)
		return m
	}
	k.put(id, &next)
	if err := knob.Write(ctx, v); err != nil {
		m.Result, m.Err = MoveFailed, fmt.Errorf("set %s to %d: %w", id, v, err)
		// The value may or may not have changed: keep Pending, so a later
		// restore or recovery still knows both values are memrelief's.
		return m
	}
	after, err := knob.Read(ctx)
	if err != nil {
		after = v
	}
	// A published intent is never changed in place: the loop reads one
	// (Managed) after the lock that found it is released, while this runs
	// on a worker; a fresh copy is published instead.
	done := next
	done.Set, done.Pending = after, nil
	k.put(id, &done)
	m.Result, m.To = MoveDone, after
	if err := k.Records.Save(recordName(in.Knob), &done); err != nil {
		// The record on disk still says Pending = v: recovery copes.
		m.Warn = fmt.Errorf("confirm %s: %w", id, err)
	}
	return m
}

// Restore puts the original back when memrelief changed the knob, and
// forgets it. A value someone else set meanwhile stays.
func (k *Knobs) Restore(ctx context.Context, knob Knob) Move {
	spec := knob.Spec()
	id := spec.ID()
	k.Release(id)
	in := k.lookup(id)
	m := Move{Knob: spec}
	if in == nil {
		return m
	}
	m.Original, m.From, m.To = in.Original, in.Set, in.Original
	cur, err := knob.Read(ctx)
	switch {
	case errors.Is(err, ErrGone):
		m.Result = MoveGone
		if err := knob.RestoreSide(ctx, in.Side); err != nil {
			m.Result, m.Err = MoveFailed, fmt.Errorf("restore what %s changed besides the value: %w", id, err)
			return m
		}
		k.forget(spec)
		return m
	case err != nil:
		m.Result, m.Err = MoveFailed, fmt.Errorf("read %s to restore it: %w", id, err)
		return m
	case cur == in.Original:
	case !in.ours(cur):
		k.forget(spec)
		m.Result, m.To = MoveYielded, cur
		return m
	default:
		m.From = cur
		if w := k.write(ctx, knob, in, in.Original, m); w.Result != MoveDone {
			return w
		}
	}
	if err := knob.RestoreSide(ctx, in.Side); err != nil {
		m.Warn = fmt.Errorf("restore what %s changed besides the value: %w", id, err)
	}
	m.Result = MoveRestored
	if err := k.forget(spec); err != nil {
		m.Warn = err
	}
	return m
}

func (k *Knobs) forget(spec KnobSpec) error {
	k.put(spec.ID(), nil)
	if err := k.Records.Remove(recordName(spec)); err != nil {
		return fmt.Errorf("forget %s: %w", spec.ID(), err)
	}
	return nil
}

// Recover restores every knob a previous run left changed: call once at
// start, before anything else moves a knob. A record that cannot be read is
// set aside and named in the outcome's error.
func (k *Knobs) Recover(ctx context.Context) []Move {
	var out []Move
	// A crash between a record's create and its rename left a temporary:
	// its intent was never recorded, so the write it preceded never
	// happened either (the record comes first), and it only takes room.
	if _, err := k.Records.SweepTemporaries(); err != nil {
		out = append(out, Move{Result: MoveFailed, Err: fmt.Errorf("recover: %w", err)})
	}
	names, err := k.Records.List(intentPrefix)
	if err != nil {
		return append(out, Move{Result: MoveFailed, Err: fmt.Errorf("recover: %w", err)})
	}
	for _, name := range names {
		var in intent
		if _, err := k.Records.Load(name, &in); err != nil || in.Knob.Kind == "" {
			if err == nil {
				err = fmt.Errorf("record %s names no knob", name)
			}
			k.Records.SetAside(name)
			out = append(out, Move{Result: MoveFailed, Err: fmt.Errorf("%w; set aside, the knob is left as it is", err)})
			continue
		}
		knob, err := k.Build(in.Knob)
		if err != nil {
			out = append(out, Move{Knob: in.Knob, Result: MoveFailed, Err: fmt.Errorf("recover %s: %w; kept for the next start", in.Knob.ID(), err)})
			continue
		}
		k.put(in.Knob.ID(), &in)
		m := k.Restore(ctx, knob)
		if m.Result == MoveYielded {
			m.Result = MoveKept
		}
		out = append(out, m)
	}
	return out
}
