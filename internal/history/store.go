package history

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Store keeps series on disk, one file per series, in Dir (the daemon
// passes /var/lib/memrelief/history, which outlives reboots and upgrades).
//
// One file per series rather than one per node: a damaged file costs one
// cgroup's history, not the node's; a cgroup that is gone is a file that
// stops being written and ages out (Prune) without rewriting the others;
// and the daemon can spread saves over ticks instead of writing every
// series at once.
type Store struct {
	Dir string
	// MaxFiles bounds the files Prune leaves in Dir, DefaultMaxFiles when
	// 0: a node that runs many short-lived pods leaves one file per gone
	// cgroup for as long as the longest tier spans (14 days by default).
	MaxFiles int
}

// DefaultMaxFiles is four times the 1,000 cgroups a daemon's memory
// budget is sized for, so live series are never pruned for number; 4,096
// full default series take about 40 MiB.
const DefaultMaxFiles = 4096

const (
	fileExt    = ".hist"
	corruptExt = ".corrupt"
	tmpExt     = ".tmp"
)

// FileName is the file series key is kept in: the key's last element,
// made safe, for a person listing the directory, then a hash of the whole
// key, so any key fits a file name and two keys never share one.
func FileName(key string) string {
	sum := sha256.Sum256([]byte(key))
	base := path.Base("/" + strings.Trim(key, "/"))
	var b strings.Builder
	for _, r := range base {
		if b.Len() >= 48 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_', r == '@':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := b.String()
	if name == "" || name == "." || name == ".." {
		name = "root"
	}
	return name + "-" + hex.EncodeToString(sum[:12]) + fileExt
}

// Save writes s atomically (a temporary file, fsync, rename, fsync of the
// directory): after a crash the file holds the old series or the new one,
// never a torn one.
func (st Store) Save(s *Series) error { return st.write(s.key, encode(nil, s)) }

// write stores data, the encoded series of key, as Save does.
func (st Store) write(key string, data []byte) error {
	if err := os.MkdirAll(st.Dir, 0o755); err != nil {
		return fmt.Errorf("create history directory %s: %w", st.Dir, err)
	}
	final := filepath.Join(st.Dir, FileName(key))
	tmp, err := os.CreateTemp(st.Dir, FileName(key)+".*"+tmpExt)
	if err != nil {
		return fmt.Errorf("save history of %s: %w", key, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("save history of %s to %s: %w", key, final, err)
	}
	// The rename is durable only once the directory is.
	if d, err := os.Open(st.Dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("sync %s: %w", st.Dir, err)
		}
	}
	return nil
}

// Load reads the series stored under key into a new Series with the given
// tiers (DefaultTiers when nil). Its return states:
//   - (s, nil): the stored history;
//   - (nil, nil): nothing stored for key;
//   - (nil, err): the file could not be trusted (damaged, truncated, of
//     another version or another key, or larger than any history file can
//     be, which is refused unread) and was renamed to *.corrupt for a
//     person to read; err names the file and what was wrong. The caller
//     logs it and starts a fresh series: a bad file is never fatal.
//
// Errors reading the directory itself are returned the same way, without
// renaming anything.
func (st Store) Load(key string, tiers []Tier) (*Series, error) {
	s, err := NewSeries(key, tiers)
	if err != nil {
		return nil, err
	}
	file, d, found, err := st.read(key)
	if !found {
		return nil, err
	}
	if err != nil {
		bad := fmt.Errorf("history %s: %w", file, err)
		if rerr := os.Rename(file, file+corruptExt); rerr != nil {
			return nil, errors.Join(bad, fmt.Errorf("set aside %s: %w", file, rerr))
		}
		return nil, fmt.Errorf("%w; set aside as %s", bad, filepath.Base(file)+corruptExt)
	}
	s.restore(d)
	return s, nil
}

// read reads and decodes the file of key. found is false when there is no
// file or it cannot be read (err says why, nil for no file); with found
// set, err says why the file cannot be trusted.
func (st Store) read(key string) (file string, d decoded, found bool, err error) {
	file = filepath.Join(st.Dir, FileName(key))
	// Looked at before it is opened: opening a FIFO would block the
	// caller (the engine's loop) until something writes to it.
	li, err := os.Lstat(file)
	if errors.Is(err, fs.ErrNotExist) {
		return file, d, false, nil
	}
	if err != nil {
		return file, d, false, fmt.Errorf("read history %s: %w", file, err)
	}
	if !li.Mode().IsRegular() {
		return file, d, true, fmt.Errorf("not a regular file (%v)", li.Mode().Type())
	}
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return file, d, false, nil // removed meanwhile
	}
	if err != nil {
		return file, d, false, fmt.Errorf("read history %s: %w", file, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return file, d, false, fmt.Errorf("read history %s: %w", file, err)
	}
	data, err := readAtMost(f, fi.Size(), int64(maxFileSize))
	if errors.Is(err, errTooLarge) {
		return file, d, true, err
	}
	if err != nil {
		return file, d, false, fmt.Errorf("read history %s: %w", file, err)
	}
	d, err = decode(data)
	if err == nil && d.key != key {
		err = fmt.Errorf("holds the history of %q, not %q", d.key, key)
	}
	return file, d, true, err
}

var errTooLarge = errors.New("larger than a history file can be")

// readAtMost reads r to its end if that is at most limit bytes; size is
// what a stat said, so a larger file is refused without reading it and the
// buffer is sized once. The read itself stops past limit, so a file that
// grows meanwhile (or never ends) costs limit bytes at most. A refusal
// wraps errTooLarge and says the size.
func readAtMost(r io.Reader, size, limit int64) ([]byte, error) {
	if size > limit {
		return nil, fmt.Errorf("%d bytes, %w (at most %d bytes)", size, errTooLarge, limit)
	}
	// One spare byte, so the end is seen without growing the buffer.
	buf := make([]byte, 0, max(size, 0)+1)
	lr := io.LimitReader(r, limit+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if int64(len(buf)) > limit {
		return nil, fmt.Errorf("more than %d bytes (it grew while read), %w", limit, errTooLarge)
	}
	return buf, nil
}

// Read returns the series stored under key with the tiers it was saved
// with, whatever the caller's policy says, and changes nothing: it is for
// readers such as explain, which show what the daemon kept and must not
// move its files. (nil, nil) means nothing is stored for key; a file that
// cannot be trusted is an error naming it.
func (st Store) Read(key string) (*Series, error) {
	file, d, found, err := st.read(key)
	if !found {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", file, err)
	}
	tiers := make([]Tier, len(d.tiers))
	for i, t := range d.tiers {
		tiers[i] = Tier{Step: time.Duration(t.step) * time.Second, Len: t.length}
	}
	s, err := NewSeries(key, tiers)
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", file, err)
	}
	s.restore(d)
	return s, nil
}

// Remove deletes the file of key; a missing file is not an error.
func (st Store) Remove(key string) error {
	file := filepath.Join(st.Dir, FileName(key))
	if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove history %s: %w", file, err)
	}
	return nil
}

// Prune deletes history files not written for maxAge before now: the
// daemon saves live series regularly, so those are cgroups that are gone.
// Set-aside (*.corrupt) and left-over temporary files age out the same
// way. Of what is left, it keeps the MaxFiles written most recently and
// deletes the rest, so the directory stays bounded however fast cgroups
// come and go. It returns the names it removed; files it cannot remove
// are errors, but Prune goes on with the others.
func (st Store) Prune(now time.Time, maxAge time.Duration) ([]string, error) {
	entries, err := os.ReadDir(st.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list history %s: %w", st.Dir, err)
	}
	var removed []string
	var errs []error
	remove := func(name string) {
		if err := os.Remove(filepath.Join(st.Dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("prune history %s: %w", filepath.Join(st.Dir, name), err))
			return
		}
		removed = append(removed, name)
	}
	type kept struct {
		name string
		mod  time.Time
	}
	var keep []kept
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !(strings.HasSuffix(name, fileExt) || strings.HasSuffix(name, corruptExt) || strings.HasSuffix(name, tmpExt)) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if now.Sub(info.ModTime()) < maxAge {
			keep = append(keep, kept{name, info.ModTime()})
			continue
		}
		remove(name)
	}
	maxFiles := st.MaxFiles
	if maxFiles <= 0 {
		maxFiles = DefaultMaxFiles
	}
	if len(keep) > maxFiles {
		// Oldest first; names break ties so the choice does not depend on
		// the order the directory lists them in.
		slices.SortFunc(keep, func(a, b kept) int {
			if c := a.mod.Compare(b.mod); c != 0 {
				return c
			}
			return strings.Compare(a.name, b.name)
		})
		for _, k := range keep[:len(keep)-maxFiles] {
			remove(k.name)
		}
	}
	return removed, errors.Join(errs...)
}
