package pkgtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
)

var manPages = []string{"packaging/man/memrelief.8", "packaging/man/memrelief-policy.5"}

// man(1) with --warnings=w runs groff with -ww, every warning on (plain
// --warnings only enables the macro ones): a bad escape, a table too wide,
// an unknown macro each fail the page.
func TestManPagesRenderWithoutWarnings(t *testing.T) {
	need(t, "man")
	repo := repoRoot(t)
	for _, page := range manPages {
		t.Run(filepath.Base(page), func(t *testing.T) {
			cmd := exec.Command("man", "--warnings=w", "-l", filepath.Join(repo, page))
			cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "LC_ALL=C.UTF-8")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("man -l %s: %v\n%s", page, err, stderr.Bytes())
			}
			if stderr.Len() > 0 {
				t.Errorf("man --warnings=w -l %s warned:\n%s", page, stderr.Bytes())
			}
			if !bytes.Contains(stdout.Bytes(), []byte("SEE ALSO")) || stdout.Len() < 2000 {
				t.Errorf("%s rendered to %d bytes without its SEE ALSO section:\n%s", page, stdout.Len(), stdout.Bytes())
			}
		})
	}
}

// Every command and every flag `memrelief CMD -h` prints must be in
// memrelief(8), so the page cannot fall behind the CLI unnoticed.
func TestManPageCoversTheCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short: builds cmd/memrelief")
	}
	need(t, "go")
	repo := repoRoot(t)
	bin := filepath.Join(t.TempDir(), "memrelief")
	build := exec.Command("go", "build", "-o", bin, "./cmd/memrelief")
	build.Dir = repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("SKIP: cmd/memrelief does not build (mid-edit elsewhere?), man page NOT checked against the CLI: %v\n%s", err, out)
	}
	page := unescape(string(readRepo(t, repo, "packaging/man/memrelief.8")))

	usage, _ := exec.Command(bin, "-h").CombinedOutput()
	cmds := regexp.MustCompile(`(?m)^  ([a-z]+) `).FindAllStringSubmatch(string(usage), -1)
	if len(cmds) < 6 {
		t.Fatalf("memrelief -h lists %d commands:\n%s", len(cmds), usage)
	}
	// pflag's usage: "  -o, --output FORMAT  ..." or "      --depth int  ...".
	flagRE := regexp.MustCompile(`(?m)^ +(?:-[a-z], )?--([a-z][a-z0-9.-]*)`)
	for _, c := range cmds {
		name := c[1]
		if !regexp.MustCompile(`(?m)^\.B ` + name + `$`).MatchString(page) {
			t.Errorf("memrelief(8) does not document the command %q", name)
		}
		help, _ := exec.Command(bin, name, "-h").CombinedOutput()
		for _, f := range flagRE.FindAllStringSubmatch(string(help), -1) {
			if !strings.Contains(page, "--"+f[1]) {
				t.Errorf("memrelief(8) does not document %s --%s", name, f[1])
			}
		}
	}
}

// The MESSAGE_IDs the page lists are the ones the daemon sends.
func TestManPageMessageIDs(t *testing.T) {
	page := string(readRepo(t, repoRoot(t), "packaging/man/memrelief.8"))
	listed := regexp.MustCompile(`(?m)^\.B ([0-9a-f]{32})$`).FindAllStringSubmatch(page, -1)
	got := map[string]bool{}
	for _, m := range listed {
		got[m[1]] = true
	}
	for _, k := range report.Kinds() {
		if !got[k.MessageID()] {
			t.Errorf("memrelief(8) does not list MESSAGE_ID %s (%s)", k.MessageID(), k)
		}
		delete(got, k.MessageID())
	}
	for id := range got {
		t.Errorf("memrelief(8) lists MESSAGE_ID %s, which no event kind has", id)
	}
}

// The example policy in memrelief-policy(5) is a valid policy.
func TestManPageExamplePolicy(t *testing.T) {
	page := string(readRepo(t, repoRoot(t), "packaging/man/memrelief-policy.5"))
	blocks := regexp.MustCompile(`(?s)\n\.EX\n(.*?)\n\.EE\n`).FindAllStringSubmatch(page, -1)
	var parsed int
	for _, b := range blocks {
		text := unescape(b[1])
		if !strings.Contains(text, "[[rule]]") {
			continue
		}
		p, err := policy.Parse("memrelief-policy.5", []byte(text))
		if err != nil {
			t.Errorf("example policy in memrelief-policy(5) is invalid: %v\n%s", err, text)
			continue
		}
		if len(p.Rules) == 0 {
			t.Errorf("example policy parsed to no rules:\n%s", text)
		}
		parsed++
	}
	if parsed == 0 {
		t.Fatal("memrelief-policy(5) has no example policy (an .EX block with [[rule]])")
	}
}

// unescape turns the roff escapes the pages use back into plain text.
func unescape(s string) string {
	return strings.NewReplacer(`\-`, "-", `\e`, `\`, `\(dq`, `"`, `\&`, "").Replace(s)
}
