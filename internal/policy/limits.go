package policy

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// MaxFileBytes bounds a policy file or drop-in memrelief reads: the
// largest shipped policy is 5 KiB and a drop-in a few lines, while parsing
// a file of nothing but unknown keys peaks at about 1 KB of heap per key
// (30,000 short keys fit 256 KiB: 31 MB; 1 MiB could hold 115,000), in a
// daemon with MemoryHigh=96M. 256 KiB is still 50 times any real policy.
const MaxFileBytes = 256 << 10

// SizeError is a file refused for its size. Size is what a stat said, or
// -1 when the file grew past the limit while it was read.
type SizeError struct {
	Size int64
}

func (e *SizeError) Error() string {
	if e.Size < 0 {
		return fmt.Sprintf("more than the %d bytes (%d KiB) memrelief reads from a policy or drop-in file (it grew while read)", MaxFileBytes, MaxFileBytes>>10)
	}
	return fmt.Sprintf("%d bytes, more than the %d bytes (%d KiB) memrelief reads from a policy or drop-in file", e.Size, MaxFileBytes, MaxFileBytes>>10)
}

// ReadFile reads a policy or drop-in file of at most MaxFileBytes. A larger
// file is refused with a *SizeError before it is read; the read itself
// stops past the limit, so a file that grows meanwhile is refused too.
// Other errors are the file system's, unwrapped, for the caller to wrap.
func ReadFile(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadOpened(f)
}

// ReadOpened is ReadFile for a file the caller opened (through an
// os.Root, for one): the same limit, the same errors. It does not close f.
func ReadOpened(f *os.File) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > MaxFileBytes {
		return nil, &SizeError{Size: fi.Size()}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileBytes {
		return nil, &SizeError{Size: -1}
	}
	return data, nil
}

// sizeErrors is Parse's answer to a document over the limit.
func sizeErrors(name string, size int) Errors {
	return Errors{{File: name, Msg: (&SizeError{Size: int64(size)}).Error()}}
}

// isSizeError reports whether err is a *SizeError.
func isSizeError(err error) bool {
	var se *SizeError
	return errors.As(err, &se)
}
