// Package psi reads pressure stall information: the node's
// /proc/pressure/memory and a cgroup's memory.pressure, and kernel PSI
// triggers that wake a reader when stall time crosses a threshold.
package psi

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Record is one line of a pressure file. The averages are percentages of
// wall time some (or all) tasks were stalled over 10, 60 and 300 seconds;
// TotalUsec is the cumulative stall time in microseconds.
type Record struct {
	Avg10     float64 `json:"avg10"`
	Avg60     float64 `json:"avg60"`
	Avg300    float64 `json:"avg300"`
	TotalUsec uint64  `json:"total_usec"`
}

// Pressure is a parsed pressure file. HasFull is false for files that carry
// only a "some" line (cpu pressure on kernels before 5.13).
type Pressure struct {
	Some    Record `json:"some"`
	Full    Record `json:"full"`
	HasFull bool   `json:"has_full"`
}

// ErrEmpty is returned for an empty pressure file, which the kernel shows
// when PSI is switched off for the cgroup (cgroup.pressure = 0) or at boot
// (psi=0 on the kernel command line).
var ErrEmpty = errors.New("pressure file is empty (PSI disabled)")

// Parse parses the contents of a pressure file. It returns ErrEmpty for an
// empty file and a descriptive error for anything that is not the kernel's
// format; it never returns a partial result without an error. A "some" line
// is required; unknown trailing fields are tolerated, since newer kernels may
// add them.
func Parse(data []byte) (Pressure, error) {
	var p Pressure
	if len(bytes.TrimSpace(data)) == 0 {
		return p, ErrEmpty
	}
	// Lines and fields are cut in place: the engine parses one of these per
	// watched cgroup per tick, so this path allocates nothing.
	var haveSome bool
	for lineNo := 1; len(data) > 0; lineNo++ {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		kind, rest := nextField(line)
		if kind == nil {
			continue
		}
		var dst *Record
		switch string(kind) {
		case "some":
			if haveSome {
				return Pressure{}, fmt.Errorf("line %d: second \"some\" line", lineNo)
			}
			dst, haveSome = &p.Some, true
		case "full":
			if p.HasFull {
				return Pressure{}, fmt.Errorf("line %d: second \"full\" line", lineNo)
			}
			dst, p.HasFull = &p.Full, true
		default:
			return Pressure{}, fmt.Errorf("line %d: unknown kind %q, want some or full", lineNo, kind)
		}
		if err := parseRecord(rest, dst); err != nil {
			return Pressure{}, fmt.Errorf("line %d (%s): %w", lineNo, kind, err)
		}
	}
	if !haveSome {
		return Pressure{}, errors.New("no \"some\" line")
	}
	return p, nil
}

// nextField returns the first space-separated field of b and the rest, or
// nil when b holds only white space.
func nextField(b []byte) (field, rest []byte) {
	b = bytes.TrimLeft(b, " \t\r")
	if len(b) == 0 {
		return nil, nil
	}
	end := bytes.IndexAny(b, " \t\r")
	if end < 0 {
		return b, nil
	}
	return b[:end], b[end:]
}

func parseRecord(rest []byte, r *Record) error {
	all := rest
	const (
		has10 = 1 << iota
		has60
		has300
		hasTotal
		hasAll = has10 | has60 | has300 | hasTotal
	)
	var seen int
	for {
		var f []byte
		if f, rest = nextField(rest); f == nil {
			break
		}
		k, v, ok := bytes.Cut(f, []byte{'='})
		if !ok {
			return fmt.Errorf("field %q is not key=value", f)
		}
		var bit int
		var err error
		switch string(k) {
		case "avg10":
			bit = has10
			r.Avg10, err = parsePercent(v)
		case "avg60":
			bit = has60
			r.Avg60, err = parsePercent(v)
		case "avg300":
			bit = has300
			r.Avg300, err = parsePercent(v)
		case "total":
			bit = hasTotal
			r.TotalUsec, err = strconv.ParseUint(string(v), 10, 64)
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		if seen&bit != 0 {
			return fmt.Errorf("%s given twice", k)
		}
		seen |= bit
	}
	if seen != hasAll {
		return fmt.Errorf("want avg10, avg60, avg300 and total, got %q", bytes.TrimSpace(all))
	}
	return nil
}

func parsePercent(v []byte) (float64, error) {
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return 0, err
	}
	if f < 0 || f > 100 {
		return 0, fmt.Errorf("%v is not a percentage", f)
	}
	return f, nil
}

// ReadFile reads and parses one pressure file; errors name the file. Use it
// for occasional reads (the node's /proc/pressure/memory, one-off
// commands); the engine's per-cgroup reads go through cgroupfs handles.
func ReadFile(path string) (Pressure, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Pressure{}, fmt.Errorf("read pressure: %w", err)
	}
	p, err := Parse(data)
	if err != nil {
		return Pressure{}, fmt.Errorf("parse %s: %w", path, err)
	}
	return p, nil
}

// File reads one pressure file again and again through a descriptor kept
// open: read from offset 0, a pressure file gives fresh figures, so one
// pread replaces the open, read and close of ReadFile; the node's file is
// read on every tick. Not safe for concurrent use.
type File struct {
	path string
	fd   int
	buf  [256]byte
}

// NewFile returns a File for path; it is opened on the first Read.
func NewFile(path string) *File { return &File{path: path, fd: -1} }

// Read returns the figures now. Errors are ReadFile's; after one the file
// is opened again on the next Read.
func (f *File) Read() (Pressure, error) {
	if f.fd < 0 {
		fd, err := unix.Open(f.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return Pressure{}, fmt.Errorf("read pressure: %w", &os.PathError{Op: "open", Path: f.path, Err: err})
		}
		f.fd = fd
	}
	n, err := unix.Pread(f.fd, f.buf[:], 0)
	if err != nil {
		f.Close()
		return Pressure{}, fmt.Errorf("read pressure: %w", &os.PathError{Op: "read", Path: f.path, Err: err})
	}
	if n == len(f.buf) {
		// Two lines of four figures fit many times over; more is not a
		// pressure file.
		return Pressure{}, fmt.Errorf("parse %s: more than %d bytes", f.path, len(f.buf)-1)
	}
	p, err := Parse(f.buf[:n])
	if err != nil {
		return Pressure{}, fmt.Errorf("parse %s: %w", f.path, err)
	}
	return p, nil
}

// Close releases the descriptor.
func (f *File) Close() {
	if f.fd >= 0 {
		unix.Close(f.fd)
		f.fd = -1
	}
}
