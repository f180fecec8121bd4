package cgroupfs

import (
	"strings"
	"testing"
)

func TestParseStatV2(t *testing.T) {
	var s Stat
	err := ParseStatV2([]byte("file 20\nanon 10\nslab_reclaimable 5\nworkingset_refault_anon 3\n"), &s)
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[Field]uint64{Anon: 10, File: 20, SlabReclaimable: 5} {
		if got, ok := s.Get(f); !ok || got != want {
			t.Errorf("%s = %d, %v; want %d", f, got, ok, want)
		}
	}
	if _, ok := s.Get(Sock); ok {
		t.Error("sock reported though absent")
	}
}

func TestParseStatErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no space", "anon10\n", `line 1: "anon10" is not "key value"`},
		{"bad value", "anon 10\nfile x\n", "line 2: key file"},
		{"negative", "anon -1\nfile 1\n", "line 1: key anon"},
		{"duplicate", "anon 1\nfile 1\nanon 2\n", "line 3: key anon given twice"},
		{"missing file", "anon 1\n", "no file key"},
		{"v1 file", "cache 1\nrss 2\ntotal_cache 3\ntotal_rss 4\n", "no anon key"},
		{"empty", "", "no anon key"},
	}
	for _, tt := range tests {
		var s Stat
		err := ParseStatV2([]byte(tt.in), &s)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want %q", tt.name, err, tt.want)
		}
		if s != (Stat{}) {
			t.Errorf("%s: partial result kept after error: %+v", tt.name, s)
		}
	}
}

func TestParseStatV1UsesHierarchicalTotals(t *testing.T) {
	var s Stat
	in := "cache 1\nrss 2\ntotal_cache 300\ntotal_rss 400\ntotal_inactive_file 50\nhierarchical_memory_limit 9223372036854771712\n"
	if err := ParseStatV1([]byte(in), &s); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Get(Anon); a != 400 {
		t.Errorf("anon = %d, want total_rss 400", a)
	}
	if f, _ := s.Get(File); f != 300 {
		t.Errorf("file = %d, want total_cache 300", f)
	}
	if i, _ := s.Get(InactiveFile); i != 50 {
		t.Errorf("inactive_file = %d", i)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("anon 10\nfile 20\nslab_reclaimable 5\n"), false)
	f.Add([]byte("total_rss 1\ntotal_cache 2\n"), true)
	f.Add([]byte("anon 1\nanon 2\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, v1 bool) {
		var s Stat
		parse := ParseStatV2
		if v1 {
			parse = ParseStatV1
		}
		if err := parse(data, &s); err != nil {
			if s != (Stat{}) {
				t.Fatalf("partial result with error %v", err)
			}
			return
		}
		if _, ok := s.Get(Anon); !ok {
			t.Fatal("accepted a memory.stat without anon")
		}
	})
}

func BenchmarkParseStatV2(b *testing.B) {
	data := []byte(strings.Repeat("pgscan 1\n", 20) + "anon 10\nfile 20\nslab_reclaimable 5\nslab_unreclaimable 6\nkernel 7\n")
	var s Stat
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseStatV2(data, &s); err != nil {
			b.Fatal(err)
		}
	}
}
