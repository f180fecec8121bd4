package pkgtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dbusPolicy is written by another part of the project; the packages carry
// it when it exists.
const dbusPolicy = "packaging/dbus/org.memrelief.MemRelief1.conf"

// maintainer is what the test builds set PKG_MAINTAINER to: the field is
// set at build time, by whoever publishes the packages.
const maintainer = "Test Packager <packager@example.org>"

// built is what one `make package` produced.
type built struct {
	repo     string
	deb, rpm string
	version  string
	// dbus records whether the D-Bus policy existed when the packages were
	// built, so the expectations match that build.
	dbus bool
	// epoch is the last commit's time, every file time in the packages.
	epoch time.Time
}

// want is one path a package must hold.
type want struct {
	mode fs.FileMode // permission bits
	dir  bool
	// src is the repository file the content must equal; "" when checked
	// otherwise (the binary, the man pages).
	src string
	// gz: the packaged file is src gzipped.
	gz bool
	// debOnly: only the .deb has it (Debian's copyright file).
	debOnly bool
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not at %s: %v", root, err)
	}
	return root
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIP: %s is not installed (.ci/run installs it); this check did NOT run", tool)
		}
	}
}

func run(t *testing.T, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out
}

// build runs `make package` into a temporary DIST, the way an operator or
// packaging/e2e runs it, and finds the two packages.
func build(t *testing.T) built {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIP: -short: building the packages takes seconds; package checks did NOT run")
	}
	need(t, "make", "go", "gzip")
	repo := repoRoot(t)
	// nfpm is a go tool of this module; when it cannot be built (no module
	// cache and no network) there is nothing to test.
	probe := exec.Command("go", "tool", "nfpm", "--version")
	probe.Dir = repo
	if out, err := probe.CombinedOutput(); err != nil {
		t.Skipf("SKIP: go tool nfpm cannot run, packages NOT built or checked: %v\n%s", err, out)
	}
	_, statErr := os.Stat(filepath.Join(repo, dbusPolicy))
	dist := t.TempDir()
	start := time.Now()
	run(t, repo, nil, "make", "-s", "package", "DIST="+dist, "PKG_MAINTAINER="+maintainer)
	t.Logf("make package took %s", time.Since(start).Round(time.Millisecond))

	debs, _ := filepath.Glob(filepath.Join(dist, "*.deb"))
	rpms, _ := filepath.Glob(filepath.Join(dist, "*.rpm"))
	if len(debs) != 1 || len(rpms) != 1 {
		t.Fatalf("make package made %v and %v, want one .deb and one .rpm", debs, rpms)
	}
	m := regexp.MustCompile(`^memrelief_(.+)_amd64\.deb$`).FindStringSubmatch(filepath.Base(debs[0]))
	if m == nil {
		t.Fatalf("deb file name %s, want memrelief_VERSION_amd64.deb", filepath.Base(debs[0]))
	}
	b := built{repo: repo, deb: debs[0], rpm: rpms[0], version: m[1], dbus: statErr == nil}
	ct := strings.TrimSpace(string(run(t, repo, nil, "git", "log", "-1", "--format=%ct")))
	sec, err := strconv.ParseInt(ct, 10, 64)
	if err != nil {
		t.Fatalf("last commit time %q: %v", ct, err)
	}
	b.epoch = time.Unix(sec, 0)
	if want := "memrelief-" + b.version + ".x86_64.rpm"; filepath.Base(b.rpm) != want {
		t.Errorf("rpm file name %s, want %s", filepath.Base(b.rpm), want)
	}
	// Versions must sort: a release (1.2.3, 1.2.3+4.gabc, 1.2.3~rc1) or a
	// development build numbered by its commit count.
	if !regexp.MustCompile(`^([0-9]+\.[0-9]+\.[0-9]+([~+][0-9A-Za-z.~+]+)?|0\.0\.0~dev(\.[0-9]+\.g[0-9a-f]+)?)$`).MatchString(b.version) {
		t.Errorf("version %q is neither a tag-derived release nor 0.0.0~dev.N.gHASH", b.version)
	}
	if !b.dbus {
		t.Logf("NOTE: %s does not exist: built and checked WITHOUT the D-Bus policy", dbusPolicy)
	}
	return b
}

// expected lists every path both packages must hold, and nothing else:
// regular files and the directories the package owns explicitly.
func expected(t *testing.T, b built) map[string]want {
	t.Helper()
	w := map[string]want{
		"/usr/bin/memrelief":                                       {mode: 0o755},
		"/usr/lib/systemd/system/memrelief.service":                {mode: 0o644, src: "systemd/memrelief.service"},
		"/etc/memrelief/policy.toml":                               {mode: 0o644, src: "configs/default.toml"},
		"/usr/lib/systemd/catalog/memrelief.catalog":               {mode: 0o644, src: "systemd/memrelief.catalog"},
		"/usr/share/man/man8/memrelief.8.gz":                       {mode: 0o644, src: "packaging/man/memrelief.8", gz: true},
		"/usr/share/man/man5/memrelief-policy.5.gz":                {mode: 0o644, src: "packaging/man/memrelief-policy.5", gz: true},
		"/usr/share/doc/memrelief/README.md":                       {mode: 0o644, src: "README.md"},
		"/usr/share/doc/memrelief/copyright":                       {mode: 0o644, src: "packaging/deb/copyright", debOnly: true},
		"/usr/share/doc/memrelief/examples/README.md":              {mode: 0o644, src: "configs/README.md"},
		"/usr/share/doc/memrelief/changelog.gz":                    {mode: 0o644, src: "packaging/changelog", gz: true},
		"/usr/share/doc/memrelief/third-party-licenses":            {mode: 0o644},
		"/var/lib/memrelief":                                       {mode: 0o755, dir: true},
		"/usr/share/dbus-1/system.d/org.memrelief.MemRelief1.conf": {mode: 0o644, src: dbusPolicy},
	}
	if !b.dbus {
		delete(w, "/usr/share/dbus-1/system.d/org.memrelief.MemRelief1.conf")
	}
	// Every example policy and every example drop-in is documentation an
	// operator starts from: a new one must be packaged too.
	globs := []struct{ pattern, dir string }{
		{"configs/*.toml", "/usr/share/doc/memrelief/examples/"},
		{"systemd/examples/*", "/usr/share/doc/memrelief/examples/systemd/"},
	}
	for _, g := range globs {
		matches, err := filepath.Glob(filepath.Join(b.repo, g.pattern))
		if err != nil || len(matches) == 0 {
			t.Fatalf("glob %s: %v (%d matches)", g.pattern, err, len(matches))
		}
		for _, m := range matches {
			if filepath.Base(m) == "default.toml" { // installed as the policy itself
				continue
			}
			rel, _ := filepath.Rel(b.repo, m)
			w[g.dir+filepath.Base(m)] = want{mode: 0o644, src: rel}
		}
	}
	return w
}

func TestPackages(t *testing.T) {
	b := build(t)
	w := expected(t, b)
	var debFiles map[string][]byte
	t.Run("deb-contents", func(t *testing.T) { debFiles = checkDebData(t, b, w) })
	t.Run("deb-control", func(t *testing.T) { checkDebControl(t, b) })
	t.Run("rpm", func(t *testing.T) { checkRPM(t, b, w, debFiles) })
	t.Run("deb-install", func(t *testing.T) { checkDebInstall(t, b, w) })
}

// checkDebData reads the data archive with dpkg-deb --fsys-tarfile and
// returns the regular files' contents by path.
func checkDebData(t *testing.T, b built, w map[string]want) map[string][]byte {
	need(t, "dpkg-deb")
	data := run(t, "", nil, "dpkg-deb", "--fsys-tarfile", b.deb)
	files := map[string][]byte{}
	dirs := map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read data archive of %s: %v", b.deb, err)
		}
		p := path.Clean("/" + strings.TrimPrefix(h.Name, "./"))
		// The same commit builds the same package: no time of the build.
		if !h.ModTime.Equal(b.epoch) {
			t.Errorf("%s has time %s, want the last commit's, %s", p, h.ModTime.UTC(), b.epoch.UTC())
		}
		if h.Uname != "root" || h.Gname != "root" || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s owned by %s:%s (%d:%d), want root:root", p, h.Uname, h.Gname, h.Uid, h.Gid)
		}
		mode := fs.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if p == "/" {
				continue
			}
			dirs[p] = true
			if mode != 0o755 {
				t.Errorf("directory %s has mode %o, want 755", p, mode)
			}
		case tar.TypeReg:
			body, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("read %s from %s: %v", p, b.deb, err)
			}
			files[p] = body
			if e, ok := w[p]; ok && mode != e.mode {
				t.Errorf("%s has mode %o, want %o", p, mode, e.mode)
			}
		default:
			t.Errorf("%s: unexpected entry type %q in the data archive", p, h.Typeflag)
		}
	}

	// Exactly the expected files, and exactly their parent directories
	// plus the directories the package owns.
	wantDirs := map[string]bool{}
	for p, e := range w {
		if e.dir {
			wantDirs[p] = true
		} else if _, ok := files[p]; !ok {
			t.Errorf("missing from the .deb: %s", p)
		}
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			wantDirs[d] = true
		}
	}
	for p := range files {
		if _, ok := w[p]; !ok || w[p].dir {
			t.Errorf("unexpected file in the .deb: %s", p)
		}
	}
	if got, want := keys(dirs), keys(wantDirs); !equal(got, want) {
		t.Errorf("directories in the .deb:\n got %v\nwant %v", got, want)
	}

	for p, e := range w {
		body, ok := files[p]
		if !ok || e.src == "" {
			continue
		}
		src := readRepo(t, b.repo, e.src)
		if e.gz {
			body = gunzip(t, p, body)
		}
		if !bytes.Equal(body, src) {
			t.Errorf("%s in the .deb differs from %s", p, e.src)
		}
	}
	if bin, ok := files["/usr/bin/memrelief"]; ok {
		checkStatic(t, bin)
		checkThirdParty(t, bin, files["/usr/share/doc/memrelief/third-party-licenses"])
	}
	return files
}

// checkThirdParty fails unless notices holds a license for every module
// the binary was linked from, as its build information lists them.
func checkThirdParty(t *testing.T, bin, notices []byte) {
	t.Helper()
	info, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("build information of /usr/bin/memrelief: %v", err)
	}
	if len(info.Deps) == 0 {
		t.Fatal("/usr/bin/memrelief lists no modules: the check would pass on anything")
	}
	for _, d := range info.Deps {
		if !bytes.Contains(notices, []byte("\n==== "+d.Path+" "+d.Version+": ")) {
			t.Errorf("third-party-licenses has no license of %s %s, linked into the binary", d.Path, d.Version)
		}
	}
	if !bytes.Contains(notices, []byte("==== the Go standard library and runtime, "+info.GoVersion+": LICENSE")) {
		t.Errorf("third-party-licenses lacks the license of the Go standard library (%s)", info.GoVersion)
	}
}

// checkStatic fails unless bin is an x86-64 ELF executable with no dynamic
// loader: the package declares no library dependencies.
func checkStatic(t *testing.T, bin []byte) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("/usr/bin/memrelief is not ELF: %v", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		t.Errorf("/usr/bin/memrelief is for %s, want x86-64 (the package says amd64)", f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("/usr/bin/memrelief is dynamically linked (%s): make build must set CGO_ENABLED=0", p.Type)
		}
	}
}

func checkDebControl(t *testing.T, b built) {
	need(t, "dpkg-deb")
	fields := string(run(t, "", nil, "dpkg-deb", "-f", b.deb, "Package", "Version", "Architecture"))
	if want := fmt.Sprintf("Package: memrelief\nVersion: %s\nArchitecture: amd64\n", b.version); fields != want {
		t.Errorf("control fields:\n%s\nwant\n%s", fields, want)
	}
	if got := strings.TrimSpace(string(run(t, "", nil, "dpkg-deb", "-f", b.deb, "Maintainer"))); got != maintainer {
		t.Errorf("Maintainer %q, want PKG_MAINTAINER's %q", got, maintainer)
	}
	if deps := strings.TrimSpace(string(run(t, "", nil, "dpkg-deb", "-f", b.deb, "Depends", "Pre-Depends"))); deps != "" {
		t.Errorf("a static binary needs no dependencies, the package has: %s", deps)
	}
	if got := string(run(t, "", nil, "dpkg-deb", "-I", b.deb, "conffiles")); got != "/etc/memrelief/policy.toml\n" {
		t.Errorf("conffiles = %q, want only /etc/memrelief/policy.toml", got)
	}

	ctrl := run(t, "", nil, "dpkg-deb", "--ctrl-tarfile", b.deb)
	members := map[string][]byte{}
	modes := map[string]fs.FileMode{}
	tr := tar.NewReader(bytes.NewReader(ctrl))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read control archive of %s: %v", b.deb, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		body, _ := io.ReadAll(tr)
		name := strings.TrimPrefix(h.Name, "./")
		members[name], modes[name] = body, fs.FileMode(h.Mode).Perm()
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		body, ok := members[s]
		if !ok {
			t.Errorf("no %s in the .deb", s)
			continue
		}
		if !bytes.Equal(body, readRepo(t, b.repo, "packaging/scripts/deb/"+s)) {
			t.Errorf("%s in the .deb differs from packaging/scripts/deb/%s", s, s)
		}
		if modes[s] != 0o755 {
			t.Errorf("%s has mode %o, want 755", s, modes[s])
		}
	}
	for _, s := range []string{"preinst", "config", "triggers"} {
		if _, ok := members[s]; ok {
			t.Errorf("unexpected %s in the .deb", s)
		}
	}
}

func checkRPM(t *testing.T, b built, w map[string]want, debFiles map[string][]byte) {
	need(t, "rpm")
	q := func(format string) string {
		return string(run(t, "", nil, "rpm", "-qp", "--nosignature", "--qf", format, b.rpm))
	}
	if got := q("%{NAME} %{VERSION} %{ARCH}"); got != "memrelief "+b.version+" x86_64" {
		t.Errorf("rpm name, version, arch = %q, want %q", got, "memrelief "+b.version+" x86_64")
	}
	if got := strings.TrimSpace(q("[%{REQUIRENAME}\n]")); strings.Contains(got, ".so") {
		t.Errorf("the rpm requires libraries: %s", got)
	}
	if got := q("%{PACKAGER}"); got != maintainer {
		t.Errorf("rpm Packager %q, want PKG_MAINTAINER's %q", got, maintainer)
	}
	if got := q("%{LICENSE}"); got != "Apache-2.0" {
		t.Errorf("rpm License %q, want Apache-2.0", got)
	}
	epoch := strconv.FormatInt(b.epoch.Unix(), 10)
	if got := q("%{BUILDTIME}"); got != epoch {
		t.Errorf("rpm build time %s, want the last commit's, %s", got, epoch)
	}
	if times := strings.Fields(q("[%{FILEMTIMES} ]")); len(times) == 0 || slices.ContainsFunc(times, func(s string) bool { return s != epoch }) {
		t.Errorf("rpm file times %v, want all the last commit's, %s", times, epoch)
	}
	algo := strings.TrimSpace(q("%{FILEDIGESTALGO}"))
	listing := q("[%{FILENAMES}\t%{FILEMODES:octal}\t%{FILEUSERNAME}:%{FILEGROUPNAME}\t%{FILEFLAGS:fflags}\t%{FILEDIGESTS}\n]")
	seen := map[string]bool{}
	// Only newlines are trimmed: a directory's flags and digest are empty
	// trailing fields.
	for _, line := range strings.Split(strings.Trim(listing, "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			t.Fatalf("rpm -qp listing line %q: want 5 tab-separated fields", line)
		}
		p, octal, owner, flags, digest := f[0], f[1], f[2], f[3], f[4]
		seen[p] = true
		e, ok := w[p]
		if !ok || e.debOnly {
			t.Errorf("unexpected path in the .rpm: %s", p)
			continue
		}
		wantType := "100"
		if e.dir {
			wantType = "40"
		}
		if want := fmt.Sprintf("%s%o", wantType, e.mode); octal != want {
			t.Errorf("%s has mode %s in the .rpm, want %s", p, octal, want)
		}
		if owner != "root:root" {
			t.Errorf("%s owned by %s in the .rpm, want root:root", p, owner)
		}
		isConfig := p == "/etc/memrelief/policy.toml"
		if isConfig && (!strings.Contains(flags, "c") || !strings.Contains(flags, "n")) {
			t.Errorf("%s has file flags %q, want %%config(noreplace) (c and n)", p, flags)
		}
		if !isConfig && strings.Contains(flags, "c") {
			t.Errorf("%s is marked %%config (flags %q)", p, flags)
		}
		// The .deb's bytes were checked against the sources above; the
		// .rpm must carry the same.
		if body, ok := debFiles[p]; ok && !e.dir {
			if got := fileDigest(t, algo, body); digest != got {
				t.Errorf("%s differs between the .rpm and the .deb (digest %s, want %s)", p, digest, got)
			}
		}
	}
	for p, e := range w {
		if !seen[p] && !e.debOnly {
			t.Errorf("missing from the .rpm: %s", p)
		}
	}

	scripts := map[string]string{"PREIN": "", "POSTIN": "post.sh", "PREUN": "preun.sh", "POSTUN": "postun.sh"}
	for tag, file := range scripts {
		got := strings.TrimSpace(q("%{" + tag + "}"))
		if file == "" {
			if got != "(none)" {
				t.Errorf("unexpected %s scriptlet in the .rpm:\n%s", tag, got)
			}
			continue
		}
		if want := strings.TrimSpace(string(readRepo(t, b.repo, "packaging/scripts/rpm/"+file))); got != want {
			t.Errorf("%s scriptlet differs from packaging/scripts/rpm/%s:\n%s", tag, file, got)
		}
	}
}

// fileDigest computes a file digest the way rpm's FILEDIGESTALGO says
// (RFC 4880 numbers: 8 is SHA-256, 1 is MD5).
func fileDigest(t *testing.T, algo string, body []byte) string {
	t.Helper()
	switch algo {
	case "8":
		s := sha256.Sum256(body)
		return hex.EncodeToString(s[:])
	case "1", "(none)":
		s := md5.Sum(body)
		return hex.EncodeToString(s[:])
	}
	t.Fatalf("rpm file digest algorithm %s not handled", algo)
	return ""
}

// checkDebInstall installs the .deb into a throwaway root with dpkg --root,
// runs the installed binary, upgrades over itself with a locally changed
// policy, and purges. The maintainer scripts run on this host with
// DPKG_ROOT set (--force-script-chrootless), which is how they must behave
// in any dpkg --root install: touching only the tree under DPKG_ROOT.
func checkDebInstall(t *testing.T, b built, w map[string]want) {
	need(t, "dpkg")
	if os.Geteuid() != 0 {
		t.Skip("SKIP: dpkg --root installs need root; the install, upgrade and purge check did NOT run")
	}
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	dpkg := func(args ...string) []byte {
		return run(t, "", env, "dpkg", append([]string{"--root=" + root, "--force-script-chrootless", "--log=/dev/null"}, args...)...)
	}

	dpkg("-i", b.deb)
	for p, e := range w {
		info, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Errorf("after install: %v", err)
			continue
		}
		if info.IsDir() != e.dir || info.Mode().Perm() != e.mode {
			t.Errorf("after install %s: dir %v mode %o, want dir %v mode %o", p, info.IsDir(), info.Mode().Perm(), e.dir, e.mode)
		}
	}
	out := run(t, "", nil, filepath.Join(root, "usr/bin/memrelief"), "version")
	if !regexp.MustCompile(`^memrelief \S+ \(commit \S+, go[0-9.]+ linux/amd64\)\n$`).Match(out) {
		t.Errorf("installed memrelief version printed %q", out)
	}
	// The postinst enables the unit inside the root (deb-systemd-helper
	// honours DPKG_ROOT; systemctl --root otherwise).
	wants := filepath.Join(root, "etc/systemd/system/multi-user.target.wants/memrelief.service")
	_, dshErr := exec.LookPath("deb-systemd-helper")
	_, sysctlErr := exec.LookPath("systemctl")
	if dshErr == nil || sysctlErr == nil {
		if target, err := os.Readlink(wants); err != nil || target != "/usr/lib/systemd/system/memrelief.service" {
			t.Errorf("unit not enabled in the root: readlink %s = %q, %v", wants, target, err)
		}
	} else {
		t.Log("NOTE: neither deb-systemd-helper nor systemctl here: enablement NOT checked")
	}

	// An administrator's edit survives an upgrade (here: over itself).
	policy := filepath.Join(root, "etc/memrelief/policy.toml")
	edited := append(readRepo(t, b.repo, "configs/default.toml"), "# changed by the administrator\n"...)
	if err := os.WriteFile(policy, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	dpkg("-i", b.deb)
	if got, err := os.ReadFile(policy); err != nil || !bytes.Equal(got, edited) {
		t.Errorf("upgrade replaced the administrator's policy (err %v)", err)
	}
	if status := string(dpkg("-s", "memrelief")); !strings.Contains(status, "Status: install ok installed") {
		t.Errorf("after upgrade: %s", status)
	}

	// Purge leaves nothing of memrelief behind: not the edited conffile,
	// not the state directory, not the enablement.
	for _, d := range []string{"var/lib/memrelief/x", "run/memrelief/vfs_cache_pressure.json"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, d)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, d), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dpkg("--purge", "memrelief")
	var left []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Errorf("walk %s: %v", p, err)
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "var/lib/dpkg" {
			return filepath.SkipDir // dpkg's own records
		}
		if strings.Contains(rel, "memrelief") {
			left = append(left, rel)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("left behind after purge: %v", left)
	}
}

func readRepo(t *testing.T, repo, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, rel))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	return b
}

func gunzip(t *testing.T, name string, b []byte) []byte {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s is not gzip: %v", name, err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("gunzip %s: %v", name, err)
	}
	return out
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
