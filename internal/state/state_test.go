package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type rec struct {
	Original int `json:"original"`
	Set      int `json:"set"`
}

func TestStoreRoundTrip(t *testing.T) {
	s := Store{Dir: filepath.Join(t.TempDir(), "memrelief")}
	var r rec
	if ok, err := s.Load("vfs", &r); ok || err != nil {
		t.Fatalf("Load of a missing record = %v, %v", ok, err)
	}
	if err := s.Save("vfs", rec{100, 150}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Load("vfs", &r); !ok || err != nil || r != (rec{100, 150}) {
		t.Fatalf("Load = %v, %v, %+v", ok, err, r)
	}
	ents, _ := os.ReadDir(s.Dir)
	if len(ents) != 1 {
		t.Errorf("temporary files left behind: %v", ents)
	}
	if err := s.Remove("vfs"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("vfs"); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
}

func TestStoreCorruptRecord(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(s.Dir, "vfs.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	var r rec
	ok, err := s.Load("vfs", &r)
	if ok || err == nil || !strings.Contains(err.Error(), "vfs.json") {
		t.Fatalf("corrupt record: %v, %v", ok, err)
	}
	if err := s.SetAside("vfs"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Load("vfs", &r); ok || err != nil {
		t.Fatalf("after SetAside: %v, %v", ok, err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "vfs.json.corrupt")); err != nil {
		t.Fatalf("set-aside copy missing: %v", err)
	}
}
