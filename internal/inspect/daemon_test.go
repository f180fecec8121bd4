package inspect

import (
	"bytes"
	"strings"
	"testing"
)

func TestStatusWithDaemonLevels(t *testing.T) {
	st := Status{Mode: "unified", Rows: []Row{
		{Name: "node"},
		{Name: "kubepods-burstable-pod1.slice", Cgroup: "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice", Depth: 3},
		{Name: "system.slice", Cgroup: "system.slice", Depth: 1},
	}}
	st.AddDaemon("watching 2 cgroups; 1 at level high", map[string]DaemonLevel{
		"/": {Rule: "node", Level: "normal"},
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice": {Rule: "pods", Level: "high"},
	})
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
