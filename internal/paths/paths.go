// Package paths names the host file system roots memrelief reads and writes.
//
// Every reader in memrelief takes its root from a Roots value instead of a
// literal path, so the same code runs against the real host and against the
// fixture trees under testdata/ directories.
package paths

import "path/filepath"

// Roots holds the directories memrelief treats as the host's file systems.
type Roots struct {
	Cgroup  string // mount point of the cgroup hierarchy, /sys/fs/cgroup
	Proc    string // procfs, /proc
	Etc     string // configuration, /etc
	Kubelet string // kubelet state, /var/lib/kubelet
	Log     string // logs, /var/log (pods and containers live under it)
	Run     string // runtime state, /run
	Lib     string // persistent state of memrelief, /var/lib/memrelief
	Usr     string // vendor files, /usr (unit files, D-Bus policy)
}

// Host returns the roots of the running host.
func Host() Roots { return Under("/") }

// Under returns the roots of a host whose file systems are all mounted below
// prefix, laid out as on a real host: prefix/sys/fs/cgroup, prefix/proc, ...
// Fixture trees use this layout.
func Under(prefix string) Roots {
	j := func(p string) string { return filepath.Join(prefix, p) }
	return Roots{
		Cgroup:  j("sys/fs/cgroup"),
		Proc:    j("proc"),
		Etc:     j("etc"),
		Kubelet: j("var/lib/kubelet"),
		Log:     j("var/log"),
		Run:     j("run"),
		Lib:     j("var/lib/memrelief"),
		Usr:     j("usr"),
	}
}
