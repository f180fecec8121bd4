package metrics

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/engine"
)

func snapshotOf(cgs []engine.CgroupStatus) QueryFunc {
	return func(context.Context) (engine.Snapshot, error) {
		node := engine.CgroupStatus{Cgroup: "/", Level: "normal", CurrentBytes: 1}
		return engine.Snapshot{Node: &node, Cgroups: cgs}, nil
	}
}

func currentCgroups(t *testing.T, m *Metrics) (names []string, dropped float64) {
	t.Helper()
	fams := gather(t, m)
	for _, s := range fams["memrelief_cgroup_memory_current_bytes"].GetMetric() {
		names = append(names, labels(s)["cgroup"])
	}
	for _, s := range fams["memrelief_cgroup_growth_quality"].GetMetric() {
		names = append(names, "quality:"+labels(s)["cgroup"])
	}
	return names, value(fams["memrelief_metrics_cgroups_dropped"].GetMetric()[0])
}

// TestCgroupCap: past MaxCgroups, cgroups at a level stay on the page
// first, containers count as cgroups, the rest are counted in the gauge,
// and the caller hears of it once.
func TestCgroupCap(t *testing.T) {
	trend := &engine.TrendStatus{Quality: "high"}
	cgs := []engine.CgroupStatus{
		{Cgroup: "/a.slice", Level: "normal"},
		{Cgroup: "/b.slice", Level: "normal", Containers: []engine.ContainerStatus{
			{Cgroup: "/b.slice/c1", Trend: trend}, {Cgroup: "/b.slice/c2", Trend: trend}}},
		{Cgroup: "/c.slice", Level: "normal"},
		{Cgroup: "/d.slice", Level: "elevated"},
	}
	var calls []string
	m := New(context.Background(), snapshotOf(cgs), Options{MaxCgroups: 4, OnCgroupLimit: func(limit, dropped int) {
		calls = append(calls, fmt.Sprintf("%d/%d", limit, dropped))
	}})
	for range 2 {
		names, dropped := currentCgroups(t, m)
		// /d.slice first (at a level), then /a.slice, /b.slice and one of
		// its containers; the page is sorted by label.
		want := "/ /a.slice /b.slice /d.slice quality:/b.slice/c1"
		if got := strings.Join(names, " "); got != want || dropped != 2 {
			t.Errorf("page has %q, dropped %v; want %q, 2 dropped (c2 and /c.slice)", got, dropped, want)
		}
	}
	if strings.Join(calls, ",") != "4/2" {
		t.Errorf("OnCgroupLimit calls %q; want one, 4/2", calls)
	}

	// Under the cap nothing is dropped and the callback is not called.
	calls = nil
	m = New(context.Background(), snapshotOf(cgs), Options{OnCgroupLimit: func(int, int) { calls = append(calls, "x") }})
	if names, dropped := currentCgroups(t, m); len(names) != 1+len(cgs)+2 || dropped != 0 || calls != nil {
		t.Errorf("under the cap: %q, dropped %v, calls %q", names, dropped, calls)
	}
}

// TestPageSizeIsBounded: 3,000 cgroups made a 1.5 MB page; with the
// default cap the page holds DefaultMaxCgroups of them.
func TestPageSizeIsBounded(t *testing.T) {
	cgs := make([]engine.CgroupStatus, 3000)
	for i := range cgs {
		cgs[i] = engine.CgroupStatus{Cgroup: fmt.Sprintf("/user.slice/user-1000.slice/user@1000.service/x%04d.service", i),
			Unit: fmt.Sprintf("x%04d.service", i), Rule: "services", Level: "normal", HasSlab: true, HasPSI: true}
	}
	m := New(context.Background(), snapshotOf(cgs), Options{})
	names, dropped := currentCgroups(t, m)
	if len(names) != 1+DefaultMaxCgroups || dropped != 1000 {
		t.Errorf("%d cgroups on the page, %v dropped; want the node and %d, 1000 dropped", len(names), dropped, DefaultMaxCgroups)
	}
}

// BenchmarkPage3000Cgroups reports the /metrics page for 3,000 watched
// cgroups with the default cap and with none (as before the cap).
func BenchmarkPage3000Cgroups(b *testing.B) {
	cgs := make([]engine.CgroupStatus, 3000)
	for i := range cgs {
		cgs[i] = engine.CgroupStatus{Cgroup: fmt.Sprintf("/user.slice/user-1000.slice/user@1000.service/x%04d.service", i),
			Unit: fmt.Sprintf("x%04d.service", i), Rule: "services", Level: "normal", HasSlab: true, HasPSI: true}
	}
	for _, tt := range []struct {
		name string
		max  int
	}{{"default-cap", 0}, {"uncapped", 1 << 30}} {
		b.Run(tt.name, func(b *testing.B) {
			h := New(context.Background(), snapshotOf(cgs), Options{MaxCgroups: tt.max}).Handler()
			var n int
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
				n = rec.Body.Len()
			}
			b.ReportMetric(float64(n), "page_bytes")
		})
	}
}
