package main

import (
	"context"

	"github.com/memrelief/memrelief/internal/detect"
	"github.com/memrelief/memrelief/internal/inspect"
	"github.com/memrelief/memrelief/internal/systemd"
)

func runDetect(ctx context.Context, c *cli, args []string) int {
	fs := newFlagSet("detect", "memrelief detect [-o table|json|json-pretty]")
	format := outputFlags(fs)
	h := hostFlags(fs)
	if code, ok := fs.parse(c, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return fs.usageError(c, "unexpected argument %q", fs.Arg(0))
	}
	opts := h.detectOptions()
	r := detect.Run(ctx, opts)
	// Cgroups are named as everywhere else: "/" and "/kubepods.slice".
	for i := range r.Cgroup.Delegation {
		r.Cgroup.Delegation[i].Cgroup = inspect.CgroupID(r.Cgroup.Delegation[i].Cgroup)
	}
	return printResult(c, "detect", *format, r, r.WriteText)
}

// detectOptions turns the host flags into detect options: probes that write
// to the kernel and D-Bus only on the live host.
func (h *host) detectOptions() detect.Options {
	o := detect.Options{Roots: h.roots(), StatFS: h.statFS(), Live: h.live()}
	if h.live() && !*h.noDBus {
		o.Manager = systemd.SystemBus{}
	}
	return o
}
