package history

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestWriteFortnightFiles is a tool, not a test: with
// MEMRELIEF_FORTNIGHT_DIR set it writes the history files of the node and
// of the pod slices packaging/bench/idle.sh makes
// (MEMRELIEF_FORTNIGHT_N of them, 1,000 by default), each 14 days and an
// hour long and ending now, in file version MEMRELIEF_FORTNIGHT_VERSION
// (2 by default; 1 for a build from before version 2). A daemon started
// on them holds what it would after two weeks of watching, which is how
// BENCHMARKS.md measures its RSS without waiting two weeks.
func TestWriteFortnightFiles(t *testing.T) {
	dir := os.Getenv("MEMRELIEF_FORTNIGHT_DIR")
	if dir == "" {
		t.Skip("MEMRELIEF_FORTNIGHT_DIR not set")
	}
	n, version := 1000, byte(fileVersion)
	if v := os.Getenv("MEMRELIEF_FORTNIGHT_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	if os.Getenv("MEMRELIEF_FORTNIGHT_VERSION") == "1" {
		version = 1
	}
	s := newTestSeries(t)
	end := time.Now().Truncate(time.Minute)
	start := end.Add(-(14*24*time.Hour + time.Hour))
	r := rand.New(rand.NewPCG(1, 2))
	for d := time.Duration(0); !start.Add(d).After(end); d += time.Minute {
		s.Add(start.Add(d), sampleValues(r, d.Seconds()))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	keys := []string{"/"}
	for i := range n {
		keys = append(keys, fmt.Sprintf("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%08d.slice", i))
	}
	for _, k := range keys {
		s.key = k
		if err := os.WriteFile(filepath.Join(dir, FileName(k)), encodeVersion(nil, s, version), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d files of version %d in %s, ending %v", len(keys), version, dir, end)
}
