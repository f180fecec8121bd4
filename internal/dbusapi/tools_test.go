package dbusapi

import (
	"strings"
	"testing"
)

// TestCommandLineTools runs the commands the documentation shows, as an
// unprivileged user, and checks what they print (run with -v to see it).
func TestCommandLineTools(t *testing.T) {
	d := startDaemon(t)
	d.waitSignal(t, Interface+".LevelChanged")
	const nobody = 65534
	ok := must(t)
	for _, c := range []struct {
		tool  string
		args  []string
		wants []string
	}{
		{"busctl", []string{"--system", "tree", BusName}, []string{string(ObjectPath)}},
		{"busctl", []string{"--system", "introspect", BusName, string(ObjectPath), Interface},
			[]string{".GetStatus", "sa{sv}a" + CgroupStateSignature, ".LevelChanged", "ssssssa{ss}", ".DryRun", "emits-change", ".Mode", "const",
				".GetTrends", "a" + TrendSignature, ".GetHistory", "st", "tasa" + HistorySeriesSignature}},
		{"busctl", []string{"--system", "call", BusName, string(ObjectPath), Interface, "GetHistory", "st", "/", "0"},
			[]string{"tasa" + HistorySeriesSignature, `"current" "anon" "file" "slab_reclaimable" "slab_unreclaimable" "other_kernel"`}},
		{"busctl", []string{"--system", "get-property", BusName, string(ObjectPath), Interface, "Mode", "CgroupVersion", "Driver", "PolicyFile", "DryRun"},
			[]string{`s "unified"`, "u 2", `s "systemd"`, `s "test.toml"`, "b false"}},
		{"busctl", []string{"--system", "call", BusName, string(ObjectPath), Interface, "GetStatus"},
			[]string{"sa{sv}a" + CgroupStateSignature + ` "watching 1 cgroups; 1 at level elevated"`, `"/` + podSlice + `"`, `"elevated"`}},
		{"busctl", []string{"--system", "--json=pretty", "call", BusName, string(ObjectPath), Interface, "GetStatus"},
			[]string{`"type" : "sa{sv}a` + CgroupStateSignature + `"`}},
		{"gdbus", []string{"call", "--system", "--dest", BusName, "--object-path", string(ObjectPath), "--method", Interface + ".GetStatus"},
			[]string{"('watching 1 cgroups; 1 at level elevated", "'vfs_cache_pressure_managed': <false>", "'/" + podSlice + "'"}},
		{"gdbus", []string{"introspect", "--system", "--dest", BusName, "--object-path", string(ObjectPath)},
			[]string{"GetStatus(out s status,", "LevelChanged(s cgroup,", "readonly b DryRun"}},
	} {
		out := ok(d.bus.run(t, nobody, c.tool, c.args...))
		t.Logf("$ %s %s\n%s", c.tool, strings.Join(c.args, " "), out)
		contains(t, out, c.wants...)
	}
	// Reload is root's: busctl says so to others.
	out, err := d.bus.run(t, nobody, "busctl", "--system", "call", BusName, string(ObjectPath), Interface, "Reload")
	t.Logf("$ busctl --system call %s %s %s Reload   (as nobody)\n%s", BusName, ObjectPath, Interface, out)
	if err == nil {
		t.Error("busctl Reload as nobody succeeded")
	}
	contains(t, out, "Access denied")
}
