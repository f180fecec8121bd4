package policy

import (
	"reflect"
	"strings"
	"testing"
)

const matchDoc = `exclude_units = ["memrelief.service"]
exclude_paths = ["kubepods/burstable/pod-excluded"]

[[rule]]
name = "agents"
units = ["fluent-bit.service"]
paths = ["kubepods/burstable/pod*"]
exclude_paths = ["kubepods/burstable/pod-critical"]
[[rule.level]]
name = "l"
enter.all = ["slab_reclaimable >= 1G"]
exit.all = ["slab_reclaimable < 512M"]

[[rule]]
name = "pods"
units = ["kubepods-*.slice"]
paths = ["kubepods/*/*", "kubepods/*"]
[[rule.level]]
name = "l"
enter.all = ["slab_reclaimable >= 1G"]
exit.all = ["slab_reclaimable < 512M"]

[[rule]]
name = "services"
units = ["*.service"]
exclude_units = ["ssh*.service"]
[[rule.level]]
name = "l"
enter.all = ["slab_reclaimable >= 1G"]
exit.all = ["slab_reclaimable < 512M"]

[[rule]]
name = "profile"
[[rule.level]]
name = "l"
enter.all = ["slab_reclaimable >= 1G"]
exit.all = ["slab_reclaimable < 512M"]
`

func TestRuleFor(t *testing.T) {
	p, err := Parse("m.toml", []byte(matchDoc))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		unit, path string
		want       string // "" for no rule
	}{
		{"fluent-bit.service", "/system.slice/fluent-bit.service", "agents"}, // first match wins over "services"
		{"", "/kubepods/burstable/pod123", "agents"},                         // cgroupfs driver: no unit
		{"", "kubepods/burstable/pod123", "agents"},                          // leading slash optional
		{"", "/kubepods/burstable/pod-critical", "pods"},                     // excluded by agents, falls through
		{"", "/kubepods/burstable/pod-excluded", ""},                         // policy-wide exclusion wins
		{"", "/kubepods/burstable/pod123/ctr", ""},                           // * does not cross /
		{"kubepods-besteffort.slice", "/kubepods.slice/kubepods-besteffort.slice", "pods"},
		{"nginx.service", "/system.slice/nginx.service", "services"},
		{"sshd.service", "/system.slice/sshd.service", ""},           // excluded by services, nothing later
		{"memrelief.service", "/system.slice/memrelief.service", ""}, // never ourselves
		{"user.slice", "/user.slice", ""},                            // profiles never match
	} {
		r, ok := p.RuleFor(tt.unit, tt.path)
		got := ""
		if ok {
			got = r.Name
		}
		if got != tt.want {
			t.Errorf("RuleFor(%q, %q) = %q, want %q", tt.unit, tt.path, got, tt.want)
		}
	}
}

func TestEffective(t *testing.T) {
	p, err := Parse("/etc/memrelief/policy.toml", []byte(ruleHead+`
[[rule.level.action]]
type = "reclaim"
amount = "64M"

[[rule.level]]
name = "high"
enter.all = ["slab_reclaimable >= 1G"]
exit.all = ["slab_reclaimable < 768M"]

[[rule]]
name = "strict"
[[rule.level]]
name = "elevated"
enter.all = ["slab_reclaimable >= 64M"]
exit.all = ["slab_reclaimable < 32M"]
`))
	if err != nil {
		t.Fatal(err)
	}
	at := func(f string, l int) Origin { return Origin{File: f, Line: l} }
	yes, no := true, false
	budget := Size(64 << 20)
	parent := "/etc/systemd/system/kubepods-.slice.d/50-memrelief.conf"
	own := "/etc/systemd/system/kubepods-burstable-pod1.slice.d/memrelief.conf"
	unit := "kubepods-burstable-pod1.slice"

	t.Run("no overrides", func(t *testing.T) {
		e, errs := p.Effective(unit, "/kubepods.slice/x", nil)
		if len(errs) != 0 || e.Rule == nil || e.Rule.Name != "pods" || e.Excluded {
			t.Fatalf("%+v %v", e, errs)
		}
		want := []Setting{
			{"excluded", "no", Origin{}},
			{"rule", "pods", at("/etc/memrelief/policy.toml", 1)},
			{"level elevated enter.all", "slab_reclaimable >= 256M", at("/etc/memrelief/policy.toml", 7)},
			{"level elevated exit.all", "slab_reclaimable < 192M", at("/etc/memrelief/policy.toml", 8)},
			{"level elevated reclaim budget_per_minute", "256M", Origin{}},
			{"level elevated reclaim batch", "16M", Origin{}},
			{"level high enter.all", "slab_reclaimable >= 1G", at("/etc/memrelief/policy.toml", 16)},
			{"level high exit.all", "slab_reclaimable < 768M", at("/etc/memrelief/policy.toml", 17)},
		}
		if !reflect.DeepEqual(e.Settings, want) {
			t.Errorf("settings:\n%v\nwant\n%v", e.Settings, want)
		}
	})

	t.Run("own drop-in wins over parent's", func(t *testing.T) {
		chain := []Override{
			{Unit: "kubepods.slice", Exclude: &yes, ExcludeAt: at(parent, 2)},
			{Unit: unit, Exclude: &no, ExcludeAt: at(own, 2)},
		}
		e, errs := p.Effective(unit, "", chain)
		if len(errs) != 0 || e.Excluded || e.Settings[0] != (Setting{"excluded", "no", at(own, 2)}) {
			t.Errorf("%+v %v", e.Settings, errs)
		}
		e, _ = p.Effective(unit, "", chain[:1])
		if !e.Excluded || e.Rule != nil || e.Settings[0].From != at(parent, 2) {
			t.Errorf("parent exclusion ignored: %+v", e)
		}
	})

	t.Run("thresholds and budgets", func(t *testing.T) {
		chain := []Override{{
			Unit: unit,
			Thresholds: []ThresholdOverride{
				{Level: "elevated", Metric: SlabReclaimable, Value: 128 << 20, At: at(own, 3)},
				{Level: "elevated", Metric: SlabReclaimable, Exit: true, Value: 96 << 20, At: at(own, 4)},
			},
			ReclaimBudget: &budget, ReclaimBudgetAt: at(own, 5),
		}}
		e, errs := p.Effective(unit, "", chain)
		if len(errs) != 0 {
			t.Fatal(errs)
		}
		l := e.Rule.Levels[0]
		if l.Enter.All[0].Threshold != 128<<20 || l.Exit.All[0].Threshold != 96<<20 || l.Actions[0].Reclaim.BudgetPerMinute != budget {
			t.Errorf("overrides not applied: %+v", l)
		}
		if p.Rules[0].Levels[0].Enter.All[0].Threshold != 256<<20 || p.Rules[0].Levels[0].Actions[0].Reclaim.BudgetPerMinute != DefaultBudgetPerMinute {
			t.Error("Effective modified the policy")
		}
		found := 0
		for _, s := range e.Settings {
			if s.From.File == own {
				found++
			}
		}
		if found != 3 {
			t.Errorf("settings from the drop-in: %d, want 3: %v", found, e.Settings)
		}
	})

	t.Run("bad overrides are dropped one by one", func(t *testing.T) {
		chain := []Override{{
			Unit: unit,
			Rule: "nope", RuleAt: at(own, 2),
			Thresholds: []ThresholdOverride{
				{Level: "elevated", Metric: SlabReclaimable, Exit: true, Value: 300 << 20, At: at(own, 3)}, // not below enter
				{Level: "missing", Metric: SlabReclaimable, Value: 1, At: at(own, 4)},
				{Level: "elevated", Metric: PSISomeAvg10, Value: 1, At: at(own, 5)},
				{Level: "high", Metric: SlabReclaimable, Value: 2 << 30, At: at(own, 6)}, // fine
			},
		}}
		e, errs := p.Effective(unit, "", chain)
		want := []string{
			own + `:2: Rule: unknown rule "nope" (the policy has "pods", "strict")`,
			own + `:3: ExitThreshold: exit threshold 300M is not below enter threshold 256M; the level would flap`,
			own + `:4: EnterThreshold: rule "pods" has no level "missing"`,
			own + `:5: EnterThreshold: level "elevated" of rule "pods" has no enter condition on psi_some_avg10`,
		}
		if errs.Error() != strings.Join(want, "\n") {
			t.Errorf("errors:\n%v\nwant:\n%s", errs, strings.Join(want, "\n"))
		}
		if e.Rule.Name != "pods" || e.Rule.Levels[0].Exit.All[0].Threshold != 192<<20 || e.Rule.Levels[1].Enter.All[0].Threshold != 2<<30 {
			t.Errorf("good override lost or bad one kept: %+v", e.Rule.Levels)
		}
	})

	t.Run("level order broken by override", func(t *testing.T) {
		e, errs := p.Effective(unit, "", []Override{{Thresholds: []ThresholdOverride{
			{Level: "elevated", Metric: SlabReclaimable, Value: 2 << 30, At: at(own, 8)},
			{Level: "elevated", Metric: SlabReclaimable, Exit: true, Value: 1 << 30, At: at(own, 9)},
		}}})
		// Without its enter threshold the exit one breaks hysteresis: both go,
		// each with its own reason.
		want := own + `:8: EnterThreshold: threshold 1G is not above 2G of the less severe level "elevated"; levels go from least to most severe` + "\n" +
			own + `:9: ExitThreshold: exit threshold 1G is not below enter threshold 256M; the level would flap`
		if errs.Error() != want || e.Rule.Levels[0].Enter.All[0].Threshold != 256<<20 {
			t.Errorf("got %v; rule %+v", errs, e.Rule.Levels[0])
		}
	})

	t.Run("choose a profile", func(t *testing.T) {
		e, errs := p.Effective("fluent-bit.service", "", []Override{{Rule: "strict", RuleAt: at(own, 2)}})
		if len(errs) != 0 || e.Rule == nil || e.Rule.Name != "strict" || e.Settings[1].From != at(own, 2) {
			t.Errorf("%+v %v", e, errs)
		}
	})

	t.Run("override breaking its level is dropped", func(t *testing.T) {
		e, errs := p.Effective(unit, "", []Override{{Thresholds: []ThresholdOverride{
			{Level: "high", Metric: SlabReclaimable, Value: 128 << 20, At: at(own, 7)},
		}}})
		// The override breaks hysteresis first (exit 768M is above the new
		// enter 128M); one message per dropped override.
		want := own + `:7: EnterThreshold: exit threshold 768M is not below enter threshold 128M; the level would flap`
		if errs.Error() != want || e.Rule.Levels[1].Enter.All[0].Threshold != 1<<30 {
			t.Errorf("got %v", errs)
		}
	})
}
