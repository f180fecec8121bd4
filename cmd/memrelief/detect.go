package main

import (
	"context"
	"fmt"
)

func runDetect(_ context.Context, c *cli, _ []string) int {
	fmt.Fprintln(c.stderr, "memrelief detect: not built yet")
	return 1
}
