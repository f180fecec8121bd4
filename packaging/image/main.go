// Command image writes memrelief's OCI image as one tar file, offline and
// reproducibly: no base image, no registry, no container engine. `make
// image` runs it on the static binary; the result loads with `docker load`,
// `ctr -n k8s.io images import` and `podman load`.
//
// The archive holds the image twice over the same blobs, so every loader
// finds its format: an OCI image layout (oci-layout, index.json,
// blobs/sha256/...) and docker-save's manifest.json, as `docker save` has
// written since Docker 25. The one layer is an uncompressed tar of the
// binary and the license notices, its entries sorted, owned by root and
// dated at --created, so the same binary and date give the same bytes.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	var in Input
	var out, licenses, created string
	flag.StringVar(&in.Binary, "binary", "bin/memrelief", "the static binary to put at /usr/bin/memrelief")
	flag.StringVar(&licenses, "licenses", "", "third-party license notices (packaging/scripts/third-party-licenses.sh), put at /usr/share/doc/memrelief/third-party-licenses")
	flag.StringVar(&in.License, "license", "LICENSE", "memrelief's own license, put at /usr/share/doc/memrelief/LICENSE")
	flag.StringVar(&in.Name, "name", "localhost/memrelief", "repository name the loaders give the image")
	flag.StringVar(&in.Version, "version", "dev", "version: a tag of the image and its org.opencontainers.image.version label")
	flag.StringVar(&in.Revision, "revision", "", "the commit it was built from")
	flag.StringVar(&created, "created", "0", "image and file times, in seconds since 1970 (SOURCE_DATE_EPOCH: the last commit's)")
	flag.StringVar(&out, "out", "dist/memrelief-image.tar", "the archive to write")
	flag.Parse()
	secs, err := strconv.ParseInt(created, 10, 64)
	if err != nil {
		fail(fmt.Errorf("--created %q: want seconds since 1970", created))
	}
	in.Created = time.Unix(secs, 0).UTC()
	in.Licenses = licenses
	if err := writeFile(out, in); err != nil {
		fail(err)
	}
	fmt.Printf("%s: %s:%s and :latest\n", out, in.Name, Tag(in.Version))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "image:", err)
	os.Exit(1)
}

// writeFile writes the archive next to path and renames it into place, so
// a failed build leaves no half archive behind.
func writeFile(path string, in Input) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".image-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := Build(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
