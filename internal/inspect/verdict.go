package inspect

import (
	"fmt"
	"strings"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/human"
)

// Thresholds of the verdict. A share of memory.current above which a
// component is what the cgroup's memory "is".
const (
	slabDominantShare = 0.30
	anonDominantShare = 0.50
	fileDominantShare = 0.50
	kernelLargeShare  = 0.20
	// A process holding this many inotify watches is watching a tree, as
	// log agents do over /var/log/pods.
	manyInotifyWatches = 1000
)

// verdict says in plain words where the memory went, most important first.
func verdict(e *Explanation, m *cgroupfs.Memory) string {
	if e.CurrentBytes == 0 {
		return "This cgroup uses no memory."
	}
	var says []string
	cur := e.CurrentBytes
	sr, hasSlab := m.Stat.Get(cgroupfs.SlabReclaimable)
	su, _ := m.Stat.Get(cgroupfs.SlabUnreclaimable)
	anon, _ := m.Stat.Get(cgroupfs.Anon)
	file, _ := m.Stat.Get(cgroupfs.File)
	inact, _ := m.Stat.Get(cgroupfs.InactiveFile)

	kmem, hasKmem := m.Stat.Get(cgroupfs.Kernel)
	// On v1 there is no slab figure, only kmem (slab, stacks, page tables
	// together); when it dominates, that is the answer, not "nothing does".
	kmemDominant := !hasSlab && hasKmem && share(kmem, cur) >= slabDominantShare

	watcher := topWatcher(e.Processes)
	switch {
	case hasSlab && share(sr, cur) >= slabDominantShare:
		s := fmt.Sprintf("%s of this cgroup's memory (%s of %s) is reclaimable slab (dentries and inodes), not process memory",
			human.Percent(sr, cur), human.Bytes(sr), human.Bytes(cur))
		if e.RSSBytes > 0 {
			s += fmt.Sprintf("; its processes' RSS is only %s", human.Bytes(e.RSSBytes))
		}
		says = append(says, s+".")
		says = append(says, watcherSays(watcher, true)...)
		watcher = nil
		if e.WorkingSetBytes != nil {
			says = append(says, fmt.Sprintf("kubelet's working set (usage - inactive_file) is %s and counts this slab as used, so dashboards show a leak that is not one.",
				human.Bytes(*e.WorkingSetBytes)))
		}
		says = append(says, "The kernel frees it under pressure; memory.reclaim or a higher vm.vfs_cache_pressure frees it sooner.")
	case kmemDominant:
		s := fmt.Sprintf("%s of this cgroup's memory (%s of %s) is kernel memory, not process memory",
			human.Percent(kmem, cur), human.Bytes(kmem), human.Bytes(cur))
		if e.RSSBytes > 0 {
			s += fmt.Sprintf("; its processes' RSS is only %s", human.Bytes(e.RSSBytes))
		}
		says = append(says, s+". cgroup v1 does not split kernel memory (kmem holds slab, stacks and page tables together); dentries and inodes are its usual bulk, and node-wide reclaimable slab is SReclaimable in /proc/meminfo.")
		says = append(says, watcherSays(watcher, true)...)
		watcher = nil
		if e.WorkingSetBytes != nil {
			says = append(says, fmt.Sprintf("kubelet's working set (usage - inactive_file) is %s and counts this kernel memory as used.",
				human.Bytes(*e.WorkingSetBytes)))
		}
	case share(anon, cur) >= anonDominantShare:
		says = append(says, fmt.Sprintf("%s of this cgroup's memory (%s) is anonymous process memory (heaps, stacks): if it keeps growing, a process leaks; the process list shows which.",
			human.Percent(anon, cur), human.Bytes(anon)))
	case share(file, cur) >= fileDominantShare:
		says = append(says, fmt.Sprintf("%s of this cgroup's memory (%s) is page cache, %s of it inactive: the kernel drops it when memory is needed.",
			human.Percent(file, cur), human.Bytes(file), human.Bytes(inact)))
	default:
		says = append(says, fmt.Sprintf("No single kind dominates: anon %s, page cache %s, reclaimable slab %s.",
			human.Bytes(anon), human.Bytes(file), orDash(sr, hasSlab)))
	}
	if hasSlab && share(su, cur) >= kernelLargeShare {
		says = append(says, fmt.Sprintf("%s is unreclaimable kernel slab, which memrelief cannot free.", human.Bytes(su)))
	}
	if !hasSlab && !kmemDominant && hasKmem {
		says = append(says, fmt.Sprintf("cgroup v1 does not split kernel memory: %s of kmem includes any slab (node-wide slab is in /proc/meminfo SReclaimable).", human.Bytes(kmem)))
	}
	// A watcher not yet named (kernel memory does not dominate) is still
	// worth a sentence: its watches pin inodes wherever the memory went.
	says = append(says, watcherSays(watcher, false)...)
	return strings.Join(says, " ")
}

// watcherSays names the process holding the most inotify watches, if any
// holds many; long explains why that matters where slab dominates.
func watcherSays(w *Process, long bool) []string {
	if w == nil {
		return nil
	}
	if long {
		return []string{fmt.Sprintf("A file watcher lives here: %s (pid %d) holds %d inotify watches, the pattern of a log agent walking a deep tree such as /var/log/pods.",
			w.Comm, w.PID, *w.InotifyWatches)}
	}
	return []string{fmt.Sprintf("%s (pid %d) holds %d inotify watches.", w.Comm, w.PID, *w.InotifyWatches)}
}

func orDash(v uint64, ok bool) string {
	if !ok {
		return "unknown"
	}
	return human.Bytes(v)
}

func topWatcher(ps []Process) *Process {
	var top *Process
	for i := range ps {
		w := ps[i].InotifyWatches
		if w != nil && *w >= manyInotifyWatches && (top == nil || *w > *top.InotifyWatches) {
			top = &ps[i]
		}
	}
	return top
}
