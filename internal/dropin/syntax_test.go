package dropin

import (
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/policy"
)

// TestParseReadsAsSystemd: each case is a drop-in and what systemd makes
// of it (systemd.syntax(7), conf-parser.c), as the override and the
// warnings memrelief gives.
func TestParseReadsAsSystemd(t *testing.T) {
	for _, tt := range []struct {
		name, doc string
		rule      string // the Rule in effect after the file, "" for none
		ruleLine  int
		errs      []string
	}{
		{
			name: "continuation joins lines with a space",
			doc:  "[X-MemRelief]\nEnterThreshold=elevated \\\n  slab_reclaimable \\\n 512M\nRule=a\n",
			rule: "a", ruleLine: 5,
		},
		{
			name: "a comment inside a continuation is dropped",
			doc:  "[X-MemRelief]\nRule=pods\\\n# comment \\\n; another\n-x\n",
			rule: "pods -x", ruleLine: 2,
		},
		{
			name: "a backslash at the end of a comment continues nothing",
			doc:  "[X-MemRelief]\n# comment \\\nRule=b\n",
			rule: "b", ruleLine: 3,
		},
		{
			name: "an escaped backslash is not a continuation",
			doc:  "[X-MemRelief]\nRule=c\\\\\nExclude=no\n",
			rule: `c\\`, ruleLine: 2,
		},
		{
			name: "CRLF, CR and a byte order mark",
			doc:  "\xEF\xBB\xBF[X-MemRelief]\r\nExclude=no\rRule=d\r\n",
			rule: "d", ruleLine: 3,
		},
		{
			name: "wrong case is another section",
			doc:  "[x-memrelief]\nRule=e\n",
			errs: []string{"d.conf:1:1: section [x-memrelief] is not [X-MemRelief] (systemd matches section names exactly, case and blanks included), so its settings are ignored: did you mean [X-MemRelief]?"},
		},
		{
			name: "blanks inside the brackets are part of the name",
			doc:  "[Service]\nMemoryHigh=1G\n  [ X-MemRelief ]\nRule=f\n",
			errs: []string{"d.conf:3:3: section [ X-MemRelief ] is not [X-MemRelief] (systemd matches section names exactly, case and blanks included), so its settings are ignored: did you mean [X-MemRelief]?"},
		},
		{
			name: "settings before any section",
			doc:  "# header\n  Rule=g\n[X-MemRelief]\nExclude=no\n",
			errs: []string{`d.conf:2:3: assignment "Rule" outside of any section is ignored (systemd ignores it too); put it under [X-MemRelief]`},
		},
		{
			name: "a line without '=' is skipped, the rest applies",
			doc:  "[X-MemRelief]\nRule h\n=x\nRule=h\n[Service]\nnonsense\n",
			rule: "h", ruleLine: 4,
			errs: []string{`d.conf:2:1: missing '=' in "Rule h", line ignored`, "d.conf:3:1: missing key name before '=', line ignored"},
		},
		{
			name: "keys are case-sensitive",
			doc:  "[X-MemRelief]\n  rule = i\n",
			errs: []string{"d.conf:2:3: rule: unknown key in [X-MemRelief]: keys are case-sensitive, did you mean Rule?"},
		},
		{
			name: "a bad section header refuses the file",
			doc:  "[X-MemRelief]\nRule=j\n[X-MemRelief] trailing\n",
			errs: []string{`d.conf:3:1: not a valid unit file (systemd refuses it), ignored: invalid section header "[X-MemRelief] trailing": it does not end in ']'`},
		},
		{
			name: "a file ending in a backslash",
			doc:  "[X-MemRelief]\nRule=k\\",
			rule: "k", ruleLine: 2,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var o policy.Override
			errs := Parse("d.conf", []byte(tt.doc), &o)
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tt.errs, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.errs, "\n"))
			}
			if o.Rule != tt.rule || (tt.rule != "" && o.RuleAt.Line != tt.ruleLine) {
				t.Errorf("Rule = %q at line %d; want %q at line %d", o.Rule, o.RuleAt.Line, tt.rule, tt.ruleLine)
			}
		})
	}
	// The continued threshold of the first case was read whole.
	var o policy.Override
	if errs := Parse("d.conf", []byte("[X-MemRelief]\nEnterThreshold=elevated \\\n  slab_reclaimable \\\n 512M\n"), &o); len(errs) != 0 || len(o.Thresholds) != 1 || o.Thresholds[0].Value != 512<<20 || o.Thresholds[0].At.Line != 2 {
		t.Errorf("continued threshold: %v, %+v", errs, o.Thresholds)
	}
}
