package report

import (
	"os"
	"regexp"
	"testing"
)

// Every event kind has exactly one entry in the journal catalog, with a
// subject, so journalctl -x explains it.
func TestCatalogCoversEveryKind(t *testing.T) {
	data, err := os.ReadFile("../../systemd/memrelief.catalog")
	if err != nil {
		t.Fatal(err)
	}
	entry := regexp.MustCompile(`(?m)^-- ([0-9a-f]{32})\nSubject: (.+)\n`)
	found := map[string]int{}
	for _, m := range entry.FindAllStringSubmatch(string(data), -1) {
		found[m[1]]++
	}
	for _, k := range Kinds() {
		if n := found[k.MessageID()]; n != 1 {
			t.Errorf("kind %s (%s): %d catalog entries with a Subject, want 1", k, k.MessageID(), n)
		}
	}
	if len(found) != len(Kinds()) {
		t.Errorf("catalog has %d entries, memrelief has %d kinds", len(found), len(Kinds()))
	}
}
