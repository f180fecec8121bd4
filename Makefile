# The one entry point for building and testing memrelief. README.md and
# .ci/run call these targets; keep them in step.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN      := bin/memrelief

.PHONY: all build test lint unit fuzz e2e clean

all: build

# Static binary: CGO_ENABLED=0 so it runs on any host whatever its libc.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/memrelief

# The whole test suite: formatting, vet, staticcheck, unit and fixture tests.
test: lint unit

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

unit:
	$(GO) test -count=1 ./...

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
	MEMRELIEF_E2E=1 $(GO) test -count=1 -v -timeout 45m ./packaging/e2e/

clean:
	rm -rf bin
