package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// Input is what goes into the image.
type Input struct {
	Binary   string // the static binary
	License  string // memrelief's LICENSE
	Licenses string // third-party notices; "" for none
	Name     string // repository, e.g. localhost/memrelief
	Version  string
	Revision string
	Created  time.Time
}

// Media types of the OCI image specification v1.
const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type imageConfig struct {
	Created      string `json:"created"`
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User       string            `json:"User"`
		Env        []string          `json:"Env"`
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []historyEntry `json:"history"`
}

type historyEntry struct {
	Created   string `json:"created"`
	CreatedBy string `json:"created_by"`
}

// blob is a content-addressed file of the archive.
type blob struct {
	data   []byte
	digest string // sha256:<hex>
}

func newBlob(data []byte) blob {
	sum := sha256.Sum256(data)
	return blob{data: data, digest: "sha256:" + hex.EncodeToString(sum[:])}
}

func (b blob) path() string { return "blobs/sha256/" + b.digest[len("sha256:"):] }

func (b blob) descriptor(mediaType string) descriptor {
	return descriptor{MediaType: mediaType, Digest: b.digest, Size: int64(len(b.data))}
}

// Build writes the image archive for in to w.
func Build(w io.Writer, in Input) error {
	layer, err := buildLayer(in)
	if err != nil {
		return err
	}
	config, err := json.Marshal(configFor(in, layer.digest))
	if err != nil {
		return err
	}
	cfg := newBlob(config)
	manifest, err := json.Marshal(struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Config        descriptor   `json:"config"`
		Layers        []descriptor `json:"layers"`
	}{2, mediaManifest, cfg.descriptor(mediaConfig), []descriptor{layer.descriptor(mediaLayer)}})
	if err != nil {
		return err
	}
	man := newBlob(manifest)
	tags := []string{Tag(in.Version), "latest"}
	var index struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []descriptor `json:"manifests"`
	}
	index.SchemaVersion, index.MediaType = 2, mediaIndex
	var repoTags []string
	for _, tag := range tags {
		d := man.descriptor(mediaManifest)
		ref := in.Name + ":" + tag
		// containerd names the image from the first; the second is the
		// OCI layout's own reference.
		d.Annotations = map[string]string{"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": tag}
		index.Manifests = append(index.Manifests, d)
		repoTags = append(repoTags, ref)
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return err
	}
	dockerJSON, err := json.Marshal([]struct {
		Config   string
		RepoTags []string
		Layers   []string
	}{{cfg.path(), repoTags, []string{layer.path()}}})
	if err != nil {
		return err
	}
	t := newTarWriter(w, in.Created)
	t.dir("blobs/")
	t.dir("blobs/sha256/")
	for _, b := range sortBlobs(cfg, layer, man) {
		t.file(b.path(), b.data, 0o644)
	}
	t.file("index.json", indexJSON, 0o644)
	t.file("manifest.json", dockerJSON, 0o644)
	t.file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	return t.close()
}

// Tag is version as an image tag, which allows only [A-Za-z0-9_.-] and
// at most 128 characters, not starting with . or -: a package version's
// ~ and + become -, so 0.0.0~dev.7.gabc is tagged 0.0.0-dev.7.gabc.
func Tag(version string) string {
	b := []byte(version)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	tag := strings.TrimLeft(string(b), ".-")
	if len(tag) > 128 {
		tag = tag[:128]
	}
	if tag == "" {
		return "dev"
	}
	return tag
}

func sortBlobs(bs ...blob) []blob {
	sort.Slice(bs, func(i, j int) bool { return bs[i].digest < bs[j].digest })
	return bs
}

// configFor is the image's configuration. memrelief runs as root: it
// writes cgroup files, a sysctl and unit properties (the DaemonSet runs it
// privileged). Only `memrelief run --dry-run`, status, explain and detect
// work as another user.
func configFor(in Input, layerDigest string) imageConfig {
	var c imageConfig
	created := in.Created.UTC().Format(time.RFC3339)
	c.Created, c.Architecture, c.OS = created, "amd64", "linux"
	c.Config.User = "0:0"
	c.Config.Env = []string{"PATH=/usr/bin:/bin", "GODEBUG=disablethp=1"}
	c.Config.Entrypoint = []string{"/usr/bin/memrelief"}
	c.Config.Cmd = []string{"run"}
	c.Config.Labels = map[string]string{
		"org.opencontainers.image.title":       "memrelief",
		"org.opencontainers.image.description": "Node memory daemon: reclaims the slab log agents pile up in pods, gently and reversibly, and explains where memory went",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.version":     in.Version,
		"org.opencontainers.image.revision":    in.Revision,
		"org.opencontainers.image.created":     created,
	}
	c.RootFS.Type = "layers"
	// The layer is not compressed: its diff ID is its digest.
	c.RootFS.DiffIDs = []string{layerDigest}
	c.History = []historyEntry{{created, "make image: /usr/bin/memrelief and its license notices"}}
	return c
}

// buildLayer is the tar of the image's files.
func buildLayer(in Input) (blob, error) {
	bin, err := os.ReadFile(in.Binary)
	if err != nil {
		return blob{}, fmt.Errorf("read the binary: %w", err)
	}
	license, err := os.ReadFile(in.License)
	if err != nil {
		return blob{}, fmt.Errorf("read memrelief's license: %w", err)
	}
	var notices []byte
	if in.Licenses != "" {
		if notices, err = os.ReadFile(in.Licenses); err != nil {
			return blob{}, fmt.Errorf("read the third-party license notices: %w", err)
		}
	}
	var buf bytes.Buffer
	t := newTarWriter(&buf, in.Created)
	// Directories first, parents before children; the writable ones the
	// daemon uses are the host's, mounted by the DaemonSet.
	for _, d := range []string{"etc/", "etc/memrelief/", "run/", "tmp/", "usr/", "usr/bin/", "usr/share/", "usr/share/doc/", "usr/share/doc/memrelief/", "var/", "var/lib/", "var/lib/memrelief/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		t.dirMode(d, mode)
	}
	t.file("usr/bin/memrelief", bin, 0o755)
	t.file("usr/share/doc/memrelief/LICENSE", license, 0o644)
	if in.Licenses != "" {
		t.file("usr/share/doc/memrelief/third-party-licenses", notices, 0o644)
	}
	if err := t.close(); err != nil {
		return blob{}, err
	}
	return newBlob(buf.Bytes()), nil
}

// tarWriter writes entries owned by root, dated at one time, in the order
// given; the first error sticks.
type tarWriter struct {
	tw    *tar.Writer
	mtime time.Time
	err   error
}

func newTarWriter(w io.Writer, mtime time.Time) *tarWriter {
	return &tarWriter{tw: tar.NewWriter(w), mtime: mtime.UTC()}
}

func (t *tarWriter) header(h *tar.Header, data []byte) {
	if t.err != nil {
		return
	}
	h.ModTime, h.Format = t.mtime, tar.FormatPAX
	if h.ModTime.Unix() < 0 || h.ModTime.Nanosecond() != 0 {
		h.ModTime = time.Unix(0, 0)
	}
	// USTAR when the name fits: PAX only for what needs it, and no
	// access or change times, which would make the bytes differ.
	if len(h.Name) <= 100 {
		h.Format = tar.FormatUSTAR
	}
	if t.err = t.tw.WriteHeader(h); t.err == nil && len(data) > 0 {
		_, t.err = t.tw.Write(data)
	}
}

func (t *tarWriter) dir(name string) { t.dirMode(name, 0o755) }

func (t *tarWriter) dirMode(name string, mode int64) {
	t.header(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode}, nil)
}

func (t *tarWriter) file(name string, data []byte, mode int64) {
	t.header(&tar.Header{Typeflag: tar.TypeReg, Name: path.Clean(name), Mode: mode, Size: int64(len(data))}, data)
}

func (t *tarWriter) close() error {
	if t.err != nil {
		return t.err
	}
	return t.tw.Close()
}
