package dropin

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/memrelief/memrelief/internal/paths"
	"github.com/memrelief/memrelief/internal/policy"
)

// rootOf returns the directory a drop-in path is confined to: the parent
// of the root (Etc, Run or Usr) its load-path directory lies under. With
// paths.Under(prefix) that is prefix; on the running host it is "/",
// where symlinks are followed as systemd follows them. "" means file is
// under none of them (a path systemd gave over D-Bus), which is read as is.
func rootOf(r paths.Roots, file string) string {
	for _, base := range []string{r.Etc, r.Run, r.Usr} {
		if base != "" && within(base, file) {
			return filepath.Dir(filepath.Clean(base))
		}
	}
	return ""
}

// within reports whether p is dir or below it, lexically.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// maxSymlinks is the kernel's limit on symlinks in one lookup (ELOOP).
const maxSymlinks = 40

// resolveIn resolves p, a path below root, as the kernel would if root
// were "/", like systemd's chase() with --root: an absolute symlink target
// starts again at root, and ".." stops at root. The result is below root,
// as a path relative to it ("." for root itself). A component that does
// not exist ends the walk: the rest is joined as it is, for the open to
// fail on.
func resolveIn(root, p string) (string, error) {
	rel, err := filepath.Rel(root, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("%s is not under %s", p, root)
	}
	todo := strings.Split(rel, "/")
	done := "" // resolved so far, relative to root, no symlinks
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if done != "" {
				done = filepath.Dir(done)
				if done == "." {
					done = ""
				}
			}
			continue
		}
		next := filepath.Join(done, c)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil {
			return filepath.Join(append([]string{next}, todo...)...), nil
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			done = next
			continue
		}
		if links++; links > maxSymlinks {
			return "", fmt.Errorf("resolve %s under %s: more than %d symlinks", p, root, maxSymlinks)
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", fmt.Errorf("resolve %s under %s: %w", p, root, err)
		}
		if filepath.IsAbs(target) {
			done = ""
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	if done == "" {
		return ".", nil
	}
	return done, nil
}

// readConfined reads a drop-in with policy's size limit, resolving its
// symlinks inside its root (see rootOf) when a root other than "/" is
// injected, so a link in a fixture tree or an image never reads the
// host's files. The open goes through an os.Root, which refuses an escape
// even if a link changed after it was resolved.
func readConfined(r paths.Roots, file string) ([]byte, error) {
	var data []byte
	err := confined(r, file, func(root *os.Root, rel string) error {
		if root == nil {
			var err error
			data, err = policy.ReadFile(file)
			return err
		}
		f, err := root.Open(rel)
		if err != nil {
			return err
		}
		defer f.Close()
		data, err = policy.ReadOpened(f)
		return err
	})
	return data, err
}

// statConfined is os.Stat of a drop-in, resolved as readConfined resolves
// it.
func statConfined(r paths.Roots, file string) (os.FileInfo, error) {
	var fi os.FileInfo
	err := confined(r, file, func(root *os.Root, rel string) error {
		var err error
		if root == nil {
			fi, err = os.Stat(file)
		} else {
			fi, err = root.Stat(rel)
		}
		return err
	})
	return fi, err
}

// confined resolves file inside the injected root that holds it and calls
// do with an os.Root of it and the path below it; on the live host (no root
// or "/") do gets a nil root and uses file as it is.
func confined(r paths.Roots, file string, do func(root *os.Root, rel string) error) error {
	root := rootOf(r, file)
	if root == "" || root == "/" {
		return do(nil, file)
	}
	rel, err := resolveIn(root, file)
	if err != nil {
		return err
	}
	rt, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer rt.Close()
	return do(rt, rel)
}
