package procinfo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/prometheus/procfs"
)

// Process is what explain shows of one process.
type Process struct {
	PID                              int
	Comm                             string
	Cmdline                          []string
	RSSAnon, RSSFile, RSSShmem       uint64 // bytes, from /proc/PID/status
	InotifyInstances, InotifyWatches int
	// InotifyErr is set when the fds could not be read (another user's
	// process without CAP_SYS_PTRACE); the counts are then unknown, not 0.
	InotifyErr error
}

// RSS is the resident set size: anon + file + shmem.
func (p Process) RSS() uint64 { return p.RSSAnon + p.RSSFile + p.RSSShmem }

// ErrNoProcess means the process exited before it could be read.
var ErrNoProcess = errors.New("process is gone")

// ReadProcess reads one process below procRoot. A kernel thread (no RSS
// lines in status) reads as zero RSS. An exited process gives ErrNoProcess.
func ReadProcess(procRoot string, pid int) (Process, error) {
	fsys, err := procfs.NewFS(procRoot)
	if err != nil {
		return Process{}, fmt.Errorf("open procfs at %s: %w", procRoot, err)
	}
	p, err := fsys.Proc(pid)
	if err != nil {
		return Process{}, noProc(pid, err)
	}
	st, err := p.NewStatus()
	if err != nil {
		return Process{}, noProc(pid, err)
	}
	out := Process{PID: pid, Comm: st.Name, RSSAnon: st.RssAnon, RSSFile: st.RssFile, RSSShmem: st.RssShmem}
	if cmd, err := p.CmdLine(); err == nil {
		out.Cmdline = cmd
	}
	out.InotifyInstances, out.InotifyWatches, out.InotifyErr = countInotify(procRoot, p, pid)
	return out, nil
}

func noProc(pid int, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
	}
	return fmt.Errorf("read pid %d: %w", pid, err)
}

// countInotify counts the inotify instances of a process and the watches
// they hold, from fd link targets and fdinfo. A log agent that watches every
// directory under /var/log/pods holds one watch per directory, so this
// number points at it.
func countInotify(procRoot string, p procfs.Proc, pid int) (instances, watches int, err error) {
	fdDir := filepath.Join(procRoot, strconv.Itoa(pid), "fd")
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		return 0, 0, fmt.Errorf("list %s: %w", fdDir, err)
	}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err != nil || target != "anon_inode:inotify" {
			continue // closed since the listing, or not inotify
		}
		info, err := p.FDInfo(e.Name())
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return instances, watches, fmt.Errorf("read fdinfo %d/%s: %w", pid, e.Name(), err)
		}
		instances++
		watches += len(info.InotifyInfos)
	}
	return instances, watches, nil
}
