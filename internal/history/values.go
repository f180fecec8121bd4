package history

import (
	"fmt"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/procinfo"
)

// Component names one figure a Series follows.
type Component uint8

// Components, in bytes. Current is the whole (memory.current, or for the
// node MemTotal-MemAvailable); the others are the parts whose growth means
// different things (see Classify).
const (
	Current           Component = iota
	Anon                        // heaps and stacks: a growing process
	File                        // page cache: usually harmless
	SlabReclaimable             // dentries and inodes: usually a file-watching agent
	SlabUnreclaimable           // kernel objects memrelief cannot free
	OtherKernel                 // kernel stacks, page tables, percpu, vmalloc
	NumComponents
)

var componentNames = [NumComponents]string{"current", "anon", "file", "slab_reclaimable", "slab_unreclaimable", "other_kernel"}

func (c Component) String() string {
	if c < NumComponents {
		return componentNames[c]
	}
	return fmt.Sprintf("Component(%d)", uint8(c))
}

// Values is one sample of every component. A figure the host did not give
// is absent, never zero: Get says which.
type Values struct {
	bytes [NumComponents]uint64
	known uint8
}

// Get returns component c and whether it is known.
func (v *Values) Get(c Component) (uint64, bool) {
	if c >= NumComponents || v.known&(1<<c) == 0 {
		return 0, false
	}
	return v.bytes[c], true
}

// Set records component c.
func (v *Values) Set(c Component, b uint64) {
	if c >= NumComponents {
		return
	}
	v.bytes[c] = b
	v.known |= 1 << c
}

// FromMemory takes a cgroup's figures. OtherKernel is the kernel figure
// minus slab where the kernel gives one (v2 >= 5.18; on v1 kmem usage, which
// then includes the slab v1 does not split out), else the sum of the kernel
// parts it gives.
func FromMemory(m *cgroupfs.Memory) Values {
	var v Values
	v.Set(Current, m.Current)
	copyField := func(c Component, f cgroupfs.Field) {
		if b, ok := m.Stat.Get(f); ok {
			v.Set(c, b)
		}
	}
	copyField(Anon, cgroupfs.Anon)
	copyField(File, cgroupfs.File)
	copyField(SlabReclaimable, cgroupfs.SlabReclaimable)
	copyField(SlabUnreclaimable, cgroupfs.SlabUnreclaimable)
	if k, ok := m.Stat.Get(cgroupfs.Kernel); ok {
		sr, _ := m.Stat.Get(cgroupfs.SlabReclaimable)
		su, _ := m.Stat.Get(cgroupfs.SlabUnreclaimable)
		v.Set(OtherKernel, subSat(k, sr+su))
		return v
	}
	var sum uint64
	var any bool
	for _, f := range []cgroupfs.Field{cgroupfs.KernelStack, cgroupfs.PageTables, cgroupfs.Percpu, cgroupfs.Vmalloc} {
		if b, ok := m.Stat.Get(f); ok {
			sum += b
			any = true
		}
	}
	if any {
		v.Set(OtherKernel, sum)
	}
	return v
}

// FromMeminfo takes the node's figures: Current is MemTotal-MemAvailable,
// so the time until it reaches MemTotal is the time until MemAvailable
// reaches zero.
func FromMeminfo(mi *procinfo.Meminfo) Values {
	var v Values
	v.Set(Current, subSat(mi.MemTotal, mi.MemAvailable))
	v.Set(Anon, mi.AnonPages)
	v.Set(File, mi.Cached+mi.Buffers)
	v.Set(SlabReclaimable, mi.SReclaimable)
	v.Set(SlabUnreclaimable, mi.SUnreclaim)
	v.Set(OtherKernel, mi.KernelStack+mi.PageTables)
	return v
}

func subSat(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}
