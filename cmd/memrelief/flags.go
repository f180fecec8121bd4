package main

import (
	"flag"
	"io"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/paths"
)

// newFlagSet returns a flag set that reports errors instead of exiting, so
// dispatch decides the exit code.
func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("memrelief "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}

// host is the view of the machine every inspecting command shares.
type host struct {
	roots  func() paths.Roots
	prefix *string
	noDBus *bool
}

// hostFlags registers --root and the per-root overrides, and --no-dbus.
func hostFlags(fs *flag.FlagSet) *host {
	h := &host{}
	h.roots, h.prefix = rootFlags(fs)
	h.noDBus = fs.Bool("no-dbus", false, "do not use D-Bus (systemd's API, and memrelief's own bus name)")
	return h
}

// live reports whether the roots are the running host's, which is when
// probes of the kernel and D-Bus mean something.
func (h *host) live() bool { return *h.prefix == "/" }

// statFS is statfs(2) on the live host and file-based inference for any
// other root: a fixture tree on tmpfs must not pass for a v1 host.
func (h *host) statFS() cgroupfs.StatFS {
	if h.live() {
		return cgroupfs.SysStatFS
	}
	return cgroupfs.FromFiles
}

// rootFlags registers the flags that move memrelief's view of the host file
// systems, and returns a function that yields the resulting roots after
// parsing. --root moves them all (for fixture trees and chroots); the
// individual flags override one root each.
func rootFlags(fs *flag.FlagSet) (func() paths.Roots, *string) {
	prefix := fs.String("root", "/", "directory the host's file systems are found under (for fixture trees)")
	var r paths.Roots
	fs.StringVar(&r.Cgroup, "path.cgroup", "", "cgroup mount point (default ROOT/sys/fs/cgroup)")
	fs.StringVar(&r.Proc, "path.proc", "", "procfs mount point (default ROOT/proc)")
	fs.StringVar(&r.Etc, "path.etc", "", "configuration directory (default ROOT/etc)")
	fs.StringVar(&r.Kubelet, "path.kubelet", "", "kubelet state directory (default ROOT/var/lib/kubelet)")
	fs.StringVar(&r.Log, "path.log", "", "log directory holding pods/ and containers/ (default ROOT/var/log)")
	fs.StringVar(&r.Run, "path.run", "", "runtime directory (default ROOT/run)")
	return func() paths.Roots {
		base := paths.Under(*prefix)
		for _, o := range []struct {
			dst *string
			val string
		}{
			{&base.Cgroup, r.Cgroup}, {&base.Proc, r.Proc}, {&base.Etc, r.Etc},
			{&base.Kubelet, r.Kubelet}, {&base.Log, r.Log}, {&base.Run, r.Run},
		} {
			if o.val != "" {
				*o.dst = o.val
			}
		}
		return base
	}, prefix
}
