package main

import (
	"context"
	"fmt"
)

func runStatus(_ context.Context, c *cli, _ []string) int {
	fmt.Fprintln(c.stderr, "memrelief status: not built yet")
	return 1
}
