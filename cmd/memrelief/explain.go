package main

import (
	"context"
	"fmt"
)

func runExplain(_ context.Context, c *cli, _ []string) int {
	fmt.Fprintln(c.stderr, "memrelief explain: not built yet")
	return 1
}
