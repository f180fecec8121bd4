package main

import (
	"context"
	"fmt"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/inspect"
)

func runExplain(_ context.Context, c *cli, args []string) int {
	fs := newFlagSet("explain", c.stderr)
	asJSON := fs.Bool("json", false, "print the explanation as JSON, sizes in bytes")
	h := hostFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(c.stderr, "usage: memrelief explain [--json] UNIT|PATH|NAMESPACE/POD")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	roots := h.roots()
	layout, err := cgroupfs.DetectLayout(roots.Cgroup, h.statFS())
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief explain: %v\n", err)
		return 1
	}
	e, err := inspect.Explain(inspect.ExplainOptions{Roots: roots, Layout: layout, Target: fs.Arg(0), Pods: podResolver(roots)})
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief explain: %v\n", err)
		return 1
	}
	return printResult(c, "explain", *asJSON, e, e.WriteText)
}
