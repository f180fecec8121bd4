package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestMessageIDs(t *testing.T) {
	seen := map[string]Kind{}
	id := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, k := range Kinds() {
		m := k.MessageID()
		if !id.MatchString(m) {
			t.Errorf("%s: MESSAGE_ID %q is not 128 bits of hex", k, m)
		}
		if other, dup := seen[m]; dup {
			t.Errorf("%s and %s share MESSAGE_ID %s", k, other, m)
		}
		seen[m] = k
	}
	if len(seen) < 9 {
		t.Errorf("only %d kinds", len(seen))
	}
}

func TestFieldNamesAreJournalFields(t *testing.T) {
	valid := regexp.MustCompile(`^[A-Z0-9][A-Z0-9_]*$`)
	for _, f := range []string{FieldUnit, FieldCgroup, FieldPodNamespace, FieldPodName, FieldRule, FieldLevel,
		FieldPreviousLevel, FieldReasons, FieldAction, FieldResult, FieldDryRun, FieldRequestedBytes,
		FieldReclaimedBytes, FieldSlabReclaimable, FieldSlabReclaimableAfter, FieldMemoryCurrent,
		FieldMemoryCurrentAfter, FieldPSISomeAvg10, FieldPSIFullAvg10, FieldDurationMs, FieldValueBefore,
		FieldValueAfter, FieldPolicy, FieldError} {
		if !valid.MatchString(f) {
			t.Errorf("field %q is not a valid journal field name", f)
		}
	}
}

func TestText(t *testing.T) {
	var buf bytes.Buffer
	s := &Text{W: &buf, MinPriority: Info}
	e := Event{Time: time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC), Kind: LevelChanged, Priority: Notice,
		Message: "kubepods-burstable-pod1.slice entered level high",
		Fields:  map[string]string{FieldUnit: "kubepods-burstable-pod1.slice", FieldReasons: "slab_reclaimable 2G >= 1G", FieldLevel: "high"}}
	s.Emit(e)
	s.Emit(Event{Priority: Debug, Message: "dropped"})
	want := `2026-11-24T06:00:00.000Z notice kubepods-burstable-pod1.slice entered level high LEVEL=high REASONS="slab_reclaimable 2G >= 1G" UNIT=kubepods-burstable-pod1.slice` + "\n"
	if buf.String() != want {
		t.Errorf("got  %q\nwant %q", buf.String(), want)
	}
	if strings.Contains(buf.String(), "dropped") {
		t.Error("debug event written at info level")
	}
}

func TestParsePriority(t *testing.T) {
	for in, want := range map[string]Priority{"debug": Debug, "info": Info, "warn": Warning, "error": Err, "": Info} {
		if got, err := ParsePriority(in); err != nil || got != want {
			t.Errorf("ParsePriority(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParsePriority("loud"); err == nil {
		t.Error("accepted an unknown level")
	}
}
