package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/fixtures"
)

// Every JSON document memrelief prints, on every fixture flavour, starts
// with schema_version 1, holds sizes as numbers (or null, never a string
// such as "max"), names cgroups by their path with a leading slash, and
// says the same on one line (-o json) as indented (-o json-pretty).
func TestJSONDocuments(t *testing.T) {
	for _, flavour := range goldenFlavours {
		dir := fixtures.Dir(flavour)
		for _, gc := range goldenCases(flavour) {
			if !strings.HasSuffix(gc.file, ".json") {
				continue
			}
			t.Run(flavour+"/"+gc.file, func(t *testing.T) {
				var docs [2]any
				for i, format := range []string{"json", "json-pretty"} {
					args := append([]string{gc.args[0], "--root", dir}, gc.args[1:]...)
					for j, a := range args {
						if a == "json-pretty" {
							args[j] = format
						}
					}
					out, errOut, code := runCLI(t, args...)
					if code != 0 {
						t.Fatalf("memrelief %q: exit %d, stderr %s", args, code, errOut)
					}
					if format == "json" && (!strings.HasPrefix(out, `{"schema_version":1,`) || strings.Count(out, "\n") != 1) {
						t.Errorf("-o json: want one line starting with schema_version 1, got %.80q", out)
					}
					if err := json.Unmarshal([]byte(out), &docs[i]); err != nil {
						t.Fatalf("-o %s: %v", format, err)
					}
				}
				if !reflect.DeepEqual(docs[0], docs[1]) {
					t.Error("-o json and -o json-pretty differ")
				}
				checkTypes(t, "", docs[0])
			})
		}
	}
}

// checkTypes walks a decoded document: a field named *_bytes holds a
// number or null (or, for series, a list of them), *_unlimited a
// boolean, and cgroup a path from the root ("/" for the node) wherever it
// names one.
func checkTypes(t *testing.T, path string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			p := path + "." + k
			switch {
			case strings.HasSuffix(k, "_bytes"):
				if !isNumberOrNull(x) {
					if l, ok := x.([]any); !ok || !all(l, isNumberOrNull) {
						t.Errorf("%s = %#v: want a number of bytes or null", p, x)
					}
				}
			case strings.HasSuffix(k, "_unlimited"):
				if _, ok := x.(bool); !ok {
					t.Errorf("%s = %#v: want a boolean", p, x)
				}
			case k == "cgroup" || k == "pod_cgroup":
				// detect's "cgroup" is the section on the hierarchy.
				if _, section := x.(map[string]any); section {
					break
				}
				if s, ok := x.(string); !ok || !strings.HasPrefix(s, "/") || len(s) > 1 && strings.HasSuffix(s, "/") {
					t.Errorf("%s = %#v: want the cgroup's path with a leading slash", p, x)
				}
			}
			checkTypes(t, p, x)
		}
	case []any:
		for _, x := range v {
			checkTypes(t, path+"[]", x)
		}
	}
}

func isNumberOrNull(v any) bool {
	_, ok := v.(float64)
	return ok || v == nil
}

func all(l []any, f func(any) bool) bool {
	for _, v := range l {
		if !f(v) {
			return false
		}
	}
	return true
}
