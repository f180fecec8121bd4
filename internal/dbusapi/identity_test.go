package dbusapi

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/inspect"
	"github.com/memrelief/memrelief/internal/metrics"
	"github.com/memrelief/memrelief/internal/paths"
)

// One cgroup has one name: the node and the watched pod slice are spelled
// the same in the D-Bus GetStatus reply, in `memrelief status` JSON, in
// `memrelief explain` JSON and in the metrics' cgroup label, all read from
// one fixture host: the path below the root with a leading slash, "/" for
// the node.
func TestOneIdentityForACgroup(t *testing.T) {
	var roots paths.Roots
	d := startDaemonWith(t, daemonOptions{prepare: func(_ *testing.T, r paths.Roots) { roots = r }})
	d.waitSignal(t, Interface+".LevelChanged") // the first tick is done
	ctx := context.Background()

	st, err := GetStatus(ctx, d.client)
	if err != nil {
		t.Fatal(err)
	}
	var onBus []string
	for _, c := range st.Cgroups {
		onBus = append(onBus, c.Cgroup)
	}
	if want := []string{"/", "/" + podSlice}; !slices.Equal(onBus, want) {
		t.Fatalf("GetStatus names %q, want %q", onBus, want)
	}

	layout, err := cgroupfs.DetectLayout(roots.Cgroup, func(string) (int64, error) { return cgroupfs.Cgroup2Magic, nil })
	if err != nil {
		t.Fatal(err)
	}
	status, err := inspect.BuildStatus(inspect.StatusOptions{Roots: roots, Layout: layout, Depth: 4})
	if err != nil {
		t.Fatal(err)
	}
	var statusJSON struct {
		Rows []struct {
			Cgroup string `json:"cgroup"`
		} `json:"rows"`
	}
	roundTrip(t, status, &statusJSON)
	var inStatus []string
	for _, r := range statusJSON.Rows {
		inStatus = append(inStatus, r.Cgroup)
	}

	inExplain := map[string]string{}
	for _, target := range []string{"/", "kubepods-burstable-pod1234_5678.slice"} {
		e, err := inspect.Explain(inspect.ExplainOptions{Roots: roots, Layout: layout, Target: target})
		if err != nil {
			t.Fatal(err)
		}
		var explainJSON struct {
			Cgroup string `json:"cgroup"`
		}
		roundTrip(t, e, &explainJSON)
		inExplain[explainJSON.Cgroup] = target
	}

	m := metrics.New(ctx, metrics.QueryFunc(d.eng.Query), metrics.Options{})
	var page bytes.Buffer
	if _, err := m.WriteTo(&page); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(&page)
	if err != nil {
		t.Fatal(err)
	}
	var inMetrics []string
	for name, mf := range mfs {
		if name != "memrelief_cgroup_memory_current_bytes" {
			continue
		}
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "cgroup" {
					inMetrics = append(inMetrics, l.GetValue())
				}
			}
		}
	}

	for _, name := range onBus {
		if !slices.Contains(inStatus, name) {
			t.Errorf("%q of GetStatus is not a cgroup of status JSON %q", name, inStatus)
		}
		if _, ok := inExplain[name]; !ok {
			t.Errorf("%q of GetStatus is not the cgroup of explain JSON %q", name, inExplain)
		}
		if !slices.Contains(inMetrics, name) {
			t.Errorf("%q of GetStatus is no cgroup label of the metrics %q", name, inMetrics)
		}
	}
}

// roundTrip encodes v as JSON, as memrelief prints it, and decodes it into
// out.
func roundTrip(t *testing.T, v, out any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}
