package prometheus

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"

	"github.com/memrelief/memrelief/configs"
	"github.com/memrelief/memrelief/internal/engine"
	"github.com/memrelief/memrelief/internal/metrics"
	"github.com/memrelief/memrelief/internal/policy"
)

const (
	rulesFile     = "memrelief-rules.yaml"
	rulesTests    = "memrelief-rules.test.yaml"
	dashboardFile = "memrelief-dashboard.json"
)

// promtool runs Debian's promtool (package prometheus) in dir, or skips
// loudly where it is not installed.
func promtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("SKIP: promtool is not installed (Debian's prometheus package; .ci/run installs it); the rules were NOT checked")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
}

// TestRulesPassPromtool: the rules parse, and their unit tests (the seeds'
// cases alert, their neighbours do not) pass.
func TestRulesPassPromtool(t *testing.T) {
	promtool(t, ".", "check", "rules", rulesFile)
	promtool(t, ".", "test", "rules", rulesTests)
}

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Record      string            `json:"record"`
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return f
}

type dashboard struct {
	UID    string `json:"uid"`
	Panels []struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		GridPos struct {
			H, W, X, Y int
		} `json:"gridPos"`
		Targets []struct {
			Expr  string `json:"expr"`
			RefID string `json:"refId"`
		} `json:"targets"`
	} `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// TestDashboardQueriesParse: each panel has queries, and promtool parses
// every one once Grafana's variables are given values.
func TestDashboardQueriesParse(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("%s: no uid or no panels", dashboardFile)
	}
	grafanaVars := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel %q: id %d used twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v leaves Grafana's 24 columns", p.Title, p.GridPos)
		}
		for _, q := range p.Targets {
			expr, err := json.Marshal(grafanaVars.Replace(q.Expr))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&rules, "      - record: dashboard:panel%d:%s\n        expr: %s\n", p.ID, q.RefID, expr)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard.yaml"), []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	promtool(t, dir, "check", "rules", "dashboard.yaml")
}

// served is every series name memrelief's metrics page can carry: a
// scrape of a snapshot with every figure set, and the counters of a policy.
func served(t *testing.T) map[string]bool {
	t.Helper()
	tr := &engine.TrendStatus{Quality: "high", Components: map[string]float64{"current": 1}, ToHigh: time.Hour, ToMax: time.Hour, ToOOM: time.Hour}
	full := engine.CgroupStatus{Cgroup: "/a.slice", Unit: "a.slice", Rule: "pods", Level: "elevated", LevelSince: time.Unix(1, 0),
		CurrentBytes: 1, HighBytes: 1, MaxBytes: 1, HasSlab: true, HasKernel: true, HasPSI: true, Trend: tr,
		Containers: []engine.ContainerStatus{{Cgroup: "/a.slice/b.scope", Trend: tr, MaxBytes: 1}}}
	snap := engine.Snapshot{Node: &engine.CgroupStatus{Cgroup: "/", Trend: tr}, Cgroups: []engine.CgroupStatus{full}, VFSManaged: true}
	m := metrics.New(context.Background(), metrics.QueryFunc(func(context.Context) (engine.Snapshot, error) { return snap, nil }), metrics.Options{})
	pol, err := policy.Parse("default.toml", configs.Default())
	if err != nil {
		t.Fatal(err)
	}
	m.Know(pol)
	var page bytes.Buffer
	if _, err := m.WriteTo(&page); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(&page)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{"up": true} // Prometheus's own, per target
	for name := range fams {
		names[name] = true
	}
	return names
}

var seriesName = regexp.MustCompile(`\b(?:[a-z_]+:)?memrelief_[a-z0-9_]+(?::[a-z0-9_]+)?\b|\bup\b`)

// TestQueriesNameServedSeries: every series a rule or a panel reads is
// one memrelief serves or a rule records, so a renamed metric breaks this
// test and not an alert that then never fires.
func TestQueriesNameServedSeries(t *testing.T) {
	names := served(t)
	rf := loadRules(t)
	var exprs []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				names[r.Record] = true
			}
			exprs = append(exprs, r.Expr)
		}
	}
	for _, p := range loadDashboard(t).Panels {
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	for _, e := range exprs {
		for _, n := range seriesName.FindAllString(e, -1) {
			if !names[n] {
				t.Errorf("%q reads %s, which memrelief does not serve and no rule records", e, n)
			}
		}
	}
}

// TestAlertsSayWhatToDo: every alert has a severity, a summary and a
// description, and the documented list in README.md is complete.
func TestAlertsSayWhatToDo(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var alerts []string
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			if !slices.Contains([]string{"info", "warning", "critical"}, r.Labels["severity"]) {
				t.Errorf("%s: severity %q", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: no summary or description", r.Alert)
			}
			if !bytes.Contains(readme, []byte("`"+r.Alert+"`")) {
				t.Errorf("README.md does not list alert %s", r.Alert)
			}
		}
	}
	if len(alerts) == 0 {
		t.Fatal("no alerts")
	}
}
