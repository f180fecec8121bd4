package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// input makes a fake binary and license files.
func input(t *testing.T, binary string) Input {
	t.Helper()
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return Input{Binary: write("memrelief", binary), License: write("LICENSE", "Apache License 2.0\n"),
		Licenses: write("notices", "==== module x: LICENSE ====\n"), Name: "localhost/memrelief",
		Version: "0.0.0~dev.7.gabc", Revision: "abc1234", Created: time.Unix(1764633600, 0)}
}

func build(t *testing.T, in Input) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Build(&buf, in); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// entries reads a tar into name -> header and content, in order.
func entries(t *testing.T, data []byte) (map[string]*tar.Header, map[string][]byte, []string) {
	t.Helper()
	hdrs, bodies := map[string]*tar.Header{}, map[string][]byte{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs, bodies, order
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		hdrs[h.Name], bodies[h.Name] = h, b
		order = append(order, h.Name)
	}
}

// TestImageIsReproducible: the same binary and date give the same bytes;
// another binary gives another layer.
func TestImageIsReproducible(t *testing.T) {
	in := input(t, "ELF binary")
	a, b := build(t, in), build(t, in)
	if !bytes.Equal(a, b) {
		t.Fatal("two builds of the same input differ")
	}
	other := input(t, "ELF binary, rebuilt")
	if bytes.Equal(a, build(t, other)) {
		t.Fatal("a different binary gave the same image")
	}
}

func unmarshal(t *testing.T, what string, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, data)
	}
}

// TestImageLayout reads the archive as the loaders do: OCI index ->
// manifest -> config and layer, each blob under its own digest; docker's
// manifest.json naming the same blobs and both tags; the layer holding
// the binary as given, executable and root's, at the given date.
func TestImageLayout(t *testing.T) {
	in := input(t, "ELF binary")
	_, files, order := entries(t, build(t, in))
	for name, data := range files {
		if hexd, ok := strings.CutPrefix(name, "blobs/sha256/"); ok && hexd != "" {
			if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != hexd {
				t.Errorf("%s holds content of digest %x", name, sum)
			}
		}
	}
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout %q", files["oci-layout"])
	}
	var index struct {
		SchemaVersion int
		MediaType     string
		Manifests     []descriptor
	}
	unmarshal(t, "index.json", files["index.json"], &index)
	if len(index.Manifests) != 2 || index.MediaType != mediaIndex {
		t.Fatalf("index: %+v", index)
	}
	// A package version's ~ is not allowed in a tag (podman refuses it).
	wantRefs := []string{"localhost/memrelief:0.0.0-dev.7.gabc", "localhost/memrelief:latest"}
	blob := func(d descriptor) []byte {
		t.Helper()
		data, ok := files["blobs/sha256/"+strings.TrimPrefix(d.Digest, "sha256:")]
		if !ok || int64(len(data)) != d.Size {
			t.Fatalf("blob %s: present %v, %d bytes, descriptor says %d", d.Digest, ok, len(data), d.Size)
		}
		return data
	}
	for i, m := range index.Manifests {
		if m.Annotations["io.containerd.image.name"] != wantRefs[i] || m.Digest != index.Manifests[0].Digest {
			t.Errorf("index entry %d: %+v, want %s, one manifest", i, m, wantRefs[i])
		}
	}
	var manifest struct {
		SchemaVersion int
		MediaType     string
		Config        descriptor
		Layers        []descriptor
	}
	unmarshal(t, "manifest", blob(index.Manifests[0]), &manifest)
	if manifest.Config.MediaType != mediaConfig || len(manifest.Layers) != 1 || manifest.Layers[0].MediaType != mediaLayer {
		t.Fatalf("manifest: %+v", manifest)
	}
	var cfg imageConfig
	unmarshal(t, "config", blob(manifest.Config), &cfg)
	layer := blob(manifest.Layers[0])
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("platform %s/%s: containerd's import drops an image without one", cfg.OS, cfg.Architecture)
	}
	if !reflect.DeepEqual(cfg.Config.Entrypoint, []string{"/usr/bin/memrelief"}) || !reflect.DeepEqual(cfg.Config.Cmd, []string{"run"}) {
		t.Errorf("entrypoint %q cmd %q", cfg.Config.Entrypoint, cfg.Config.Cmd)
	}
	if !reflect.DeepEqual(cfg.RootFS.DiffIDs, []string{manifest.Layers[0].Digest}) {
		t.Errorf("diff_ids %v, want the uncompressed layer's digest %s", cfg.RootFS.DiffIDs, manifest.Layers[0].Digest)
	}
	if l := cfg.Config.Labels; l["org.opencontainers.image.version"] != in.Version || l["org.opencontainers.image.revision"] != "abc1234" ||
		l["org.opencontainers.image.licenses"] != "Apache-2.0" || cfg.Created != "2025-12-02T00:00:00Z" {
		t.Errorf("labels %v, created %s", l, cfg.Created)
	}

	var docker []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	unmarshal(t, "manifest.json", files["manifest.json"], &docker)
	if len(docker) != 1 || docker[0].Config != "blobs/sha256/"+strings.TrimPrefix(manifest.Config.Digest, "sha256:") ||
		!reflect.DeepEqual(docker[0].Layers, []string{"blobs/sha256/" + strings.TrimPrefix(manifest.Layers[0].Digest, "sha256:")}) ||
		!reflect.DeepEqual(docker[0].RepoTags, wantRefs) {
		t.Errorf("manifest.json %+v does not name the OCI blobs and both tags", docker)
	}
	if order[len(order)-1] != "oci-layout" || order[0] != "blobs/" {
		t.Errorf("archive order %q", order)
	}

	hdrs, content, lorder := entries(t, layer)
	bin := hdrs["usr/bin/memrelief"]
	if bin == nil || string(content["usr/bin/memrelief"]) != "ELF binary" || bin.Mode != 0o755 || bin.Uid != 0 || bin.Gid != 0 || !bin.ModTime.Equal(in.Created) {
		t.Fatalf("binary entry %+v", bin)
	}
	if string(content["usr/share/doc/memrelief/third-party-licenses"]) != "==== module x: LICENSE ====\n" || content["usr/share/doc/memrelief/LICENSE"] == nil {
		t.Error("license notices missing from the layer")
	}
	seen := map[string]bool{}
	for _, name := range lorder {
		if parent := filepath.Dir(strings.TrimSuffix(name, "/")); parent != "." && !seen[parent+"/"] {
			t.Errorf("%s comes before its directory %s/", name, parent)
		}
		seen[name] = true
		if h := hdrs[name]; h.Uname != "" || h.Uid != 0 || !h.ModTime.Equal(in.Created) {
			t.Errorf("%s: owner %q/%d, time %v", name, h.Uname, h.Uid, h.ModTime)
		}
	}
	if hdrs["tmp/"] == nil || hdrs["tmp/"].Mode != 0o1777 {
		t.Errorf("tmp/: %+v", hdrs["tmp/"])
	}
}

// TestPodmanLoadsTheImage: a real loader takes the archive with both tags
// and the configuration as built, into a storage of the test's own (the
// host's images are not touched).
func TestPodmanLoadsTheImage(t *testing.T) {
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("SKIP: podman is not installed (.ci/run installs it); the image was NOT loaded by a real runtime")
	}
	if os.Geteuid() != 0 {
		t.Skip("SKIP: podman with a storage of its own needs root here; the image was NOT loaded by a real runtime")
	}
	dir := t.TempDir()
	archive := filepath.Join(dir, "image.tar")
	in := input(t, "ELF binary")
	if err := os.WriteFile(archive, build(t, in), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		base := []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot"), "--storage-driver", "vfs"}
		out, err := exec.CommandContext(ctx, podman, append(base, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := run("load", "-i", archive)
	for _, ref := range []string{"localhost/memrelief:0.0.0-dev.7.gabc", "localhost/memrelief:latest"} {
		if !strings.Contains(out, "Loaded image: "+ref) {
			t.Errorf("podman load did not load %s:\n%s", ref, out)
		}
	}
	var inspect []struct {
		Architecture, Os string
		Config           struct {
			Entrypoint, Cmd []string
			Labels          map[string]string
		}
	}
	if err := json.Unmarshal([]byte(run("image", "inspect", "localhost/memrelief:latest")), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("podman image inspect: %v %+v", err, inspect)
	}
	got := inspect[0]
	if got.Os != "linux" || got.Architecture != "amd64" || !reflect.DeepEqual(got.Config.Entrypoint, []string{"/usr/bin/memrelief"}) ||
		got.Config.Labels["org.opencontainers.image.version"] != in.Version {
		t.Errorf("podman sees %+v", got)
	}
}

func TestTag(t *testing.T) {
	for in, want := range map[string]string{"v1.2.3": "v1.2.3", "1.2.3+4.gabc": "1.2.3-4.gabc", "0.0.0~dev.7.gabc": "0.0.0-dev.7.gabc",
		"v1.2-3-gabc-dirty": "v1.2-3-gabc-dirty", ".hidden": "hidden", "": "dev", "~": "dev", strings.Repeat("a", 200): strings.Repeat("a", 128)} {
		if got := Tag(in); got != want {
			t.Errorf("Tag(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestImageRefusesMissingInput(t *testing.T) {
	in := input(t, "x")
	in.Binary = filepath.Join(t.TempDir(), "missing")
	if err := Build(io.Discard, in); err == nil || !strings.Contains(err.Error(), "read the binary") {
		t.Errorf("missing binary: %v", err)
	}
}
