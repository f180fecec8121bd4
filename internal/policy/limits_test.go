package policy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicySizeLimit(t *testing.T) {
	// A valid policy padded with a comment to exactly the limit is read.
	pad := MaxFileBytes - len(ruleHead) - len("#\n")
	exact := ruleHead + "#" + strings.Repeat("x", pad) + "\n"
	if len(exact) != MaxFileBytes {
		t.Fatalf("test document is %d bytes", len(exact))
	}
	if _, err := Parse("p.toml", []byte(exact)); err != nil {
		t.Errorf("policy of exactly %d bytes: %v", MaxFileBytes, err)
	}
	dir := t.TempDir()
	atLimit := filepath.Join(dir, "exact.toml")
	if err := os.WriteFile(atLimit, []byte(exact), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(atLimit); err != nil {
		t.Errorf("Load of a policy of exactly %d bytes: %v", MaxFileBytes, err)
	}

	// One byte more is refused by Parse, unparsed: the document is not
	// even TOML.
	_, err := Parse("p.toml", append([]byte("\x00"), exact...))
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs.Error() != fmt.Sprintf("p.toml: %d bytes, more than the 262144 bytes (256 KiB) memrelief reads from a policy or drop-in file", MaxFileBytes+1) {
		t.Errorf("Parse of %d bytes: %v", MaxFileBytes+1, err)
	}

	// Load refuses a large file before reading it. Sparse: 10 MB of
	// nothing on disk.
	big := filepath.Join(dir, "big.toml")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 10<<20); err != nil {
		t.Fatal(err)
	}
	_, err = Load(big)
	if !errors.As(err, &errs) || len(errs) != 1 || !strings.HasPrefix(errs.Error(), big+": 10485760 bytes, more than") {
		t.Errorf("Load of a 10 MB policy: %v", err)
	}
}

func TestReadFileStopsAtTheLimit(t *testing.T) {
	// A character device: its stat says 0 bytes and it never ends, like a
	// file growing while it is read.
	const endless = "/dev/zero"
	if _, err := os.Stat(endless); err != nil {
		t.Skipf("SKIP: %v; the read limit of a growing file is NOT tested", err)
	}
	data, err := ReadFile(endless)
	var se *SizeError
	if !errors.As(err, &se) || se.Size != -1 || data != nil {
		t.Errorf("ReadFile(%s) = %d bytes, %v; want a SizeError for a file that grew", endless, len(data), err)
	}
}

func TestErrorsShowTheFirstFew(t *testing.T) {
	const extra = 25
	_, err := Parse("p.toml", unknownKeysDoc(MaxShownErrors+extra))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse: %v", err)
	}
	if len(errs) != MaxShownErrors+extra {
		t.Errorf("%d errors kept; want all %d", len(errs), MaxShownErrors+extra)
	}
	lines := strings.Split(errs.Error(), "\n")
	if len(lines) != MaxShownErrors+1 {
		t.Fatalf("Error() prints %d lines; want %d and a count", len(lines), MaxShownErrors)
	}
	if lines[0] != "p.toml:1:1: k0: unknown key" {
		t.Errorf("first line %q; want the first problem in the file", lines[0])
	}
	if want := fmt.Sprintf("p.toml: ... and %d more problems", extra); lines[len(lines)-1] != want {
		t.Errorf("last line %q; want %q", lines[len(lines)-1], want)
	}
	if few := errs[:3]; few.Error() != strings.Join(lines[:3], "\n") {
		t.Errorf("3 errors print as %q", few.Error())
	}
}
