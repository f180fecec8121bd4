# The one entry point for building and testing memrelief. README.md and
# .ci/run call these targets; keep them in step.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN      := bin/memrelief

.PHONY: all build test tools lint unit fuzz e2e clean package image

all: build

# Static binary: CGO_ENABLED=0 so it runs on any host whatever its libc.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/memrelief

# The whole test suite: formatting, vet, staticcheck, unit and fixture tests,
# then the end-to-end scenarios in a real systemd guest (about 15 minutes).
test: lint unit e2e

# The build tools pinned in go.mod (staticcheck, nfpm), downloaded and
# built now rather than on first use; .ci/run calls this before make test.
tools:
	$(GO) mod download
	$(GO) build tool

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@# go.mod and go.sum as go mod tidy would write them: no // indirect on a direct dependency.
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# With the race detector: the engine runs actions on a pool of workers
# beside its loop, and the data race there that 08dac04 fixed was found by
# review, not by a test. It needs cgo (gcc), which .ci/run installs.
unit:
	$(GO) test -race -count=1 ./...

# Runs every fuzz target for FUZZTIME each (go test allows one target per run).
FUZZTIME ?= 10s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 3s $$pkg || exit 1; \
	  done; \
	done

# End-to-end tests in a Debian guest under QEMU, one boot per cgroup mode
# (packaging/e2e). Needs root; installs qemu-system-x86 and debootstrap when
# missing and caches the guest image under /var/cache/memrelief-e2e.
# MEMRELIEF_E2E_MODES="unified" limits the boots.
e2e:
	MEMRELIEF_E2E=1 $(GO) test -count=1 -v -timeout 88m ./packaging/e2e/

# Packages: dist/memrelief_$(PKG_VERSION)_amd64.deb and
# dist/memrelief-$(PKG_VERSION).x86_64.rpm from packaging/nfpm.yaml, with
# nfpm run as a go tool (pinned in go.mod; no dpkg-dev or rpmbuild needed).
# The version must sort for dpkg and rpm: tag v1.2.3 plus 4 commits gives
# 1.2.3+4.gabcdef; without a tag 0.0.0~dev.N.gabcdef (N commits), which
# sorts below any release and rises with every commit.
PKG_VERSION ?= $(shell d=$$(git describe --tags --match 'v[0-9]*' 2>/dev/null) && \
	echo "$$d" | sed -e 's/^v//' -e 's/-\([0-9][0-9]*\)-g\([0-9a-f]*\)$$/+\1.g\2/' -e 's/-/~/g' || \
	{ n=$$(git rev-list --count HEAD 2>/dev/null) && h=$$(git rev-parse --short HEAD) && echo "0.0.0~dev.$$n.g$$h"; } || \
	echo 0.0.0~dev)
# Where the packages go; packaging/pkgtest builds into a temporary DIST.
DIST ?= dist
# Every file time in the packages (and the rpm's build time) is the last
# commit's, so the same commit builds the same packages: nfpm reads
# SOURCE_DATE_EPOCH (reproducible-builds.org) for every file without an
# mtime of its own.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
# The packages' maintainer field. A placeholder address (.invalid is
# reserved): whoever publishes packages sets their own here or on the
# command line.
PKG_MAINTAINER ?= memrelief maintainers <maintainers@memrelief.invalid>

package: build
	rm -rf $(DIST)/stage
	mkdir -p $(DIST)/stage/man
	for m in packaging/man/memrelief.8 packaging/man/memrelief-policy.5; do \
	  gzip -9n <$$m >$(DIST)/stage/man/$$(basename $$m).gz || exit 1; \
	done
	gzip -9n <packaging/changelog >$(DIST)/stage/changelog.gz
	GO=$(GO) sh packaging/scripts/third-party-licenses.sh ./cmd/memrelief $(DIST)/stage/third-party-licenses
	@# Without the D-Bus policy the package is still built, without it, and loudly.
	if [ -f packaging/dbus/org.memrelief.MemRelief1.conf ]; then \
	  cp packaging/nfpm.yaml $(DIST)/stage/nfpm.yaml; \
	else \
	  echo "make package: WARNING: packaging/dbus/org.memrelief.MemRelief1.conf missing: the packages have no D-Bus policy" >&2; \
	  sed '/# dbus-policy-begin/,/# dbus-policy-end/d' packaging/nfpm.yaml >$(DIST)/stage/nfpm.yaml; \
	fi
	rm -f $(DIST)/memrelief_*_amd64.deb $(DIST)/memrelief-*.x86_64.rpm
	SOURCE_DATE_EPOCH='$(SOURCE_DATE_EPOCH)' PKG_VERSION='$(PKG_VERSION)' PKG_STAGE='$(DIST)/stage' PKG_MAINTAINER='$(PKG_MAINTAINER)' $(GO) tool nfpm package --config $(DIST)/stage/nfpm.yaml \
	  --packager deb --target $(DIST)/memrelief_$(PKG_VERSION)_amd64.deb
	SOURCE_DATE_EPOCH='$(SOURCE_DATE_EPOCH)' PKG_VERSION='$(PKG_VERSION)' PKG_STAGE='$(DIST)/stage' PKG_MAINTAINER='$(PKG_MAINTAINER)' $(GO) tool nfpm package --config $(DIST)/stage/nfpm.yaml \
	  --packager rpm --target $(DIST)/memrelief-$(PKG_VERSION).x86_64.rpm

# The OCI image of the static binary for the DaemonSet, as one archive
# (packaging/image): no base image, no registry, no container engine; the
# same commit gives the same bytes. Load it on a node with `docker load -i`,
# `ctr -n k8s.io images import` or `podman load -i`; it is tagged
# localhost/memrelief:$(VERSION) and :latest.
IMAGE ?= $(DIST)/memrelief-image.tar
image: build
	mkdir -p $(DIST)/stage
	GO=$(GO) sh packaging/scripts/third-party-licenses.sh ./cmd/memrelief $(DIST)/stage/third-party-licenses
	$(GO) run ./packaging/image -binary $(BIN) -licenses $(DIST)/stage/third-party-licenses \
	  -version '$(VERSION)' -revision '$(COMMIT)' -created '$(SOURCE_DATE_EPOCH)' -out $(IMAGE)

# The DaemonSet's policy ConfigMap is configs/default.toml, indented
# (packaging/kubernetes's test keeps them equal).
packaging/kubernetes/configmap.yaml: configs/default.toml
	{ sed -n '1,/^  policy.toml: |$$/p' $@; sed 's/^./    &/' configs/default.toml; } >$@.tmp && mv $@.tmp $@

clean:
	rm -rf bin
