package driver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DetectTree reports the driver the cgroup tree itself shows under memDir,
// the top of the hierarchy the memory controller lives in (Roots.Cgroup on
// v2, Roots.Cgroup/memory on v1 and hybrid). The kubelet creates
// kubepods.slice under the systemd driver and kubepods under cgroupfs:
//   - kubepods.slice only: Installed, Driver Systemd;
//   - kubepods only: Installed, Driver Cgroupfs;
//   - both: Installed, Driver Both (pods were started under two drivers);
//   - neither: not Installed (no Kubernetes pods), Driver Unknown;
//   - memDir unreadable: not Installed, Err set.
//
// A kubelet with a custom --cgroup-root puts kubepods below that root; this
// looks only at the top.
func DetectTree(memDir string) Component {
	c := Component{Name: NameTree}
	if _, err := os.Stat(memDir); err != nil {
		c.Err = fmt.Errorf("cgroup tree: %w", err)
		c.Why = fmt.Sprintf("memory hierarchy %s unreadable", memDir)
		return c
	}
	sd, err1 := isDir(filepath.Join(memDir, "kubepods.slice"))
	fsd, err2 := isDir(filepath.Join(memDir, "kubepods"))
	c.Err = errors.Join(err1, err2)
	switch {
	case sd && fsd:
		c.Installed, c.Driver = true, Both
		c.Why = "Kubernetes pod cgroups present"
		c.Evidence = fmt.Sprintf("both kubepods.slice (systemd driver) and kubepods (cgroupfs driver) exist in %s", memDir)
	case sd:
		c.Installed, c.Driver = true, Systemd
		c.Why = "Kubernetes pod cgroups present"
		c.Evidence = fmt.Sprintf("kubepods.slice exists in %s (systemd driver)", memDir)
	case fsd:
		c.Installed, c.Driver = true, Cgroupfs
		c.Why = "Kubernetes pod cgroups present"
		c.Evidence = fmt.Sprintf("kubepods exists in %s (cgroupfs driver)", memDir)
	default:
		c.Why = fmt.Sprintf("neither kubepods.slice nor kubepods in %s: no Kubernetes pods", memDir)
	}
	return c
}

// isDir reports whether p is a directory; absence is not an error.
func isDir(p string) (bool, error) {
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cgroup tree: %w", err)
	}
	return fi.IsDir(), nil
}
