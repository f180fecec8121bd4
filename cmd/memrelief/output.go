package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// schemaVersion is the schema_version field at the top of every JSON
// document memrelief prints (detect, status, explain). It is raised when a
// field is removed, renamed, or changes type or meaning; adding a field
// keeps it, so readers ignore fields they do not know.
const schemaVersion = 1

// printResult writes v in format (see outputFlags): JSON on one line,
// indented JSON, or through its text form for "table". It returns the exit
// code; every inspecting command ends this way.
func printResult(c *cli, name, format string, v any, text func(io.Writer) error) int {
	var err error
	switch format {
	case "json", "json-pretty":
		err = writeJSON(c.stdout, v, format == "json-pretty")
	default:
		err = text(c.stdout)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "memrelief %s: %v\n", name, err)
		return exitFailure
	}
	return exitOK
}

// writeJSON writes v, which must encode as a JSON object, with
// schema_version as its first field, then a newline; indented when pretty.
func writeJSON(w io.Writer, v any, pretty bool) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	if len(body) < 2 || body[0] != '{' {
		return fmt.Errorf("encode JSON: %T is not a JSON object", v)
	}
	doc := []byte(`{"schema_version":` + strconv.Itoa(schemaVersion))
	if rest := body[1:]; rest[0] != '}' {
		doc = append(doc, ',')
		doc = append(doc, rest...)
	} else {
		doc = append(doc, '}')
	}
	if pretty {
		var b bytes.Buffer
		if err := json.Indent(&b, doc, "", "  "); err != nil {
			return fmt.Errorf("indent JSON: %w", err)
		}
		doc = b.Bytes()
	}
	doc = append(doc, '\n')
	_, err = w.Write(doc)
	return err
}
