package policy

import (
	"strings"
	"testing"
)

// An unknown key written in several elements of an array of tables is
// reported at each, in file order.
func TestUnknownKeyReportedEveryPlace(t *testing.T) {
	doc := ruleHead + "colour = 1\n" + strings.Replace(ruleHead, `name = "pods"`, `name = "more"`, 1) + "colour = 2\n"
	_, err := Parse("p.toml", []byte(doc))
	want := "p.toml:9:1: rule[0].level[0].colour: unknown key\np.toml:18:1: rule[1].level[0].colour: unknown key"
	if err == nil || err.Error() != want {
		t.Errorf("Parse = %v; want\n%s", err, want)
	}
}
