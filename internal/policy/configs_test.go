package policy

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/memrelief/memrelief/configs"
)

// TestConfigsValidate loads every policy under configs/, from disk (so a
// file that is not embedded is still checked) and embedded.
func TestConfigsValidate(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.toml")
	if err != nil || len(files) < 4 {
		t.Fatalf("configs/*.toml: %v, %d files", err, len(files))
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s:\n%v", f, err)
		}
	}
	embedded := configs.Files()
	if len(embedded) != len(files) {
		t.Errorf("%d files embedded, %d on disk", len(embedded), len(files))
	}
	for name, data := range embedded {
		if _, err := Parse(name, data); err != nil {
			t.Errorf("embedded %s:\n%v", name, err)
		}
	}
	if _, err := Default(); err != nil {
		t.Errorf("Default: %v", err)
	}
}

// TestDefaultIsSafe pins what the issue promises of the default policy.
func TestDefaultIsSafe(t *testing.T) {
	p, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if p.Node == nil || p.Daemon.DryRun {
		t.Fatalf("default must watch the node and act: %+v", p)
	}
	if r, ok := p.RuleFor("system.slice", "/system.slice"); !ok || r.Name != "slices" {
		t.Errorf("system.slice -> %v", r)
	}
	if r, ok := p.RuleFor("kubepods-burstable-pod1.slice", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice"); !ok || r.Name != "pods" {
		t.Errorf("burstable pod -> %v", r)
	}
	if r, ok := p.RuleFor("", "/kubepods/besteffort/pod1"); !ok || r.Name != "pods" {
		t.Errorf("cgroupfs pod -> %v", r)
	}
	if _, ok := p.RuleFor("memrelief.service", "/system.slice/memrelief.service"); ok {
		t.Error("memrelief would watch itself")
	}
	for _, r := range append([]Rule{*p.Node}, p.Rules...) {
		for _, l := range r.Levels {
			for _, a := range l.Actions {
				switch a.Type {
				case ActEvent:
				case ActReclaim:
					if a.Reclaim.Batch > 32<<20 || a.Reclaim.BudgetPerMinute > 512<<20 {
						t.Errorf("%s/%s: reclaim not gentle: %+v", r.Name, l.Name, a.Reclaim)
					}
				case ActVFSCachePressure:
					if a.VFSCachePressure.Target > 200 {
						t.Errorf("%s/%s: vfs_cache_pressure %d", r.Name, l.Name, a.VFSCachePressure.Target)
					}
				default:
					t.Errorf("%s/%s: default policy uses %s", r.Name, l.Name, a.Type)
				}
			}
		}
	}
}

// TestEveryDefaultValueHasAComment holds the default policy to its promise
// that each value says why.
func TestEveryDefaultValueHasAComment(t *testing.T) {
	data, err := os.ReadFile("../../configs/default.toml")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range bytes.Split(data, []byte("\n")) {
		l := bytes.TrimSpace(line)
		if len(l) == 0 || l[0] == '#' || l[0] == '[' || bytes.HasPrefix(l, []byte("name =")) {
			continue
		}
		if !bytes.Contains(l, []byte("#")) {
			t.Errorf("default.toml:%d has no comment: %s", i+1, l)
		}
	}
}

// TestPrintRoundTrip: printing a policy and parsing the output gives the
// same policy, for every shipped policy.
func TestPrintRoundTrip(t *testing.T) {
	for name, data := range configs.Files() {
		p, err := Parse(name, data)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := Encode(&out, p); err != nil {
			t.Fatal(err)
		}
		q, err := Parse("printed", out.Bytes())
		if err != nil {
			t.Fatalf("%s: printed policy does not parse:\n%v\n%s", name, err, out.String())
		}
		if !reflect.DeepEqual(stripOrigins(p), stripOrigins(q)) {
			t.Errorf("%s: round trip changed the policy\nprinted:\n%s", name, out.String())
		}
		var again bytes.Buffer
		if err := Encode(&again, q); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(bytes.SplitN(out.Bytes(), []byte("\n"), 2)[1], bytes.SplitN(again.Bytes(), []byte("\n"), 2)[1]) {
			t.Errorf("%s: printing is not stable", name)
		}
	}
}

func stripOrigins(p *Policy) *Policy {
	c := *p
	c.Source = ""
	strip := func(r *Rule) *Rule {
		r = cloneRule(r)
		r.At = Origin{}
		for i := range r.Levels {
			l := &r.Levels[i]
			l.At = Origin{}
			for _, cs := range [][]Condition{l.Enter.All, l.Enter.Any, l.Exit.All, l.Exit.Any} {
				for j := range cs {
					cs[j].At = Origin{}
				}
			}
			for j := range l.Actions {
				l.Actions[j].At = Origin{}
				if rc := l.Actions[j].Reclaim; rc != nil {
					rc.BatchAt, rc.BudgetAt = Origin{}, Origin{}
				}
			}
		}
		return r
	}
	if c.Node != nil {
		c.Node = strip(c.Node)
	}
	c.Rules = nil
	for i := range p.Rules {
		c.Rules = append(c.Rules, *strip(&p.Rules[i]))
	}
	return &c
}

// Without overrides Effective gives RuleFor's rule, equal in every field:
// the engine takes RuleFor's as it is for cgroups with no drop-ins.
func TestEffectiveWithoutOverridesIsRuleFor(t *testing.T) {
	p, err := Parse("default.toml", configs.Default())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ unit, path string }{
		{"kubepods-burstable-pod1.slice", "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice"},
		{"", "kubepods/besteffort/pod2"},
		{"nginx.service", "system.slice/nginx.service"},
		{"system.slice", "system.slice"},
		{"memrelief.service", "system.slice/memrelief.service"},
		{"init.scope", "init.scope"},
		{"session-1.scope", "user.slice/user-0.slice/session-1.scope"},
		{"", "somewhere/else"},
	} {
		eff, errs := p.Effective(c.unit, c.path, nil)
		if len(errs) > 0 {
			t.Fatalf("%s: %v", c.path, errs)
		}
		r, ok := p.RuleFor(c.unit, c.path)
		if ok != (eff.Rule != nil) || (ok && !reflect.DeepEqual(*r, *eff.Rule)) {
			t.Errorf("%s (%s): Effective gives %+v, RuleFor %+v", c.path, c.unit, eff.Rule, r)
		}
	}
}
