package main

import (
	"encoding/json"
	"fmt"
	"io"
)

// printResult writes v as indented JSON or through its text form, and
// returns the exit code; every inspecting command ends this way.
func printResult(c *cli, name string, asJSON bool, v any, text func(io.Writer) error) int {
	var err error
	if asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(v)
	} else {
		err = text(c.stdout)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief %s: %v\n", name, err)
		return 1
	}
	return 0
}
