package inspect

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestStatusWithDaemonLevels(t *testing.T) {
	st := Status{Mode: "unified", Rows: []Row{
		{Name: "node", Cgroup: "/"},
		{Name: "kubepods-burstable-pod1.slice", Cgroup: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice", Depth: 3},
		{Name: "system.slice", Cgroup: "/system.slice", Depth: 1},
	}}
	st.AddDaemon("watching 2 cgroups; 1 at level high", map[string]DaemonLevel{
		"/": {Rule: "node", Level: "normal"},
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice": {Rule: "pods", Level: "high"},
	}, recentEvents(12))
	if st.Rows[0].Level != "normal" || st.Rows[1].Level != "high" || st.Rows[1].Rule != "pods" || st.Rows[2].Level != "-" {
		t.Fatalf("levels not matched by cgroup path: %+v", st.Rows)
	}
	var b bytes.Buffer
	if err := st.WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "LEVEL") || !strings.Contains(out, "memrelief daemon: watching 2 cgroups; 1 at level high.") {
		t.Fatalf("text without the daemon's levels:\n%s", out)
	}
	if strings.Count(out, "reclaim #") != maxRecentShown || !strings.Contains(out, "reclaim #11") || strings.Contains(out, "reclaim #1 ") {
		t.Fatalf("want the newest %d events, got:\n%s", maxRecentShown, out)
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "pod1.slice") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "high ") {
		t.Fatalf("pod row does not lead with its level: %q", lines)
	}
	// Without a daemon the table has no LEVEL column at all.
	b.Reset()
	(&Status{Mode: "unified", Rows: []Row{{Name: "node"}}}).WriteText(&b, false)
	if strings.Contains(b.String(), "LEVEL") || strings.Contains(b.String(), "daemon") {
		t.Fatalf("levels shown without a daemon:\n%s", b.String())
	}
}

func recentEvents(n int) []DaemonEvent {
	var out []DaemonEvent
	t0 := time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)
	for i := range n {
		out = append(out, DaemonEvent{Time: t0.Add(time.Duration(i) * time.Minute), Message: fmt.Sprintf("reclaim #%d of pod1: ok", i)})
	}
	return out
}
