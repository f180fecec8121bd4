package psi

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Pressure
		wantErr string
	}{
		{
			name: "node memory",
			in:   "some avg10=1.53 avg60=0.87 avg300=0.22 total=1234567\nfull avg10=0.50 avg60=0.10 avg300=0.02 total=4567\n",
			want: Pressure{
				Some:    Record{Avg10: 1.53, Avg60: 0.87, Avg300: 0.22, TotalUsec: 1234567},
				Full:    Record{Avg10: 0.50, Avg60: 0.10, Avg300: 0.02, TotalUsec: 4567},
				HasFull: true,
			},
		},
		{
			name: "some only (old cpu.pressure)",
			in:   "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
			want: Pressure{},
		},
		{name: "empty", in: "", wantErr: ErrEmpty.Error()},
		{name: "blank", in: "\n \n", wantErr: ErrEmpty.Error()},
		{name: "no some", in: "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", wantErr: `no "some" line`},
		{name: "unknown kind", in: "most avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", wantErr: `line 1: unknown kind "most"`},
		{name: "missing total", in: "some avg10=0.00 avg60=0.00 avg300=0.00\n", wantErr: "want avg10, avg60, avg300 and total"},
		{name: "bad number", in: "some avg10=x avg60=0.00 avg300=0.00 total=0\n", wantErr: "avg10: strconv.ParseFloat"},
		{name: "over 100", in: "some avg10=100.01 avg60=0.00 avg300=0.00 total=0\n", wantErr: "not a percentage"},
		{name: "negative total", in: "some avg10=0 avg60=0 avg300=0 total=-1\n", wantErr: "total: strconv.ParseUint"},
		{name: "duplicate key", in: "some avg10=0 avg10=0 avg60=0 avg300=0 total=0\n", wantErr: "avg10 given twice"},
		{name: "duplicate line", in: "some avg10=0 avg60=0 avg300=0 total=0\nsome avg10=0 avg60=0 avg300=0 total=0\n", wantErr: `line 2: second "some"`},
		{name: "not key=value", in: "some avg10\n", wantErr: "not key=value"},
		{
			name: "unknown extra field tolerated",
			in:   "some avg10=0.10 avg60=0.20 avg300=0.30 total=5 newfield=7\n",
			want: Pressure{Some: Record{Avg10: 0.1, Avg60: 0.2, Avg300: 0.3, TotalUsec: 5}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse() error = %v, want one containing %q", err, tt.wantErr)
				}
				if got != (Pressure{}) {
					t.Errorf("Parse() returned partial result %+v with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if got != tt.want {
				t.Errorf("Parse() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseEmptyIsErrEmpty(t *testing.T) {
	if _, err := Parse(nil); !errors.Is(err, ErrEmpty) {
		t.Fatalf("Parse(nil) error = %v, want ErrEmpty", err)
	}
}

// The checked-in files are real kernel output; see testdata/README.
func TestParseRealFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/real/*")
	if len(files) == 0 {
		t.Fatal("no real pressure files under testdata/real")
	}
	for _, f := range files {
		if strings.HasSuffix(f, "README") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Parse(data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if strings.Contains(f, "memory") && !p.HasFull {
			t.Errorf("%s: memory pressure without a full line", f)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("some avg10=1.53 avg60=0.87 avg300=0.22 total=1234567\nfull avg10=0.50 avg60=0.10 avg300=0.02 total=4567\n"))
	f.Add([]byte("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			if p != (Pressure{}) {
				t.Fatalf("partial result %+v with error %v", p, err)
			}
			return
		}
		for _, r := range []Record{p.Some, p.Full} {
			if r.Avg10 < 0 || r.Avg10 > 100 || r.Avg60 < 0 || r.Avg60 > 100 || r.Avg300 < 0 || r.Avg300 > 100 {
				t.Fatalf("accepted out-of-range average: %+v", r)
			}
		}
	})
}

func TestReadFile(t *testing.T) {
	p, err := ReadFile("testdata/real/node-memory-hybrid-6.18")
	if err != nil || !p.HasFull {
		t.Fatalf("ReadFile real file: %+v, %v", p, err)
	}
	if _, err := ReadFile("testdata/nope"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "memory")
	os.WriteFile(bad, []byte("some avg10=x\n"), 0o644)
	if _, err := ReadFile(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("malformed file: error %v does not name it", err)
	}
}

// A File gives fresh figures on each Read through its one descriptor, and
// names the file in its errors.
func TestFileReadsAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "memory")
	write := func(avg10 string) {
		t.Helper()
		data := "some avg10=" + avg10 + " avg60=0.00 avg300=0.00 total=10\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=5\n"
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := NewFile(path)
	defer f.Close()
	if _, err := f.Read(); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Read of a missing file: %v, want an error naming it", err)
	}
	write("1.50")
	p, err := f.Read()
	if err != nil || p.Some.Avg10 != 1.5 {
		t.Fatalf("first Read: %+v, %v", p, err)
	}
	fd := f.fd
	write("7.25") // in place: the same file, new figures
	if p, err = f.Read(); err != nil || p.Some.Avg10 != 7.25 || f.fd != fd {
		t.Fatalf("second Read: %+v, %v (descriptor kept: %v)", p, err, f.fd == fd)
	}
	if err := os.WriteFile(path, bytes.Repeat([]byte("x"), 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Read(); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Read of a 4 KiB file: %v, want an error naming it", err)
	}
}
