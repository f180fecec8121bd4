package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/inspect"
)

func runStatus(_ context.Context, c *cli, args []string) int {
	fs := newFlagSet("status", c.stderr)
	asJSON := fs.Bool("json", false, "print rows as JSON, sizes in bytes")
	depth := fs.Int("depth", 1, "levels of cgroups to show below the root (or below each UNIT|PATH)")
	sortKey := fs.String("sort", "", "sort rows by one of: "+strings.Join(inspect.SortKeys, ", "))
	h := hostFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(c.stderr, "usage: memrelief status [--json] [--depth N] [--sort KEY] [UNIT|PATH...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *depth < 1 {
		fmt.Fprintln(c.stderr, "memrelief status: --depth must be at least 1")
		return 2
	}
	roots := h.roots()
	layout, err := cgroupfs.DetectLayout(roots.Cgroup, h.statFS())
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief status: %v\n", err)
		return 1
	}
	st, err := inspect.BuildStatus(inspect.StatusOptions{
		Roots: roots, Layout: layout, Targets: fs.Args(), Depth: *depth, Sort: *sortKey,
	})
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief status: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			fmt.Fprintf(c.stderr, "memrelief status: %v\n", err)
			return 1
		}
		return 0
	}
	if err := st.WriteText(c.stdout, *sortKey != ""); err != nil {
		fmt.Fprintf(c.stderr, "memrelief status: %v\n", err)
		return 1
	}
	return 0
}
