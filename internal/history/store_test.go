package history

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// filledSeries is 3 days of a slowly growing series with a gap, sampled
// every 20 s.
func filledSeries(t testing.TB, key string) *Series {
	t.Helper()
	s, err := NewSeries(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := func(t float64) (float64, float64, float64, float64, float64) {
		return 100*mib + 50*t, 30 * mib, 10*mib + 5*t, 4 * mib, 2 * mib
	}
	feed(t, s, f, 0, 30*time.Hour, 20*time.Second, 256<<10, 1)
	feed(t, s, f, 31*time.Hour, 72*time.Hour+30*time.Second, 20*time.Second, 256<<10, 2)
	return s
}

func allPoints(s *Series) [][]Point {
	var out [][]Point
	for i := range s.tiers {
		out = append(out, s.Points(i, time.Time{}, time.Unix(1<<40, 0), nil))
	}
	return out
}

func TestStoreRoundTrip(t *testing.T) {
	st := Store{Dir: filepath.Join(t.TempDir(), "history")}
	s := filledSeries(t, "/kubepods.slice/pod.slice/cri-containerd-abc.scope")
	if err := st.Save(s); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load(s.Key(), nil)
	if err != nil || got == nil {
		t.Fatalf("Load = %v, %v", got, err)
	}
	if !reflect.DeepEqual(allPoints(got), allPoints(s)) {
		t.Error("points differ after a round trip")
	}
	if !got.Last().Equal(s.Last()) {
		t.Errorf("Last = %v, want %v", got.Last(), s.Last())
	}
	var e1, e2 Estimator
	now := s.Last()
	a, b := e1.Estimate(s, now), e2.Estimate(got, now)
	for c := range NumComponents {
		x, y := a.C[c], b.C[c]
		if x.BytesPerSec != y.BytesPerSec || x.Level != y.Level || x.Quality != y.Quality || !x.From.Equal(y.From) {
			t.Errorf("%v estimate differs after a round trip:\n%+v\n%+v", c, x, y)
		}
	}
	if a.Peak != b.Peak {
		t.Errorf("peak %v, after a round trip %v", a.Peak, b.Peak)
	}
	// The open bucket goes on filling after a restart of the daemon.
	next := s.Last().Add(5 * time.Second)
	s.Add(next, vals(500*mib, 100*mib))
	got.Add(next, vals(500*mib, 100*mib))
	// The open bucket was saved to the KiB, so its mean may move by one.
	pa, pb := allPoints(s), allPoints(got)
	for i := range pa {
		oa, ob := pa[i][len(pa[i])-1], pb[i][len(pb[i])-1]
		ma, _ := oa.Mean.Get(Current)
		mb, _ := ob.Mean.Get(Current)
		if !oa.Open || oa.Samples != ob.Samples || oa.Peak != ob.Peak || max(ma, mb)-min(ma, mb) > kib {
			t.Errorf("tier %d open bucket after the load %+v, want %+v", i, ob, oa)
		}
		if !reflect.DeepEqual(pa[i][:len(pa[i])-1], pb[i][:len(pb[i])-1]) {
			t.Errorf("tier %d closed points differ after a sample following the load", i)
		}
	}
	if entries, _ := os.ReadDir(st.Dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want the one file", len(entries))
	}
}

func TestStoreLoadMissing(t *testing.T) {
	st := Store{Dir: t.TempDir()}
	s, err := st.Load("/nothing", nil)
	if s != nil || err != nil {
		t.Errorf("Load of a missing series = %v, %v", s, err)
	}
}

func TestStoreSetsAsideBadFiles(t *testing.T) {
	good := encode(nil, filledSeries(t, "/a.service"))
	other := encode(nil, filledSeries(t, "/b.service"))
	v3 := append([]byte(nil), good...)
	v3[len(magic)] = fileVersion + 1
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 0x40
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"truncated", good[:len(good)/2], "checksum"},
		{"empty", nil, "too short"},
		{"flipped bit", flipped, "checksum"},
		{"foreign", []byte("{\"not\": \"a history file at all\"}"), "bad magic"},
		{"newer version", v3, "version 3"},
		{"another key", other, `"/b.service"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := Store{Dir: t.TempDir()}
			file := filepath.Join(st.Dir, FileName("/a.service"))
			if err := os.WriteFile(file, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := st.Load("/a.service", nil)
			if s != nil || err == nil {
				t.Fatalf("Load = %v, %v; want an error", s, err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "set aside") {
				t.Errorf("error %q does not name the file, %q and the set-aside", err, tc.wantErr)
			}
			if _, err := os.Stat(file + corruptExt); err != nil {
				t.Errorf("not set aside: %v", err)
			}
			// Never read again: the next start begins afresh.
			if s, err := st.Load("/a.service", nil); s != nil || err != nil {
				t.Errorf("second Load = %v, %v", s, err)
			}
		})
	}
}

func TestStoreKeepsNewestWhenTiersShrink(t *testing.T) {
	st := Store{Dir: t.TempDir()}
	s := filledSeries(t, "/x.slice")
	if err := st.Save(s); err != nil {
		t.Fatal(err)
	}
	small := []Tier{{Step: 5 * time.Minute, Len: 60}, {Step: 2 * time.Hour, Len: 24}}
	got, err := st.Load("/x.slice", small)
	if err != nil {
		t.Fatal(err)
	}
	want := s.Points(0, time.Time{}, time.Unix(1<<40, 0), nil)
	have := got.Points(0, time.Time{}, time.Unix(1<<40, 0), nil)
	if len(have) != 61 || !reflect.DeepEqual(have, want[len(want)-61:]) {
		t.Errorf("fine tier kept %d points, want the newest 60 and the open one", len(have))
	}
	// The file has no 2-hour tier: its hourly one (the finer tier whose
	// step divides 2 hours) fills it.
	checkResampled(t, s.Points(1, time.Time{}, time.Unix(1<<40, 0), nil), got.Points(1, time.Time{}, time.Unix(1<<40, 0), nil), 24)
}

// checkResampled checks that coarse, a tier the file lacked, merges the
// buckets of fine, the file's finer tier, and keeps the newest n of them
// and the open one: samples add up, the minimum is the least of the
// minima, the mean of Current the mean of means weighted by samples (to
// the 1/4096 a compact bucket keeps), and the newest bucket is open.
func checkResampled(t *testing.T, fine, coarse []Point, n int) {
	t.Helper()
	if len(coarse) != n+1 || !coarse[n].Open {
		t.Fatalf("the resampled tier holds %d buckets, want %d and the open one", len(coarse), n)
	}
	step := coarse[0].Step
	for _, c := range coarse {
		var samples int
		var sum float64
		lo := uint64(math.MaxUint64)
		for _, f := range fine {
			if f.Samples == 0 || f.Start.Before(c.Start) || !f.Start.Before(c.Start.Add(step)) {
				continue
			}
			samples += f.Samples
			m, _ := f.Mean.Get(Current)
			sum += float64(m) * float64(f.Samples)
			v, _ := f.Min.Get(Current)
			lo = min(lo, v)
		}
		if samples == 0 {
			if c.Samples != 0 {
				t.Errorf("bucket at %v holds %d samples where the file had none", c.Start, c.Samples)
			}
			continue
		}
		m, _ := c.Mean.Get(Current)
		v, _ := c.Min.Get(Current)
		if want := sum / float64(samples); c.Samples != samples || v != lo || math.Abs(float64(m)-want) > want/2048+kib {
			t.Errorf("bucket at %v: %d samples, min %d, mean %d; want %d, %d, %.0f", c.Start, c.Samples, v, m, samples, lo, want)
		}
	}
}

// A file saved with the hourly 14-day tier of the previous default keeps
// its history when the daemon starts with the current one: the 2-day tier
// takes the newest 48 hourly buckets, the 4-hour tier is resampled from
// all of them, so a slow leak's 14-day estimate is there at once, not five
// days after the upgrade.
func TestPreviousDefaultFilesFillTheFourHourTier(t *testing.T) {
	st := Store{Dir: t.TempDir()}
	old := newTiersSeries(t, previousDefaultTiers)
	const perDay = 4 * mib
	f := func(t float64) (float64, float64, float64, float64, float64) {
		return 100*mib + perDay*t/86400, 30*mib + perDay*t/86400, 10 * mib, 4 * mib, 2 * mib
	}
	feed(t, old, f, 0, 15*24*time.Hour, time.Minute, 256<<10, 1)
	if err := st.Save(old); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load(old.Key(), nil)
	if err != nil {
		t.Fatal(err)
	}
	hourly := old.Points(1, time.Time{}, time.Unix(1<<40, 0), nil)
	if have := got.Points(1, time.Time{}, time.Unix(1<<40, 0), nil); !reflect.DeepEqual(have, hourly[len(hourly)-49:]) {
		t.Errorf("the 2-day tier holds %d points, want the file's newest 48 hourly ones and the open one", len(have))
	}
	checkResampled(t, hourly, got.Points(2, time.Time{}, time.Unix(1<<40, 0), nil), 84)
	// The 2-day tier must not keep the file's 336 hourly buckets alive
	// behind the 48 it holds: a thousand upgraded series would carry the
	// old footprint until the next restart.
	d, err := decode(encode(nil, old))
	if err != nil {
		t.Fatal(err)
	}
	fresh := newTestSeries(t)
	fresh.restore(d)
	if &fresh.tiers[1].cpts[0] == &d.tiers[1].cpts[len(d.tiers[1].cpts)-48] {
		t.Error("the 2-day tier's storage is the tail of the decoded 14 days")
	}
	var e Estimator
	g := e.Estimate(got, got.Last()).C[Anon]
	if g.Quality != QualityHigh || g.To.Sub(g.From) < 13*24*time.Hour || math.Abs(g.BytesPerSec*86400-perDay) > perDay/20 {
		t.Errorf("anon right after the upgrade: %+v, want %d MiB/day of high quality over 13 days or more", g, perDay/mib)
	}
}

func TestStorePrune(t *testing.T) {
	st := Store{Dir: t.TempDir()}
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range []struct {
		name string
		age  time.Duration
	}{
		{FileName("/gone.service"), 15 * 24 * time.Hour},
		{FileName("/live.service"), time.Hour},
		{FileName("/bad.service") + corruptExt, 20 * 24 * time.Hour},
		{FileName("/x") + ".123" + tmpExt, 30 * 24 * time.Hour},
		{"README", 100 * 24 * time.Hour},
	} {
		p := filepath.Join(st.Dir, f.name)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-f.age), now.Add(-f.age)); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := st.Prune(now, 14*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 3 {
		t.Errorf("removed %v, want the gone, the corrupt and the temporary file", removed)
	}
	for _, keep := range []string{FileName("/live.service"), "README"} {
		if _, err := os.Stat(filepath.Join(st.Dir, keep)); err != nil {
			t.Errorf("%s removed: %v", keep, err)
		}
	}
}

func TestFileName(t *testing.T) {
	a, b := FileName("/system.slice/foo.service"), FileName("/other.slice/foo.service")
	if a == b || !strings.HasPrefix(a, "foo.service-") || !strings.HasSuffix(a, fileExt) {
		t.Errorf("names %q and %q", a, b)
	}
	long := "/" + strings.Repeat("x/", 2000) + strings.Repeat("y", 400)
	for _, k := range []string{"/", "", "/../..", long, "/a b\x00c"} {
		n := FileName(k)
		if len(n) > 100 || strings.ContainsAny(n, "/\x00 ") || strings.HasPrefix(n, ".") {
			t.Errorf("FileName(%.20q) = %q", k, n)
		}
	}
}

func FuzzDecode(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzDecode (a valid file, a truncated one, JSON).
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decode(data)
		if err != nil && len(data) >= crcSize {
			// Most mutations break the checksum; put it right so the
			// parser behind it is exercised too.
			body := data[: len(data)-crcSize : len(data)-crcSize]
			d, err = decode(binary.LittleEndian.AppendUint32(body, crc32.Checksum(body, castagnoli)))
		}
		if err != nil {
			return
		}
		s, err := NewSeries(d.key, nil)
		if err != nil {
			return
		}
		s.restore(d)
		// Whatever decoded must encode and decode to the same points.
		again, err := decode(encode(nil, s))
		if err != nil {
			t.Fatalf("re-encoded series does not decode: %v", err)
		}
		s2, _ := NewSeries(again.key, nil)
		s2.restore(again)
		if !reflect.DeepEqual(allPoints(s), allPoints(s2)) {
			t.Fatal("points differ after re-encoding")
		}
	})
}

// TestStoreReadUsesTheSavedTiers: a reader gets the series with the tiers
// it was saved with, whatever the defaults, and a bad file is an error that
// leaves the file where it is.
func TestStoreReadUsesTheSavedTiers(t *testing.T) {
	st := Store{Dir: t.TempDir()}
	tiers := []Tier{{Step: 5 * time.Second, Len: 360}, {Step: time.Minute, Len: 720}}
	s, err := NewSeries("/a.service", tiers)
	if err != nil {
		t.Fatal(err)
	}
	f := func(t float64) (float64, float64, float64, float64, float64) {
		return 100*mib + 1000*t, 30 * mib, 10 * mib, 4 * mib, 2 * mib
	}
	feed(t, s, f, 0, 20*time.Minute, time.Second, 0, 1)
	if err := st.Save(s); err != nil {
		t.Fatal(err)
	}
	got, err := st.Read("/a.service")
	if err != nil || got == nil {
		t.Fatalf("Read = %v, %v", got, err)
	}
	if !reflect.DeepEqual(got.Tiers(), tiers) || !reflect.DeepEqual(allPoints(got), allPoints(s)) {
		t.Errorf("Read gave tiers %v and other points; want %v and the saved points", got.Tiers(), tiers)
	}
	if s, err := st.Read("/missing.service"); s != nil || err != nil {
		t.Errorf("Read of a missing key = %v, %v", s, err)
	}
	file := filepath.Join(st.Dir, FileName("/a.service"))
	if err := os.WriteFile(file, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s, err := st.Read("/a.service"); s != nil || err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("Read of a bad file = %v, %v; want an error naming it", s, err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("Read moved the bad file: %v", err)
	}
}

// TestReadsVersion1 reads a file the version-1 encoder wrote
// (testdata/v1/series.hist): every figure of the finest tier comes back
// as version 1 read it (testdata/v1/points.txt) within the 1/4096 it
// keeps now, the coarse tier's minima and means of Current and Anon too,
// and the
// series saves as version 2 and reads back the same.
func TestReadsVersion1(t *testing.T) {
	data, err := os.ReadFile("testdata/v1/series.hist")
	if err != nil {
		t.Fatal(err)
	}
	if data[len(magic)] != 1 {
		t.Fatalf("testdata/v1/series.hist is version %d", data[len(magic)])
	}
	d, err := decode(data)
	if err != nil {
		t.Fatal(err)
	}
	s := newTiersSeries(t, previousDefaultTiers)
	s.key = d.key
	s.restore(d)
	golden, err := os.ReadFile("testdata/v1/points.txt")
	if err != nil {
		t.Fatal(err)
	}
	to := epoch.Add(100 * time.Hour)
	want := strings.Split(strings.TrimSpace(string(golden)), "\n")
	got := strings.Split(strings.TrimSpace(dumpPoints(s, to)), "\n")
	if len(got) != len(want) {
		t.Fatalf("%d buckets, want %d", len(got), len(want))
	}
	coarse := 0
	for i := range want {
		w, g := strings.Fields(want[i]), strings.Fields(got[i])
		// tier, start, samples, open are equal; then peak, 6 means, 6 minima.
		if strings.Join(g[:4], " ") != strings.Join(w[:4], " ") {
			t.Errorf("bucket %d: %s, want %s", i, got[i], want[i])
			continue
		}
		check := func(field int, what string) {
			if w[field] == "-" || g[field] == "-" {
				if w[field] != g[field] {
					t.Errorf("bucket %d: %s %s, want %s", i, what, g[field], w[field])
				}
				return
			}
			wv, err1 := strconv.ParseFloat(w[field], 64)
			gv, err2 := strconv.ParseFloat(g[field], 64)
			if err1 != nil || err2 != nil || math.Abs(gv-wv) > wv/4096+kib {
				t.Errorf("bucket %d: %s %s, want %s within 1/4096", i, what, g[field], w[field])
			}
		}
		if w[0] == "0" {
			// The finest tier keeps every figure, each to 1/4096.
			for f := 4; f < len(w); f++ {
				check(f, fmt.Sprintf("field %d", f))
			}
			continue
		}
		coarse++
		check(5+int(Current), "mean of current")
		check(5+int(Anon), "mean of anon")
		for c := range NumComponents {
			check(5+int(NumComponents)+int(c), "minimum of "+c.String())
		}
	}
	if coarse == 0 {
		t.Fatal("no coarse buckets in testdata/v1")
	}
	again, err := decode(encode(nil, s))
	if err != nil {
		t.Fatal(err)
	}
	s2 := newTiersSeries(t, previousDefaultTiers)
	s2.key = again.key
	s2.restore(again)
	if a, b := dumpPoints(s, to), dumpPoints(s2, to); a != b {
		t.Errorf("saved as version 2 and read back, the points differ")
	}
}
