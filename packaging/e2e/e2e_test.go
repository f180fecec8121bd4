package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/memrelief/memrelief/packaging/kubernetes"
)

// bootOverheadSec covers kernel boot, systemd start-up, the runner's install
// step and poweroff under TCG: about 20 s to the runner's start, 41 s from
// QEMU's start to poweroff around one scenario of 18 s. A slower boot on a
// loaded host also has the scenarios' own slack (each timeout 1.3 to 2.5
// times its run) before a mode's deadline.
const bootOverheadSec = 60

// TestE2E boots the guest once per mode and reports each scenario as a
// subtest named MODE/SCENARIO.
func TestE2E(t *testing.T) {
	if os.Getenv("MEMRELIEF_E2E") != "1" {
		t.Skip("end-to-end tests boot a QEMU guest as root and take minutes: set MEMRELIEF_E2E=1 or run `make e2e`")
	}
	if os.Geteuid() != 0 {
		t.Fatal("MEMRELIEF_E2E=1 but not root: debootstrap, mkfs.ext4 -d and the guest's 9p share need root")
	}
	ctx := t.Context()
	here, err := os.Getwd()
	if err != nil {
		t.Fatalf("working directory: %v", err)
	}
	repo := filepath.Clean(filepath.Join(here, "..", ".."))
	ensureTools(t)

	scenarios, err := LoadScenarios(filepath.Join(here, "scenarios"))
	if err != nil {
		t.Fatal(err)
	}
	only := strings.Fields(os.Getenv("MEMRELIEF_E2E_SCENARIOS"))
	scenarios = pickScenarios(scenarios, only)
	if len(only) > 0 {
		t.Logf("MEMRELIEF_E2E_SCENARIOS=%q: running %d scenarios only", strings.Join(only, " "), len(scenarios))
	}
	share := t.TempDir()
	stageArtifacts(ctx, t, repo, share, scenarios)
	img := ensureImage(ctx, t, filepath.Join(here, "image", "build.sh"))

	logRoot := filepath.Join(cacheDir(), "logs")
	modes := Modes()
	if only := os.Getenv("MEMRELIEF_E2E_MODES"); only != "" {
		modes = modes[:0]
		for _, m := range Modes() {
			if strings.Contains(" "+only+" ", " "+m.Name+" ") {
				modes = append(modes, m)
			}
		}
	}
	for _, m := range modes {
		t.Run(m.Name, func(t *testing.T) {
			bootMode(ctx, t, img, share, filepath.Join(logRoot, m.Name), m, scenarios)
		})
	}
}

// pickScenarios keeps the scenarios whose names start with one of prefixes
// ("11" or "11-act-path"), for a developer iterating on a few; with no
// prefixes, every scenario but those run on request.
func pickScenarios(all []Scenario, prefixes []string) []Scenario {
	var out []Scenario
	for _, s := range all {
		if len(prefixes) == 0 && !s.OnRequest {
			out = append(out, s)
		}
		for _, p := range prefixes {
			if strings.HasPrefix(s.Name, p) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

func cacheDir() string {
	if d := os.Getenv("MEMRELIEF_E2E_CACHE"); d != "" {
		return d
	}
	return "/var/cache/memrelief-e2e"
}

// ensureTools installs QEMU, debootstrap and e2fsprogs when missing, so a
// fresh Debian machine runs the suite without preparation.
func ensureTools(t *testing.T) {
	need := map[string]string{
		"qemu-system-x86_64": "qemu-system-x86",
		"debootstrap":        "debootstrap",
		"mkfs.ext4":          "e2fsprogs",
	}
	var pkgs []string
	for bin, pkg := range need {
		if _, err := exec.LookPath(bin); err != nil {
			pkgs = append(pkgs, pkg)
		}
	}
	if len(pkgs) == 0 {
		return
	}
	t.Logf("installing %v", pkgs)
	run(t, exec.Command("apt-get", "update", "-qq"))
	cmd := exec.Command("apt-get", append([]string{"install", "-y", "-qq", "--no-install-recommends"}, pkgs...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	run(t, cmd)
}

func run(t *testing.T, cmd *exec.Cmd) []byte {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return out
}

// stageArtifacts fills the share with what the guest installs: the .deb when
// the repository can build one, and always a tree laid out as the package
// lays it out (binary, unit, catalog, D-Bus policy, default policy), plus the
// load generator, the guest runner and the scenarios to run, and the bench scripts.
func stageArtifacts(ctx context.Context, t *testing.T, repo, share string, scenarios []Scenario) {
	stage := filepath.Join(share, "stage")
	build := func(out, pkg string) {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		run(t, cmd)
	}
	build(filepath.Join(stage, "usr/bin/memrelief"), "./cmd/memrelief")
	build(filepath.Join(share, "loadgen"), "./packaging/e2e/loadgen")

	copyIf := func(src, dst string) {
		data, err := os.ReadFile(filepath.Join(repo, src))
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil {
			t.Fatalf("stage %s: %v", src, err)
		}
		dst = filepath.Join(stage, dst)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatalf("stage %s: %v", src, err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatalf("stage %s: %v", src, err)
		}
		t.Logf("staged %s -> /%s", src, strings.TrimPrefix(dst, stage+"/"))
	}
	copyIf("systemd/memrelief.service", "usr/lib/systemd/system/memrelief.service")
	copyIf("configs/default.toml", "etc/memrelief/policy.toml")
	globCopy := func(pattern, dir string) {
		matches, _ := filepath.Glob(filepath.Join(repo, pattern))
		for _, m := range matches {
			rel, _ := filepath.Rel(repo, m)
			copyIf(rel, filepath.Join(dir, filepath.Base(m)))
		}
	}
	globCopy("systemd/*.catalog", "usr/lib/systemd/catalog")
	globCopy("packaging/*/*memrelief*.conf", "usr/share/dbus-1/system.d")
	globCopy("packaging/*memrelief*.conf", "usr/share/dbus-1/system.d")

	// Once the repository builds a package (issue 5), the guest installs
	// that instead of the loose tree, exactly as an operator would.
	if makefileHas(t, repo, "package") {
		marker := time.Now()
		cmd := exec.CommandContext(ctx, "make", "package")
		cmd.Dir = repo
		run(t, cmd)
		var debs []string
		_ = filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
			if err != nil || (d.IsDir() && d.Name() == ".git") {
				return filepath.SkipDir
			}
			if info, ierr := d.Info(); ierr == nil && strings.HasSuffix(p, ".deb") && !info.ModTime().Before(marker) {
				debs = append(debs, p)
			}
			return nil
		})
		if len(debs) != 1 {
			t.Fatalf("make package made %d .deb files (%v), want exactly one", len(debs), debs)
		}
		data, err := os.ReadFile(debs[0])
		if err != nil {
			t.Fatalf("read package: %v", err)
		}
		if err := os.MkdirAll(filepath.Join(share, "artifacts"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(share, "artifacts", filepath.Base(debs[0])), data, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("staged package %s", debs[0])
	}

	if makefileHas(t, repo, "image") {
		stageDaemonSet(ctx, t, repo, share)
	}

	here := filepath.Join(repo, "packaging/e2e")
	if err := os.CopyFS(filepath.Join(share, "scenarios"), os.DirFS(filepath.Join(here, "scenarios"))); err != nil {
		t.Fatalf("stage scenarios: %v", err)
	}
	// KEY=VALUE words for the scenarios (lib.sh sources the file), for
	// measurement runs with longer loads.
	var env strings.Builder
	for _, kv := range strings.Fields(os.Getenv("MEMRELIEF_E2E_GUEST_ENV")) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(k+v, "'\\\"$`;&|<>") {
			t.Fatalf("MEMRELIEF_E2E_GUEST_ENV: %q is not a plain KEY=VALUE", kv)
		}
		fmt.Fprintf(&env, "%s='%s'\n", k, v)
	}
	if err := os.WriteFile(filepath.Join(share, "env"), []byte(env.String()), 0o644); err != nil {
		t.Fatalf("stage guest environment: %v", err)
	}
	// The guest runs every scenario on the share: only the picked ones.
	keep := map[string]bool{}
	for _, s := range scenarios {
		keep[s.Name+".sh"] = true
	}
	staged, _ := filepath.Glob(filepath.Join(share, "scenarios", "[0-9]*.sh"))
	for _, p := range staged {
		if !keep[filepath.Base(p)] {
			os.Remove(p)
		}
	}
	// Measurement scripts the scenarios run ($SHARE/bench).
	if err := os.CopyFS(filepath.Join(share, "bench"), os.DirFS(filepath.Join(repo, "packaging/bench"))); err != nil {
		t.Fatalf("stage bench scripts: %v", err)
	}
	runner, err := os.ReadFile(filepath.Join(here, "guest", "run.sh"))
	if err != nil {
		t.Fatalf("read guest runner: %v", err)
	}
	if err := os.WriteFile(filepath.Join(share, "run.sh"), runner, 0o755); err != nil {
		t.Fatal(err)
	}
}

// stageDaemonSet builds the image with make image and puts on the share
// what the guest needs to run the DaemonSet's pod with ctr: the image
// (artifacts/memrelief-image.tar) and, under artifacts/ds/, the ctr run
// translated from packaging/kubernetes (flags, command, mkdirs,
// configmap-dirs: one word per line) and the ConfigMaps' files (files/,
// by their path in the guest).
func stageDaemonSet(ctx context.Context, t *testing.T, repo, share string) {
	t.Helper()
	art := filepath.Join(share, "artifacts")
	if err := os.MkdirAll(art, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "make", "image", "IMAGE="+filepath.Join(art, "memrelief-image.tar"))
	cmd.Dir = repo
	run(t, cmd)
	var ds appsv1.DaemonSet
	var cm corev1.ConfigMap
	for file, into := range map[string]any{"daemonset.yaml": &ds, "configmap.yaml": &cm} {
		data, err := os.ReadFile(filepath.Join(repo, "packaging/kubernetes", file))
		if err != nil {
			t.Fatal(err)
		}
		if err := kubernetes.DecodeStrict(data, into); err != nil {
			t.Fatalf("packaging/kubernetes/%s: %v", file, err)
		}
	}
	r, err := TranslateDaemonSet(&ds, map[string]*corev1.ConfigMap{cm.Name: &cm}, []string{"/usr/bin/memrelief"})
	if err != nil {
		t.Fatalf("packaging/kubernetes/daemonset.yaml as a ctr run: %v", err)
	}
	dir := filepath.Join(art, "ds")
	for name, words := range map[string][]string{"flags": r.Flags, "command": r.Command, "mkdirs": r.Mkdirs, "configmap-dirs": r.ConfigMapDirs} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(words, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for p, data := range r.Files {
		dst := filepath.Join(dir, "files", p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("staged the image and the DaemonSet as: ctr run %s IMAGE ID %s", strings.Join(r.Flags, " "), strings.Join(r.Command, " "))
}

func makefileHas(t *testing.T, repo, target string) bool {
	data, err := os.ReadFile(filepath.Join(repo, "Makefile"))
	if err != nil {
		t.Fatalf("read Makefile: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, target+":") {
			return true
		}
	}
	return false
}

// image is a built guest.
type image struct{ dir string }

func (i image) path(name string) string { return filepath.Join(i.dir, name) }

// ensureImage reuses the cached image for this recipe or builds it, and
// removes images of older recipes (2 GB each).
func ensureImage(ctx context.Context, t *testing.T, recipe string) image {
	data, err := os.ReadFile(recipe)
	if err != nil {
		t.Fatalf("read image recipe: %v", err)
	}
	root := cacheDir()
	key := ImageKey(data)
	dir := filepath.Join(root, key)
	if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
		t.Logf("image: reusing %s", dir)
		return image{dir}
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatalf("create image cache: %v", err)
	}
	_ = os.RemoveAll(dir)
	start := time.Now()
	bctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(bctx, "sh", recipe, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("build image with %s: %v\n%s", recipe, err, tail(out, 60))
	}
	if err := os.WriteFile(filepath.Join(dir, "ready"), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("image: built %s in %s", dir, time.Since(start).Round(time.Second))
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if e.IsDir() && e.Name() != key && e.Name() != "logs" && len(e.Name()) == 16 {
			_ = os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
	return image{dir}
}

// bootMode boots the guest once in mode m with the share attached, then
// reports every scenario meant for m from its result file.
func bootMode(ctx context.Context, t *testing.T, img image, share, logDir string, m Mode, scenarios []Scenario) {
	var mine []Scenario
	budget := bootOverheadSec
	for _, s := range scenarios {
		if s.In(m.Name) {
			mine = append(mine, s)
			budget += s.TimeoutSec + 15
		}
	}
	if len(mine) == 0 {
		t.Skipf("no scenario for mode %s", m.Name)
	}
	for _, p := range []string{"results", "run.log", "run.rc", "journal.txt", "console.log"} {
		_ = os.RemoveAll(filepath.Join(share, p))
	}
	if err := os.WriteFile(filepath.Join(share, "mode"), []byte(m.Name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	console := filepath.Join(share, "console.log")
	bctx, cancel := context.WithTimeout(ctx, time.Duration(budget)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(bctx, "qemu-system-x86_64",
		"-accel", "tcg", "-m", "2048", "-smp", "2", "-no-reboot",
		"-kernel", img.path("vmlinuz"), "-initrd", img.path("initrd.img"),
		"-drive", "file="+img.path("root.img")+",format=raw,if=virtio,snapshot=on",
		"-append", strings.TrimSpace("root=/dev/vda rw console=ttyS0 quiet "+m.KernelArgs),
		"-serial", "file:"+console, "-display", "none", "-monitor", "none", "-net", "none",
		"-virtfs", "local,path="+share+",mount_tag=host0,security_model=none")
	// An interrupted test (Ctrl-C, go test -timeout) must not leave a guest
	// running: tie QEMU's life to this process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var qemuOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &qemuOut, &qemuOut
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start).Round(time.Second)
	t.Logf("boot %s: %s (budget %ds)", m.Name, took, budget)
	saveLogs(t, share, logDir)

	bootProblem := ""
	switch {
	case bctx.Err() != nil:
		bootProblem = fmt.Sprintf("guest did not power off within %ds", budget)
	case err != nil:
		bootProblem = fmt.Sprintf("qemu: %v: %s", err, qemuOut.String())
	}
	if rc, rerr := os.ReadFile(filepath.Join(share, "run.rc")); rerr != nil && bootProblem == "" {
		bootProblem = "the guest runner never finished (no run.rc on the share)"
	} else if rerr == nil && strings.TrimSpace(string(rc)) != "0" && bootProblem == "" {
		bootProblem = "the guest runner exited " + strings.TrimSpace(string(rc))
	}

	failed := bootProblem != ""
	if failed {
		t.Errorf("%s", bootProblem)
	}
	for _, s := range mine {
		t.Run(s.Name, func(t *testing.T) {
			path := filepath.Join(share, "results", s.Name+".result")
			data, err := os.ReadFile(path)
			if err != nil {
				failed = true
				t.Fatalf("no result (%v); the guest stopped before this scenario finished", err)
			}
			r, err := ParseResult(path, data)
			if err != nil {
				failed = true
				t.Fatal(err)
			}
			if figs := r.FigureText(); figs != "" {
				t.Logf("figures: %s", figs)
			}
			t.Logf("%s in %ds: %s", r.Status, r.Seconds, r.Message)
			switch r.Status {
			case Skip:
				t.Skip(r.Message)
			case Fail:
				failed = true
				if out, err := os.ReadFile(filepath.Join(share, "results", s.Name+".log")); err == nil {
					t.Logf("scenario output:\n%s", tail(out, 80))
				}
				t.Error(r.Message)
			}
		})
	}
	if failed {
		for _, f := range []string{"run.log", "console.log", "journal.txt"} {
			if out, err := os.ReadFile(filepath.Join(share, f)); err == nil {
				t.Logf("==== %s (%s) ====\n%s", f, m.Name, out)
			} else {
				t.Logf("==== %s (%s): %v", f, m.Name, err)
			}
		}
		t.Logf("logs kept in %s", logDir)
	}
}

// saveLogs keeps the last run's logs per mode outside the test's temporary
// directory, for a look after the test has exited.
func saveLogs(t *testing.T, share, dir string) {
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("keep logs: %v", err)
		return
	}
	for _, f := range []string{"run.log", "console.log", "journal.txt"} {
		if data, err := os.ReadFile(filepath.Join(share, f)); err == nil {
			_ = os.WriteFile(filepath.Join(dir, f), data, 0o644)
		}
	}
	if err := os.CopyFS(filepath.Join(dir, "results"), os.DirFS(filepath.Join(share, "results"))); err != nil {
		t.Logf("keep results: %v", err)
	}
}

func tail(b []byte, lines int) string {
	s := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(s) > lines {
		s = s[len(s)-lines:]
	}
	return strings.Join(s, "\n")
}
