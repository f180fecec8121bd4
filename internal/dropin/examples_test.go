package dropin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/policy"
)

// The example drop-ins shipped in systemd/examples parse without errors, and
// those with an [X-MemRelief] section say something.
func TestShippedExampleDropIns(t *testing.T) {
	files, _ := filepath.Glob("../../systemd/examples/*.conf")
	if len(files) == 0 {
		t.Fatal("no example drop-ins found")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var o policy.Override
		if errs := Parse(f, data, &o); len(errs) > 0 {
			t.Errorf("%s: %v", f, errs)
		}
		if strings.Contains(string(data), "[X-MemRelief]") && o.Empty() {
			t.Errorf("%s: [X-MemRelief] section sets nothing", f)
		}
	}
}
