package metrics

import (
	"runtime"

	"github.com/prometheus/procfs"
)

// runtimeDescs are the go_* and process_* series served over HTTP (not in
// the textfile, where node_exporter has its own), named as client_golang's
// collectors name them so dashboards made for any Go exporter read them.
type runtimeDescs struct {
	goInfo, goroutines, threads, heapAlloc, heapInuse, heapObjects, sys, nextGC, gcs *desc
	cpu, rss, vsize, start, fds, maxFDs                                              *desc
}

func newRuntimeDescs() runtimeDescs {
	g := func(name, help string) *desc { return newDesc(typeGauge, name, help, nil) }
	return runtimeDescs{
		goInfo:      newDesc(typeGauge, "go_info", "Information about the Go environment.", []string{"version"}),
		goroutines:  g("go_goroutines", "Number of goroutines that currently exist."),
		threads:     g("go_threads", "Number of OS threads the process has."),
		heapAlloc:   g("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use."),
		heapInuse:   g("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use."),
		heapObjects: g("go_memstats_heap_objects", "Number of currently allocated objects."),
		sys:         g("go_memstats_sys_bytes", "Number of bytes obtained from system."),
		nextGC:      g("go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place."),
		gcs:         newDesc(typeCounter, "go_gc_cycles_total", "Garbage collection cycles completed.", nil),
		cpu:         newDesc(typeCounter, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", nil),
		rss:         g("process_resident_memory_bytes", "Resident memory size in bytes."),
		vsize:       g("process_virtual_memory_bytes", "Virtual memory size in bytes."),
		start:       g("process_start_time_seconds", "Start time of the process since unix epoch in seconds."),
		fds:         g("process_open_fds", "Number of open file descriptors."),
		maxFDs:      g("process_max_fds", "Maximum number of open file descriptors."),
	}
}

// collectRuntime adds the Go runtime's figures and, when Options.Proc is a
// procfs with this process in it, the process's.
func (m *Metrics) collectRuntime(p *page) {
	d := m.rd
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.add(d.goInfo, 1, runtime.Version())
	p.add(d.goroutines, float64(runtime.NumGoroutine()))
	p.add(d.heapAlloc, float64(ms.HeapAlloc))
	p.add(d.heapInuse, float64(ms.HeapInuse))
	p.add(d.heapObjects, float64(ms.HeapObjects))
	p.add(d.sys, float64(ms.Sys))
	p.add(d.nextGC, float64(ms.NextGC))
	p.add(d.gcs, float64(ms.NumGC))
	if m.opts.Proc == "" {
		return
	}
	fs, err := procfs.NewFS(m.opts.Proc)
	if err != nil {
		return
	}
	self, err := fs.Self()
	if err != nil {
		return
	}
	if st, err := self.Stat(); err == nil {
		p.add(d.threads, float64(st.NumThreads))
		p.add(d.cpu, st.CPUTime())
		p.add(d.rss, float64(st.ResidentMemory()))
		p.add(d.vsize, float64(st.VirtualMemory()))
		if t, err := st.StartTime(); err == nil {
			p.add(d.start, t)
		}
	}
	if n, err := self.FileDescriptorsLen(); err == nil {
		p.add(d.fds, float64(n))
	}
	if l, err := self.Limits(); err == nil {
		p.add(d.maxFDs, float64(l.OpenFiles))
	}
}
