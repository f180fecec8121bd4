package policy

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// actionTypeConsts reads this package's source for every constant of type
// ActionType, so a type added to policy.go is found here without anyone
// remembering to list it.
func actionTypeConsts(t *testing.T) map[string]ActionType {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]ActionType{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "ActionType" {
					continue
				}
				for i, name := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok {
						t.Fatalf("%s: %s is not a string literal", fset.Position(name.Pos()), name.Name)
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out[name.Name] = ActionType(v)
				}
			}
		}
	}
	return out
}

func TestEveryActionTypeHasAValidator(t *testing.T) {
	consts := actionTypeConsts(t)
	if len(consts) < 6 {
		t.Fatalf("found %d ActionType constants (%v); the source scan is broken", len(consts), consts)
	}
	validators := actionValidators()
	for name, at := range consts {
		if _, ok := validators[at]; !ok {
			t.Errorf("%s (%q) has no validator in actionValidators", name, at)
		}
		if _, ok := actionKeys(at); !ok {
			t.Errorf("%s (%q) has no keys in actionKeys: decoding refuses it", name, at)
		}
		if !strings.Contains(actionTypes, string(at)) {
			t.Errorf("%s (%q) is missing from the list errors print (actionTypes)", name, at)
		}
	}
	if len(validators) != len(consts) {
		t.Errorf("%d validators for %d action types", len(validators), len(consts))
	}
}

func TestValidateActionRefusesUnknownType(t *testing.T) {
	l := &Level{Cooldown: DefaultCooldown}
	ps := validateAction(l, "level[0].action[0]", &Action{Type: "kill"}, false)
	want := `unknown action "kill" (want event, reclaim, vfs_cache_pressure, unit_property, exec or drop_caches)`
	if len(ps) != 1 || ps[0].key != "level[0].action[0].type" || ps[0].msg != want {
		t.Errorf("validateAction of an unknown type: %+v", ps)
	}
}

// The floors and refusals of unit_property leave every sane setting alone.
func TestUnitPropertyAccepted(t *testing.T) {
	for _, pv := range [][2]string{
		{"MemoryHigh", "16M"}, {"MemoryHigh", "1%"}, {"MemoryHigh", "90%"}, {"MemoryHigh", "infinity"},
		{"MemoryLow", "1B"}, {"MemoryLow", "20%"}, {"MemorySwapMax", "0"},
	} {
		doc := ruleHead + "[[rule.level.action]]\ntype = \"unit_property\"\nproperty = \"" + pv[0] + "\"\nvalue = \"" + pv[1] + "\"\n"
		if _, err := Parse("p.toml", []byte(doc)); err != nil {
			t.Errorf("%s = %s: %v", pv[0], pv[1], err)
		}
	}
}

// TestOwnDirs: the directories memrelief writes to (state_dir) and prunes
// (history.dir) must be its own, below the places for runtime state,
// state and caches.
func TestOwnDirs(t *testing.T) {
	for _, tt := range []struct {
		key, dir string
		ok       bool
	}{
		{"daemon.state_dir", "/run/memrelief", true},
		{"daemon.state_dir", "/var/run/memrelief", true},
		{"daemon.state_dir", "/", false},
		{"daemon.state_dir", "/run", false},
		{"daemon.state_dir", "/run/../etc", false},
		{"daemon.state_dir", "/run/memrelief/", false},
		{"daemon.state_dir", "/var/lib/memrelief", false}, // not volatile
		{"daemon.state_dir", "/run/mem\nrelief", false},
		{"history.dir", "/var/lib/memrelief/history", true},
		{"history.dir", "/var/cache/memrelief", true},
		{"history.dir", "/run/memrelief/history", true},
		{"history.dir", "/etc", false},
		{"history.dir", "/var/lib", false},
		{"history.dir", "/var/lib/../../etc", false},
		{"history.dir", "/home/me/history", false},
		{"history.dir", "/usr/lib/memrelief", false},
		{"history.dir", "/var/lib//memrelief", false},
	} {
		sect, key, _ := strings.Cut(tt.key, ".")
		doc := fmt.Sprintf("[%s]\n%s = %q\n", sect, key, tt.dir)
		_, err := Parse("p.toml", []byte(doc))
		if tt.ok != (err == nil) {
			t.Errorf("%s = %q: error %v, want ok %v", tt.key, tt.dir, err, tt.ok)
			continue
		}
		if err != nil && !strings.HasPrefix(err.Error(), "p.toml:2:1: "+tt.key+": ") {
			t.Errorf("%s = %q: error %q not placed at the key", tt.key, tt.dir, err)
		}
	}
}
