package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// explain on the machine running the tests must explain one of its real
// top-level cgroups, with the figure the kernel reports for it.
func TestExplainOnThisHost(t *testing.T) {
	mode := hostMode(t)
	memDir, current := "/sys/fs/cgroup", "memory.current"
	if mode != "unified" {
		memDir, current = "/sys/fs/cgroup/memory", "memory.usage_in_bytes"
	}
	ents, err := os.ReadDir(memDir)
	if err != nil {
		t.Skipf("SKIP: cannot list %s: %v", memDir, err)
	}
	var target string
	for _, e := range ents {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(memDir, e.Name(), current)); err == nil {
				target = e.Name()
				break
			}
		}
	}
	if target == "" {
		t.Skipf("SKIP: no top-level cgroup with %s under %s on this host", current, memDir)
	}
	out, errOut, code := runCLI(t, "explain", "--json", target)
	if code != 0 {
		t.Fatalf("explain %s: exit %d, %s", target, code, errOut)
	}
	var e struct {
		Cgroup       string `json:"cgroup"`
		Mode         string `json:"mode"`
		CurrentBytes uint64 `json:"current_bytes"`
		Breakdown    []struct {
			Name string `json:"name"`
		} `json:"breakdown"`
		Verdict string `json:"verdict"`
	}
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("explain --json: %v\n%s", err, out)
	}
	if e.Cgroup != "/"+target || e.Mode != mode || len(e.Breakdown) == 0 || e.Verdict == "" {
		t.Errorf("explanation %+v", e)
	}
	// The figure moves while we look: read the file after, and accept the
	// drift of a busy machine (10%).
	data, err := os.ReadFile(filepath.Join(memDir, target, current))
	if err != nil {
		t.Fatal(err)
	}
	now, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if diff := float64(now) - float64(e.CurrentBytes); diff > 0.1*float64(now) || -diff > 0.1*float64(now) {
		t.Errorf("current %d, %s says %d", e.CurrentBytes, current, now)
	}
	text, _, code := runCLI(t, "explain", target)
	if code != 0 || !strings.Contains(text, "cgroup /"+target+", "+mode+" hierarchy") {
		t.Errorf("text explain:\n%s", text)
	}
}
