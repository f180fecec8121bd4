package main

import (
	"encoding/json"
	"fmt"
	"io"
)

// printResult writes v in format (see outputFlags): JSON on one line,
// indented JSON, or through its text form for "table". It returns the exit
// code; every inspecting command ends this way.
func printResult(c *cli, name, format string, v any, text func(io.Writer) error) int {
	var err error
	switch format {
	case "json", "json-pretty":
		enc := json.NewEncoder(c.stdout)
		if format == "json-pretty" {
			enc.SetIndent("", "  ")
		}
		err = enc.Encode(v)
	default:
		err = text(c.stdout)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief %s: %v\n", name, err)
		return exitFailure
	}
	return exitOK
}
