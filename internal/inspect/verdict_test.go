package inspect

import (
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/cgroupfs"
)

const mib = 1 << 20

// memOf builds a sample with the given memory.stat fields.
func memOf(current uint64, fields map[cgroupfs.Field]uint64) *cgroupfs.Memory {
	m := &cgroupfs.Memory{Current: current}
	for f, v := range fields {
		m.Stat.Set(f, v)
	}
	return m
}

func watches(n int) *int { return &n }

func TestVerdict(t *testing.T) {
	agent := Process{PID: 272, Comm: "fluent-bit", RSSAnonBytes: 10 * mib, InotifyWatches: watches(12000)}
	quiet := Process{PID: 9, Comm: "sleep", RSSAnonBytes: 1 * mib, InotifyWatches: watches(25)}
	for _, tc := range []struct {
		name     string
		m        *cgroupfs.Memory
		procs    []Process
		want     []string
		wantNone []string
	}{
		{
			name: "v2 slab dominant with a log agent",
			m: memOf(100*mib, map[cgroupfs.Field]uint64{cgroupfs.Anon: 10 * mib, cgroupfs.File: 2 * mib,
				cgroupfs.InactiveFile: 1 * mib, cgroupfs.SlabReclaimable: 82 * mib, cgroupfs.SlabUnreclaimable: 1 * mib, cgroupfs.Kernel: 84 * mib}),
			procs:    []Process{agent},
			want:     []string{"82% of this cgroup's memory (82M of 100M) is reclaimable slab", "fluent-bit (pid 272) holds 12000 inotify watches", "working set", "memory.reclaim"},
			wantNone: []string{"kmem"},
		},
		{
			name: "v2 slab dominant, few watches: no watcher named",
			m: memOf(100*mib, map[cgroupfs.Field]uint64{cgroupfs.Anon: 10 * mib, cgroupfs.File: 2 * mib,
				cgroupfs.InactiveFile: 1 * mib, cgroupfs.SlabReclaimable: 82 * mib, cgroupfs.SlabUnreclaimable: 1 * mib}),
			procs:    []Process{quiet},
			want:     []string{"reclaimable slab"},
			wantNone: []string{"inotify", "watcher"},
		},
		{
			name: "v2 anon dominant with a watcher: the watcher is still named",
			m: memOf(100*mib, map[cgroupfs.Field]uint64{cgroupfs.Anon: 80 * mib, cgroupfs.File: 10 * mib,
				cgroupfs.SlabReclaimable: 5 * mib, cgroupfs.SlabUnreclaimable: 1 * mib}),
			procs:    []Process{agent},
			want:     []string{"80% of this cgroup's memory (80M) is anonymous", "fluent-bit (pid 272) holds 12000 inotify watches."},
			wantNone: []string{"reclaimable slab"},
		},
		{
			name: "v2 unreclaimable slab large",
			m: memOf(100*mib, map[cgroupfs.Field]uint64{cgroupfs.Anon: 10 * mib, cgroupfs.File: 5 * mib,
				cgroupfs.SlabReclaimable: 40 * mib, cgroupfs.SlabUnreclaimable: 30 * mib}),
			want: []string{"30M is unreclaimable kernel slab"},
		},
		{
			name: "v1 kmem dominant: kernel memory is the answer",
			m: memOf(84*mib, map[cgroupfs.Field]uint64{cgroupfs.Anon: 7 * mib, cgroupfs.File: 0,
				cgroupfs.InactiveFile: 0, cgroupfs.Kernel: 77 * mib}),
			procs:    []Process{agent},
			want:     []string{"92% of this cgroup's memory (77M of 84M) is kernel memory", "cgroup v1 does not split kernel memory", "fluent-bit (pid 272) holds 12000 inotify watches"},
			wantNone: []string{"No single kind dominates", "reclaimable slab (dentries and inodes), not"},
		},
		{
			name: "v1 anon dominant: kmem mentioned as a figure",
			m: memOf(100*mib, map[cgroupfs.Field]uint64{cgroupfs.Anon: 80 * mib, cgroupfs.File: 5 * mib,
				cgroupfs.Kernel: 10 * mib}),
			want:     []string{"anonymous process memory", "10M of kmem includes any slab"},
			wantNone: []string{"is kernel memory"},
		},
		{
			name: "v1 nothing dominates",
			m: memOf(100*mib, map[cgroupfs.Field]uint64{cgroupfs.Anon: 25 * mib, cgroupfs.File: 25 * mib,
				cgroupfs.Kernel: 20 * mib}),
			want: []string{"No single kind dominates", "reclaimable slab unknown", "20M of kmem"},
		},
		{
			name: "empty cgroup",
			m:    memOf(0, map[cgroupfs.Field]uint64{cgroupfs.Anon: 0, cgroupfs.File: 0}),
			want: []string{"This cgroup uses no memory."},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &Explanation{CurrentBytes: tc.m.Current, Processes: tc.procs}
			for _, p := range tc.procs {
				e.RSSBytes += p.RSSAnonBytes
			}
			if inact, ok := tc.m.Stat.Get(cgroupfs.InactiveFile); ok {
				ws := tc.m.Current - inact
				e.WorkingSetBytes = &ws
			}
			got := verdict(e, tc.m)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("verdict lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.wantNone {
				if strings.Contains(got, w) {
					t.Errorf("verdict has %q:\n%s", w, got)
				}
			}
			if strings.Count(got, "inotify watches") > 1 {
				t.Errorf("watcher named twice:\n%s", got)
			}
		})
	}
}
