package driver

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/memrelief/memrelief/internal/paths"
)

// TestDetectOnThisHost runs detection against the real host. What is
// installed differs between machines, so it checks the contract rather than
// answers: five components, a reason for each, no driver claimed for what is
// not installed, and a JSON form.
func TestDetectOnThisHost(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skipf("SKIPPED: no procfs at /proc (%v); host detection cannot run here", err)
	}
	roots := paths.Host()
	host := Host{MemoryDir: roots.Cgroup}
	cs := Detect(context.Background(), roots, host)
	if len(cs) != 5 {
		t.Fatalf("%d components", len(cs))
	}
	for _, c := range cs {
		t.Logf("%s: installed=%t driver=%q why=%q evidence=%q err=%v", c.Name, c.Installed, c.Driver, c.Why, c.Evidence, c.Err)
		if c.Why == "" {
			t.Errorf("%s: no reason", c.Name)
		}
		if !c.Installed && c.Driver != Unknown {
			t.Errorf("%s: driver %q while not installed", c.Name, c.Driver)
		}
		if _, err := json.Marshal(c); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
	for _, f := range Disagreements(cs, host) {
		t.Logf("finding: %+v", f)
	}
}
