package main

import (
	"context"
	"fmt"

	"github.com/memrelief/memrelief/internal/detect"
	"github.com/memrelief/memrelief/internal/systemd"
)

func runDetect(ctx context.Context, c *cli, args []string) int {
	fs := newFlagSet("detect", c.stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	h := hostFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "memrelief detect: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	opts := h.detectOptions()
	r := detect.Run(ctx, opts)
	return printResult(c, "detect", *asJSON, r, r.WriteText)
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
