// Package state keeps the few facts memrelief must not lose when it
// crashes: the original value of every global knob it changed and the
// previous value of every unit property it set, so the next start can put
// them back. Records are small JSON files written atomically.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Store is a directory of records. The daemon keeps it in /run/memrelief:
// it survives the daemon's crash, and a reboot resets the knobs it guards
// anyway.
type Store struct {
	Dir string
}

// Load reads record name into v. It returns false, nil when there is no
// such record. A record that does not parse is an error naming the file;
// the caller decides whether to trust nothing (and move it aside).
func (s Store) Load(name string, v any) (bool, error) {
	path := filepath.Join(s.Dir, name+".json")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("parse state %s: %w", path, err)
	}
	return true, nil
}

// Save writes record name atomically: a reader (or the next start after a
// crash in the middle) sees the old record or the new one, never a torn one.
func (s Store) Save(name string, v any) error {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(s.Dir, name+".*.tmp")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write state %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync state %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state %s: %w", tmp.Name(), err)
	}
	path := filepath.Join(s.Dir, name+".json")
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write state %s: %w", path, err)
	}
	return nil
}

// Remove deletes record name; a missing record is not an error.
func (s Store) Remove(name string) error {
	err := os.Remove(filepath.Join(s.Dir, name+".json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove state: %w", err)
	}
	return nil
}

// SetAside renames a record that cannot be trusted to name.json.corrupt, so
// it is kept for a person to read but never read again by memrelief.
func (s Store) SetAside(name string) error {
	path := filepath.Join(s.Dir, name+".json")
	if err := os.Rename(path, path+".corrupt"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("set aside state: %w", err)
	}
	return nil
}

// SweepTemporaries removes the temporary files of saves that never got
// to their rename: a crash (SIGKILL) between Save's create and rename
// leaves one behind, and every crash would add one. Only the daemon that
// holds the instance lock may call it, before it saves anything: then no
// save is in flight. It returns the names removed.
func (s Store) SweepTemporaries() ([]string, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list state: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".tmp") || !e.Type().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(s.Dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove state temporary: %w", err))
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}

// List returns the names of the records whose names start with prefix,
// sorted. Set-aside and temporary files are not records.
func (s Store) List(prefix string) ([]string, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list state: %w", err)
	}
	var out []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if ok && strings.HasPrefix(name, prefix) && e.Type().IsRegular() {
			out = append(out, name)
		}
	}
	return out, nil // ReadDir sorts by name
}
