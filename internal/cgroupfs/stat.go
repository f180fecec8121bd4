package cgroupfs

import (
	"bytes"
	"fmt"
	"strconv"
)

// Field names one figure of a cgroup's memory breakdown. The set is the same
// for v1 and v2 hosts; which fields a host can fill differs, and Stat records
// which ones it did.
type Field uint8

// Fields of Stat, in bytes, hierarchical (a cgroup's figure includes its
// descendants).
const (
	Anon              Field = iota // anonymous memory: heaps, stacks (v1: total_rss)
	File                           // page cache including shmem (v1: total_cache)
	ActiveFile                     // page cache recently used
	InactiveFile                   // page cache not recently used: first to go
	Shmem                          // tmpfs and shared anonymous memory
	FileMapped                     // page cache mapped into processes
	SlabReclaimable                // dentries, inodes and other reclaimable slab
	SlabUnreclaimable              // slab the kernel cannot free on demand
	KernelStack                    // kernel stacks of the cgroup's tasks
	PageTables                     // page tables
	Percpu                         // per-cpu kernel allocations
	Sock                           // network buffers
	Vmalloc                        // vmalloc'd kernel memory
	Kernel                         // all kernel memory (v2 >= 5.18 "kernel"; v1 memory.kmem.usage_in_bytes)
	Unevictable                    // mlocked and otherwise unevictable pages
	numFields
)

var fieldNames = [numFields]string{
	"anon", "file", "active_file", "inactive_file", "shmem", "file_mapped",
	"slab_reclaimable", "slab_unreclaimable", "kernel_stack", "pagetables",
	"percpu", "sock", "vmalloc", "kernel", "unevictable",
}

func (f Field) String() string {
	if f < numFields {
		return fieldNames[f]
	}
	return fmt.Sprintf("Field(%d)", uint8(f))
}

// Fields lists every Field in a stable order.
func Fields() []Field {
	fs := make([]Field, numFields)
	for i := range fs {
		fs[i] = Field(i)
	}
	return fs
}

// Stat is a parsed memory.stat. Values a host does not report are absent,
// never zero: Get says which.
type Stat struct {
	v     [numFields]uint64
	known uint32
}

// Get returns the value of f and whether the host reported it.
func (s *Stat) Get(f Field) (uint64, bool) {
	if f >= numFields || s.known&(1<<f) == 0 {
		return 0, false
	}
	return s.v[f], true
}

// Set records a value, for sources outside memory.stat (v1 kmem usage) and
// for tests.
func (s *Stat) Set(f Field, v uint64) {
	s.v[f] = v
	s.known |= 1 << f
}

// Reset forgets every value so a Stat can be reused for the next sample.
func (s *Stat) Reset() { *s = Stat{} }

// Keys of v2 memory.stat that fill a Field. Lookups go by name: the kernel
// does not promise an order, and new kernels add keys.
var v2Keys = map[string]Field{
	"anon": Anon, "file": File, "active_file": ActiveFile, "inactive_file": InactiveFile,
	"shmem": Shmem, "file_mapped": FileMapped, "slab_reclaimable": SlabReclaimable,
	"slab_unreclaimable": SlabUnreclaimable, "kernel_stack": KernelStack,
	"pagetables": PageTables, "percpu": Percpu, "sock": Sock, "vmalloc": Vmalloc,
	"kernel": Kernel, "unevictable": Unevictable,
}

// v1 memory.stat: the total_ keys are the hierarchical ones, which match v2's
// meaning. v1 has no slab figures at all.
var v1Keys = map[string]Field{
	"total_rss": Anon, "total_cache": File, "total_active_file": ActiveFile,
	"total_inactive_file": InactiveFile, "total_shmem": Shmem,
	"total_mapped_file": FileMapped, "total_unevictable": Unevictable,
}

// ParseStatV2 parses a cgroup v2 memory.stat into s (which it resets first).
// It fails on a line that is not "key value", on a value that is not a
// number, and when the anon or file key is missing, since then the file is
// not a v2 memory.stat.
func ParseStatV2(data []byte, s *Stat) error {
	return parseStat(data, s, v2Keys, "anon", "file")
}

// ParseStatV1 parses a cgroup v1 memory.stat into s (which it resets first),
// taking the hierarchical total_* figures. It fails like ParseStatV2, with
// total_rss and total_cache as the required keys.
func ParseStatV1(data []byte, s *Stat) error {
	return parseStat(data, s, v1Keys, "total_rss", "total_cache")
}

func parseStat(data []byte, s *Stat, keys map[string]Field, required ...string) error {
	s.Reset()
	if err := fillStat(data, s, keys, required); err != nil {
		s.Reset()
		return err
	}
	return nil
}

func fillStat(data []byte, s *Stat, keys map[string]Field, required []string) error {
	var seen uint32
	lineNo := 0
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		lineNo++
		if len(line) == 0 {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte{' '})
		if !ok || len(k) == 0 {
			return fmt.Errorf("line %d: %q is not \"key value\"", lineNo, line)
		}
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return fmt.Errorf("line %d: key %s: %w", lineNo, k, err)
		}
		f, ok := keys[string(k)] // no allocation: the compiler special-cases map[string(b)]
		if !ok {
			continue
		}
		if seen&(1<<f) != 0 {
			return fmt.Errorf("line %d: key %s given twice", lineNo, k)
		}
		seen |= 1 << f
		s.Set(f, n)
	}
	for _, r := range required {
		if _, ok := s.Get(keys[r]); !ok {
			return fmt.Errorf("no %s key: not a memory.stat of this cgroup version", r)
		}
	}
	return nil
}
