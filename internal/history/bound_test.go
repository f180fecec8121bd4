package history

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/policy"
)

// worstSeries is the largest series the format allows, every number at
// the width that costs the most bytes: the file that maxFileSize must
// admit.
func worstSeries(t *testing.T) *Series {
	t.Helper()
	tiers := make([]Tier, maxTiers)
	for i := range tiers {
		tiers[i] = Tier{Step: time.Duration(1<<32-maxTiers+1+i) * time.Second, Len: maxTierLen}
	}
	s, err := NewSeries("/"+strings.Repeat("k", maxKeyLen-1), tiers)
	if err != nil {
		t.Fatal(err)
	}
	s.last = time.Unix(0, math.MaxInt64)
	// Means swing between the largest figure and a quarter of it, minima
	// stay 0 and peaks sit far from the mean, so every delta, every
	// mean-minus-minimum and every peak takes 5 bytes.
	var hi, lo point
	hi.n, hi.known, lo.n, lo.known = math.MaxUint16, allComponent, math.MaxUint16, allComponent
	for c := range NumComponents {
		hi.mean[c], lo.mean[c] = math.MaxUint32, 1<<30
	}
	lo.peak = math.MaxUint32
	for i := range s.tiers {
		tr := &s.tiers[i]
		// Full buckets in every tier: the version-1 form of this series is
		// the largest file there can be; version 2 writes tiers past the
		// first in fewer bytes.
		tr.compact = false
		pts := make([]point, maxTierLen)
		for j := range pts {
			pts[j] = hi
			if j%2 == 1 {
				pts[j] = lo
			}
		}
		tr.load(pts)
		tr.lastSlot, tr.openSlot = math.MinInt64/2, math.MaxInt64
		tr.open = accFrom(&hi)
	}
	return s
}

func TestMaxFileSizeAdmitsTheLargestValidFile(t *testing.T) {
	s := worstSeries(t)
	if v2 := encode(nil, s); len(v2) > maxFileSize {
		t.Errorf("the largest version-2 file is %d bytes, above maxFileSize %d", len(v2), maxFileSize)
	} else if _, err := decode(v2); err != nil {
		t.Fatalf("the largest version-2 series does not decode: %v", err)
	}
	data := encodeVersion(nil, s, 1)
	if _, err := decode(data); err != nil {
		t.Fatalf("the largest series does not decode: %v", err)
	}
	if len(data) > maxFileSize {
		t.Errorf("the largest valid file is %d bytes, above maxFileSize %d: loading it would set it aside", len(data), maxFileSize)
	}
	// The bound is meant to be tight: only slots and times may take fewer
	// bytes than their widest form.
	if slack := maxFileSize - len(data); slack > 3*binary.MaxVarintLen64*maxTiers {
		t.Errorf("maxFileSize %d is %d bytes above the largest valid file", maxFileSize, slack)
	}
}

func TestStoreSetsAsideOversizedFileUnread(t *testing.T) {
	st := Store{Dir: t.TempDir()}
	file := filepath.Join(st.Dir, FileName("/big.service"))
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	// Sparse: 300 MB that cost no disk, and that would cost 300 MB of
	// memory if read.
	const size = 300 << 20
	if err := os.Truncate(file, size); err != nil {
		t.Fatal(err)
	}

	// Read (explain) refuses it and moves nothing.
	if s, err := st.Read("/big.service"); s != nil || !errors.Is(err, errTooLarge) || !strings.Contains(err.Error(), file) {
		t.Errorf("Read = %v, %v; want a too-large error naming %s", s, err, file)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("Read moved the file: %v", err)
	}

	s, err := st.Load("/big.service", nil)
	if s != nil || err == nil {
		t.Fatalf("Load = %v, %v; want an error", s, err)
	}
	// Read whole, the zeros would fail as "bad magic"; refused unread, the
	// error says the size.
	for _, want := range []string{file, "314572800 bytes", "set aside"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if fi, err := os.Stat(file + corruptExt); err != nil || fi.Size() != size {
		t.Errorf("not set aside whole: %v, %v", fi, err)
	}
}

// endless supplies bytes until it has given fail of them, then errs: a
// file that keeps growing, without a test that never ends when the bound
// is broken.
type endless struct{ given, fail int64 }

var errEndlessRanOut = errors.New("endless reader ran out")

func (e *endless) Read(p []byte) (int, error) {
	if e.given >= e.fail {
		return 0, errEndlessRanOut
	}
	n := min(int64(len(p)), e.fail-e.given)
	e.given += n
	return int(n), nil
}

func TestReadAtMostStopsAtTheLimit(t *testing.T) {
	const limit = 4096
	// The stat said the file was small; it grew while read.
	src := &endless{fail: 100 * limit}
	data, err := readAtMost(src, 10, limit)
	if !errors.Is(err, errTooLarge) || data != nil {
		t.Errorf("readAtMost of an endless file = %d bytes, %v; want errTooLarge", len(data), err)
	}
	if src.given > limit+1 {
		t.Errorf("read %d bytes of it; want at most the limit %d and one", src.given, limit)
	}

	// A file of exactly the limit is whole.
	data, err = readAtMost(io.LimitReader(&endless{fail: 2 * limit}, limit), limit, limit)
	if err != nil || len(data) != limit {
		t.Errorf("readAtMost at the limit = %d bytes, %v", len(data), err)
	}
	// A stat above the limit is refused before any read.
	src = &endless{fail: 2 * limit}
	if _, err := readAtMost(src, limit+1, limit); !errors.Is(err, errTooLarge) || src.given != 0 {
		t.Errorf("readAtMost with a stat above the limit: %v after reading %d bytes", err, src.given)
	}
}

func TestStorePruneBoundsTheNumberOfFiles(t *testing.T) {
	st := Store{Dir: t.TempDir(), MaxFiles: 3}
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	// Six recent files, one an hour apart: none is old enough to age out.
	var names []string
	for i := range 6 {
		name := FileName("/pod" + string(rune('a'+i)) + ".slice")
		if i == 1 {
			name += corruptExt
		}
		p := filepath.Join(st.Dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		mod := now.Add(-time.Duration(6-i) * time.Hour)
		if err := os.Chtimes(p, mod, mod); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	removed, err := st.Prune(now, 14*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 3 {
		t.Errorf("removed %v; want the 3 written longest ago", removed)
	}
	for i, name := range names {
		_, err := os.Stat(filepath.Join(st.Dir, name))
		if i < 3 && err == nil {
			t.Errorf("%s (written %dh ago) kept over newer files", name, 6-i)
		}
		if i >= 3 && err != nil {
			t.Errorf("%s (written %dh ago) removed: %v", name, 6-i, err)
		}
	}
}

// A policy may ask for as many resolutions and points as the history
// reads back, no more: a file the daemon wrote must never be set aside as
// too large.
func TestBoundsCoverThePolicy(t *testing.T) {
	if maxTiers != policy.MaxResolutions || maxTierLen != policy.MaxHistoryPoints {
		t.Errorf("history reads %d tiers of %d points; the policy allows %d resolutions of %d", maxTiers, maxTierLen, policy.MaxResolutions, policy.MaxHistoryPoints)
	}
}

// A FIFO in place of a history file is set aside, not opened: opening it
// would block the engine's loop until something wrote to it.
func TestStoreSetsAsideAFIFOUnopened(t *testing.T) {
	st := Store{Dir: t.TempDir()}
	file := filepath.Join(st.Dir, FileName("/fifo.service"))
	if err := syscall.Mkfifo(file, 0o600); err != nil {
		t.Skipf("SKIP: mkfifo: %v; a FIFO in the history directory is NOT tested", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := st.Load("/fifo.service", nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), file) {
			t.Errorf("Load of a FIFO: %v", err)
		}
	case <-time.After(hangGuard):
		// Unblock the open so the goroutine ends.
		if w, err := os.OpenFile(file, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		t.Fatal("Load blocked opening a FIFO")
	}
	if fi, err := os.Lstat(file + corruptExt); err != nil || fi.Mode().Type() != os.ModeNamedPipe {
		t.Errorf("FIFO not set aside: %v, %v", fi, err)
	}
}

// hangGuard bounds a wait that a broken Load would never end; it is not a
// limit the test asserts.
const hangGuard = 30 * time.Second
