package dropin

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"

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

// Load finds the unit's drop-ins and reads their [X-MemRelief] sections.
// Problems in a drop-in come back as Errors naming the file and line; the
// setting on that line is ignored and the rest applies. err is for
// failures to find or read the drop-ins at all.
func Load(ctx context.Context, f Finder, unitName string) (o policy.Override, files []string, via string, errs policy.Errors, err error) {
	files, via, err = f.Files(ctx, unitName)
	if err != nil {
		return policy.Override{Unit: unitName}, nil, via, nil, err
	}
	o, errs = Read(unitName, files, policy.ReadFile)
	return o, files, via, errs, nil
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
	return o, errs.Capped(MaxErrors)
}

// Parse applies the [X-MemRelief] section of one drop-in to o. A file the
// unit parser rejects, or one larger than policy.MaxFileBytes, contributes
// nothing; a bad setting is skipped alone.
func Parse(file string, data []byte, o *policy.Override) policy.Errors {
	if len(data) > policy.MaxFileBytes {
		return policy.Errors{{File: file, Msg: "drop-in ignored: " + (&policy.SizeError{Size: int64(len(data))}).Error()}}
	}
	sections, err := unit.DeserializeSections(bytes.NewReader(data))
	if err != nil {
		return policy.Errors{{File: file, Line: firstBadLine(data), Msg: fmt.Sprintf("not a valid unit file, ignored: %v", err)}}
	}
	lines := optionLines(data)
	var errs policy.Errors
	k := 0 // index into lines, which lists options in file order
	for _, s := range sections {
		for _, e := range s.Entries {
			line := 0
			for ; k < len(lines); k++ {
				if lines[k].section == s.Section && lines[k].name == e.Name {
					line = lines[k].line
					k++
					break
				}
			}
			if s.Section != Section {
				continue
			}
			at := policy.Origin{File: file, Line: line}
			if msg := apply(o, e.Name, strings.TrimSpace(e.Value), at); msg != "" {
				errs = append(errs, policy.Error{File: file, Line: line, Key: e.Name, Msg: msg})
			}
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

type optionLine struct {
	section, name string
	line          int
}

// optionLines lists the options of a unit file with their line numbers,
// following the same rules as the unit parser (comments, continuation
// lines), because that parser does not report positions.
func optionLines(data []byte) []optionLine {
	var out []optionLine
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), len(data)+1)
	cont := false // the previous line ended in a backslash
	for n := 1; sc.Scan(); n++ {
		raw := strings.TrimSuffix(sc.Text(), "\r")
		line := strings.TrimSpace(raw)
		wasCont := cont
		cont = strings.HasSuffix(strings.TrimRight(raw, " "), "\\")
		switch {
		case wasCont:
			// More of the previous option's value or comment.
		case line == "":
			cont = false
		case line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			if i := strings.IndexByte(line, ']'); i > 0 {
				section = line[1:i]
			}
			cont = false
		default:
			if i := strings.IndexByte(line, '='); i >= 0 {
				out = append(out, optionLine{section, strings.TrimSpace(line[:i]), n})
			}
		}
	}
	return out
}

// firstBadLine finds the first line the unit parser would choke on, for
// an error message; 0 when it cannot tell.
func firstBadLine(data []byte) int {
	inSection := false
	for n, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		switch {
		case len(raw) >= unit.SYSTEMD_LINE_MAX:
			return n + 1
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return n + 1
			}
			inSection = true
		case !inSection || !strings.Contains(line, "="):
			return n + 1
		}
	}
	return 0
}
