package main

import (
	"context"
	"fmt"
	"runtime"
)

func runVersion(_ context.Context, c *cli, args []string) int {
	fs := newFlagSet("version", c.stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fmt.Fprintf(c.stdout, "memrelief %s (commit %s, %s %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}
