package main

import (
	"context"
	"fmt"
	"runtime"
)

func runVersion(_ context.Context, c *cli, args []string) int {
	fs := newFlagSet("version", "memrelief version\n       memrelief --version")
	if code, ok := fs.parse(c, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return fs.usageError(c, "unexpected argument %q", fs.Arg(0))
	}
	fmt.Fprintf(c.stdout, "memrelief %s (commit %s, %s %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}
