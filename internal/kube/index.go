package kube

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/memrelief/memrelief/internal/paths"
)

// Pod is a pod as its log directory names it.
type Pod struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	// Containers by name, sorted; init and ephemeral containers included,
	// since the kubelet logs them alike.
	Containers []Container `json:"containers"`
}

// Container is one container of a pod.
type Container struct {
	Name string `json:"name"`
	// IDs are the runtime container IDs seen for it in /var/log/containers,
	// sorted; one per instance whose log link still exists (restarts add
	// instances, the kubelet removes old links).
	IDs []string `json:"ids,omitempty"`
	// Restarts is the highest N of its N.log files: the restart count of
	// the newest instance with a log, -1 when there is no N.log.
	Restarts int `json:"restarts"`
}

// Index maps pod UIDs, namespace/name pairs and container IDs to pods. It is
// built once by LoadIndex and read-only after; it is safe for concurrent
// readers.
type Index struct {
	pods   map[string]*Pod
	byName map[string][]string // "namespace/name" -> UIDs
	byID   map[string]idRef
	// Skipped lists the entries of the log directories that do not follow
	// the kubelet's naming, each with the reason; they are left out.
	Skipped []string
}

type idRef struct{ uid, container string }

// LoadIndex reads Roots.Log/pods and Roots.Log/containers once and returns
// the index. A host without /var/log/pods (no kubelet) gives an empty index
// and no error; a missing /var/log/containers gives an index without
// container IDs. Entries that do not parse are listed in Index.Skipped, not
// fatal. It fails only when a directory exists but cannot be read.
func LoadIndex(roots paths.Roots) (*Index, error) {
	ix := &Index{pods: map[string]*Pod{}, byName: map[string][]string{}, byID: map[string]idRef{}}
	podsDir := filepath.Join(roots.Log, "pods")
	ents, err := os.ReadDir(podsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return ix, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pod logs %s: %w", podsDir, err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		ns, name, uid, err := ParsePodLogDir(e.Name())
		if err != nil {
			ix.Skipped = append(ix.Skipped, fmt.Sprintf("%s: %v", filepath.Join(podsDir, e.Name()), err))
			continue
		}
		p := &Pod{Namespace: ns, Name: name, UID: uid}
		if err := readContainers(filepath.Join(podsDir, e.Name()), p); err != nil {
			return nil, err
		}
		ix.pods[uid] = p
		key := ns + "/" + name
		ix.byName[key] = append(ix.byName[key], uid)
	}
	for _, uids := range ix.byName {
		slices.Sort(uids)
	}
	if err := ix.readContainerLinks(filepath.Join(roots.Log, "containers")); err != nil {
		return nil, err
	}
	return ix, nil
}

// readContainers fills p.Containers from the container directories of one
// pod log directory.
func readContainers(dir string, p *Pod) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read pod log dir %s: %w", dir, err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		c := Container{Name: e.Name(), Restarts: -1}
		logs, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("read container log dir %s: %w", filepath.Join(dir, e.Name()), err)
		}
		for _, l := range logs {
			// N.log is the live file; rotated ones are N.log.<time>[.gz].
			if n, err := strconv.Atoi(strings.TrimSuffix(l.Name(), ".log")); err == nil && strings.HasSuffix(l.Name(), ".log") && n > c.Restarts {
				c.Restarts = n
			}
		}
		p.Containers = append(p.Containers, c)
	}
	slices.SortFunc(p.Containers, func(a, b Container) int { return strings.Compare(a.Name, b.Name) })
	return nil
}

// readContainerLinks maps container IDs from /var/log/containers. The link
// target names the pod directory (and so the UID) exactly; when it cannot be
// read or parsed, the pod is found by namespace and name if that is unique.
func (ix *Index) readContainerLinks(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read container logs %s: %w", dir, err)
	}
	for _, e := range ents {
		full := filepath.Join(dir, e.Name())
		pod, ns, container, id, err := ParseContainerLogName(e.Name())
		if err != nil {
			ix.Skipped = append(ix.Skipped, fmt.Sprintf("%s: %v", full, err))
			continue
		}
		uid := ""
		if target, err := os.Readlink(full); err == nil {
			// /var/log/pods/<ns>_<pod>_<uid>/<container>/<n>.log
			if tns, tname, tuid, err := ParsePodLogDir(path.Base(path.Dir(path.Dir(filepath.ToSlash(target))))); err == nil && tns == ns && tname == pod {
				uid = tuid
			}
		}
		if uid == "" {
			if uids := ix.byName[ns+"/"+pod]; len(uids) == 1 {
				uid = uids[0]
			}
		}
		p, ok := ix.pods[uid]
		if !ok {
			ix.Skipped = append(ix.Skipped, fmt.Sprintf("%s: no single pod directory for %s/%s", full, ns, pod))
			continue
		}
		i := slices.IndexFunc(p.Containers, func(c Container) bool { return c.Name == container })
		if i < 0 {
			ix.Skipped = append(ix.Skipped, fmt.Sprintf("%s: pod %s/%s has no container %q", full, ns, pod, container))
			continue
		}
		if !slices.Contains(p.Containers[i].IDs, id) {
			p.Containers[i].IDs = append(p.Containers[i].IDs, id)
			slices.Sort(p.Containers[i].IDs)
		}
		ix.byID[id] = idRef{uid: uid, container: container}
	}
	return nil
}

// Len returns the number of pods in the index.
func (ix *Index) Len() int { return len(ix.pods) }

// ByUID returns the pod with the UID (dashed form), and false when no log
// directory names it.
func (ix *Index) ByUID(uid string) (Pod, bool) {
	p, ok := ix.pods[uid]
	if !ok {
		return Pod{}, false
	}
	return clonePod(p), true
}

// ByName returns the pods called namespace/name, sorted by UID. Usually one;
// several when the pod was deleted and recreated and the old pod's logs
// remain (the live one is the one whose cgroup exists); none when unknown.
func (ix *Index) ByName(namespace, name string) []Pod {
	var out []Pod
	for _, uid := range ix.byName[namespace+"/"+name] {
		out = append(out, clonePod(ix.pods[uid]))
	}
	return out
}

// ByContainerID returns the pod and the name of the container with the ID,
// and false when /var/log/containers does not name it.
func (ix *Index) ByContainerID(id string) (Pod, string, bool) {
	r, ok := ix.byID[id]
	if !ok {
		return Pod{}, "", false
	}
	return clonePod(ix.pods[r.uid]), r.container, true
}

// Identify names what a parsed cgroup path points at: the pod by UID and,
// when the path reaches a container, that container's name. podOK is false
// when the UID is unknown (or the path is above pod level); container is ""
// when the ID is unknown or belongs to another pod.
func (ix *Index) Identify(r Ref) (pod Pod, container string, podOK bool) {
	pod, podOK = ix.ByUID(r.PodUID)
	if !podOK || r.ContainerID == "" {
		return pod, "", podOK
	}
	if id, ok := ix.byID[r.ContainerID]; ok && id.uid == r.PodUID {
		container = id.container
	}
	return pod, container, true
}

func clonePod(p *Pod) Pod {
	c := *p
	c.Containers = slices.Clone(p.Containers)
	for i := range c.Containers {
		c.Containers[i].IDs = slices.Clone(c.Containers[i].IDs)
	}
	return c
}

// ParsePodLogDir splits a /var/log/pods entry, <namespace>_<pod>_<uid>.
// Namespaces and pod names are DNS-1123 names (lowercase letters, digits,
// '-' and, in pod names, '.'), and UIDs have no '_', so '_' separates them
// unambiguously; anything else is an error.
func ParsePodLogDir(name string) (namespace, pod, uid string, err error) {
	parts := strings.Split(name, "_")
	if len(parts) != 3 {
		return "", "", "", fmt.Errorf("pod log dir %q: want <namespace>_<pod>_<uid>", name)
	}
	if err := checkDNSName(parts[0], false); err != nil {
		return "", "", "", fmt.Errorf("pod log dir %q: namespace: %w", name, err)
	}
	if err := checkDNSName(parts[1], true); err != nil {
		return "", "", "", fmt.Errorf("pod log dir %q: pod name: %w", name, err)
	}
	if err := checkUID(parts[2]); err != nil {
		return "", "", "", fmt.Errorf("pod log dir %q: %w", name, err)
	}
	return parts[0], parts[1], parts[2], nil
}

// ParseContainerLogName splits a /var/log/containers entry,
// <pod>_<namespace>_<container>-<id>.log. The container name may hold
// dashes, so the ID is what follows the last one.
func ParseContainerLogName(name string) (pod, namespace, container, id string, err error) {
	base, ok := strings.CutSuffix(name, ".log")
	if !ok {
		return "", "", "", "", fmt.Errorf("container log %q: no .log suffix", name)
	}
	parts := strings.Split(base, "_")
	if len(parts) != 3 {
		return "", "", "", "", fmt.Errorf("container log %q: want <pod>_<namespace>_<container>-<id>.log", name)
	}
	i := strings.LastIndexByte(parts[2], '-')
	if i < 0 {
		return "", "", "", "", fmt.Errorf("container log %q: no -<id> after the container name", name)
	}
	pod, namespace, container, id = parts[0], parts[1], parts[2][:i], parts[2][i+1:]
	if err := checkDNSName(pod, true); err != nil {
		return "", "", "", "", fmt.Errorf("container log %q: pod name: %w", name, err)
	}
	if err := checkDNSName(namespace, false); err != nil {
		return "", "", "", "", fmt.Errorf("container log %q: namespace: %w", name, err)
	}
	if err := checkDNSName(container, false); err != nil {
		return "", "", "", "", fmt.Errorf("container log %q: container name: %w", name, err)
	}
	if err := checkContainerID(id); err != nil {
		return "", "", "", "", fmt.Errorf("container log %q: %w", name, err)
	}
	return pod, namespace, container, id, nil
}

// checkDNSName accepts a DNS-1123 label (namespaces, container names) or,
// with dots, a subdomain (pod names): lowercase letters, digits, '-' (and
// '.'), starting and ending with a letter or digit, at most 253 long.
func checkDNSName(s string, dots bool) error {
	if s == "" || len(s) > 253 {
		return fmt.Errorf("%q: empty or longer than 253", s)
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return fmt.Errorf("%q: must start and end with a lowercase letter or digit", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !alnum(c) && c != '-' && (!dots || c != '.') {
			return fmt.Errorf("%q: character %q", s, c)
		}
	}
	return nil
}
