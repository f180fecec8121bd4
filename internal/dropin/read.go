package dropin

import (
	"context"
	"fmt"
	"strings"

	"github.com/memrelief/memrelief/internal/policy"
)

// Section is the drop-in section memrelief reads.
const Section = "X-MemRelief"

// Keys of the [X-MemRelief] section.
const (
	KeyExclude        = "Exclude"        // yes/no: leave this unit and its children alone
	KeyRule           = "Rule"           // NAME: use this rule or profile
	KeyEnterThreshold = "EnterThreshold" // LEVEL METRIC VALUE
	KeyExitThreshold  = "ExitThreshold"  // LEVEL METRIC VALUE
	KeyReclaimBudget  = "ReclaimBudget"  // SIZE per minute, for every reclaim action
	KeyReclaimBatch   = "ReclaimBatch"   // SIZE, for every reclaim action
)

const knownKeys = "Exclude, Rule, EnterThreshold, ExitThreshold, ReclaimBudget or ReclaimBatch"

// Load finds the unit's drop-ins and reads their [X-MemRelief] sections,
// resolving symlinks inside an injected root (Finder.ReadFile).
// Problems in a drop-in come back as Errors naming the file, line and
// column; the setting on that line is ignored and the rest applies. What
// the search passed over (a directory named *.conf, a dangling link) comes
// first; the first MaxErrors of all of them are returned, then a count of
// the rest. err is for failures to find or read the drop-ins at all.
func Load(ctx context.Context, f Finder, unitName string) (o policy.Override, files []string, via string, errs policy.Errors, err error) {
	files, via, warns, err := f.Files(ctx, unitName)
	if err != nil {
		return policy.Override{Unit: unitName}, nil, via, nil, err
	}
	o, errs = read(unitName, files, f.ReadFile)
	return o, files, via, append(warns, errs...).Capped(MaxErrors), nil
}

// MaxErrors bounds the errors Read returns for one unit: the daemon reports
// each, and a drop-in of thousands of bad lines must not become thousands
// of events.
const MaxErrors = 20

// Read parses the drop-in files of one unit, in the order systemd applies
// them (later files win), with readFile (policy.ReadFile, which refuses
// files over policy.MaxFileBytes, outside tests). It returns the first
// MaxErrors problems and, when there are more, one counting the rest.
func Read(unitName string, files []string, readFile func(string) ([]byte, error)) (policy.Override, policy.Errors) {
	o, errs := read(unitName, files, readFile)
	return o, errs.Capped(MaxErrors)
}

// read is Read without the cap, for Load to cap with the scan's warnings.
func read(unitName string, files []string, readFile func(string) ([]byte, error)) (policy.Override, policy.Errors) {
	o := policy.Override{Unit: unitName}
	var errs policy.Errors
	for _, f := range files {
		data, err := readFile(f)
		if err != nil {
			errs = append(errs, policy.Error{File: f, Msg: fmt.Sprintf("read drop-in: %v", err)})
			continue
		}
		errs = append(errs, Parse(f, data, &o)...)
	}
	return o, errs
}

// Parse applies the [X-MemRelief] section of one drop-in to o, reading
// the file as systemd does (see syntax.go). A file systemd would refuse,
// or one larger than policy.MaxFileBytes, contributes nothing; a bad
// setting is skipped alone. What systemd ignores but the author likely
// meant for memrelief (a misspelt section name, settings before any
// section, a line without '=') comes back as an Error too, naming the
// line and column.
func Parse(file string, data []byte, o *policy.Override) policy.Errors {
	if len(data) > policy.MaxFileBytes {
		return policy.Errors{{File: file, Msg: "drop-in ignored: " + (&policy.SizeError{Size: int64(len(data))}).Error()}}
	}
	entries, probs := lexUnit(data)
	var errs policy.Errors
	for _, p := range probs {
		msg := p.msg
		if p.fatal {
			msg = "not a valid unit file (systemd refuses it), ignored: " + msg
		}
		errs = append(errs, policy.Error{File: file, Line: p.line, Col: p.col, Msg: msg})
	}
	if len(probs) > 0 && probs[len(probs)-1].fatal {
		return errs
	}
	for _, e := range entries {
		if e.section != Section {
			continue
		}
		at := policy.Origin{File: file, Line: e.line}
		if msg := apply(o, e.key, e.value, at); msg != "" {
			errs = append(errs, policy.Error{File: file, Line: e.line, Col: e.col, Key: e.key, Msg: msg})
		}
	}
	return errs
}

// apply sets one key; it returns why it could not, or "". An empty value
// resets the setting, as it does for systemd's own settings.
func apply(o *policy.Override, key, value string, at policy.Origin) string {
	switch key {
	case KeyExclude:
		if value == "" {
			o.Exclude, o.ExcludeAt = nil, at
			return ""
		}
		b, ok := parseBool(value)
		if !ok {
			return fmt.Sprintf("want yes or no, got %q", value)
		}
		o.Exclude, o.ExcludeAt = &b, at
	case KeyRule:
		o.Rule, o.RuleAt = value, at
	case KeyEnterThreshold, KeyExitThreshold:
		exit := key == KeyExitThreshold
		if value == "" {
			var kept []policy.ThresholdOverride
			for _, t := range o.Thresholds {
				if t.Exit != exit {
					kept = append(kept, t)
				}
			}
			o.Thresholds = kept
			return ""
		}
		f := strings.Fields(value)
		if len(f) != 3 {
			return fmt.Sprintf("want LEVEL METRIC VALUE, for example \"elevated slab_reclaimable 512M\", got %q", value)
		}
		m := policy.Metric(f[1])
		v, err := policy.ParseThreshold(m, f[2])
		if err != nil {
			return err.Error()
		}
		o.Thresholds = append(o.Thresholds, policy.ThresholdOverride{Level: f[0], Metric: m, Exit: exit, Value: v, At: at})
	case KeyReclaimBudget, KeyReclaimBatch:
		var sz *policy.Size
		if value != "" {
			v, err := policy.ParseSize(value)
			if err != nil {
				return err.Error()
			}
			if v == 0 {
				return "is 0; nothing could ever be reclaimed (use Exclude=yes to stop remediation)"
			}
			sz = &v
		}
		if key == KeyReclaimBudget {
			o.ReclaimBudget, o.ReclaimBudgetAt = sz, at
		} else {
			o.ReclaimBatch, o.ReclaimBatchAt = sz, at
		}
	default:
		for _, k := range []string{KeyExclude, KeyRule, KeyEnterThreshold, KeyExitThreshold, KeyReclaimBudget, KeyReclaimBatch} {
			if strings.EqualFold(key, k) {
				return fmt.Sprintf("unknown key in [%s]: keys are case-sensitive, did you mean %s?", Section, k)
			}
		}
		return fmt.Sprintf("unknown key in [%s] (want %s)", Section, knownKeys)
	}
	return ""
}

// parseBool accepts systemd's boolean spellings.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "1", "yes", "y", "true", "t", "on":
		return true, true
	case "0", "no", "n", "false", "f", "off":
		return false, true
	}
	return false, false
}
