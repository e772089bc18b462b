# scoutbridge: `make help` lists the targets. The two that matter first: `make demo` and `make test`.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Pinned tool versions, installed with `go install` into ./bin (never by hand).
BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GRPCURL_VERSION            := v1.9.4
# The CNCF distribution registry: the runtime service's Docker Engine test pushes locally built images
# to it on loopback, so that they get real repository digests (no registry is reachable here).
REGISTRY_VERSION           := v3.0.0

BIN      := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/scoutbridge/scoutbridge/pkg/chassis.Version=$(VERSION)
MODULES  := gen pkg services/discovery services/scanner services/ingest services/orchestrator services/runtime tools tests/e2e
SERVICES := discovery scanner ingest orchestrator runtime
# Stand-ins for the outside services (tools/): binary name => package.
STANDINS := fakehub=./tools/fakehub fakedynatrace=./tools/fakedynatrace docker-scout=./tools/fakescout
TEST_FLAGS ?= -race -count=1 -timeout 15m

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

## ---- tools -----------------------------------------------------------------------------------------
TOOLS_STAMP := $(BIN)/.tools-$(BUF_VERSION)-$(PROTOC_GEN_GO_VERSION)-$(PROTOC_GEN_GO_GRPC_VERSION)-$(GRPCURL_VERSION)-$(REGISTRY_VERSION)

.PHONY: tools
tools: $(TOOLS_STAMP) ## install pinned buf, protoc-gen-go, protoc-gen-go-grpc, grpcurl and registry into ./bin

$(TOOLS_STAMP):
	@mkdir -p $(BIN)
	@echo "installing pinned tools into $(BIN) (the first time compiles buf: a few minutes)"
	GOBIN=$(BIN) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	GOBIN=$(BIN) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(BIN) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	GOBIN=$(BIN) go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)
	GOBIN=$(BIN) go install github.com/distribution/distribution/v3/cmd/registry@$(REGISTRY_VERSION)
	@rm -f $(BIN)/.tools-* && touch $@

## ---- code generation and checks ---------------------------------------------------------------------
.PHONY: generate
generate: tools ## regenerate gen/ from proto/
	buf generate

.PHONY: check-generate
check-generate: tools ## fail if gen/ is not what proto/ generates
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	buf generate -o $$tmp; \
	if ! diff -r $$tmp/gen/scoutbridge gen/scoutbridge >/dev/null; then \
	  diff -r $$tmp/gen/scoutbridge gen/scoutbridge | head -40; \
	  echo "gen/ is stale: run 'make generate' and commit the result"; exit 1; \
	fi; echo "gen/ is current"

.PHONY: lint
lint: tools ## buf lint, gofmt and go vet on every module
	buf lint
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	@for m in $(MODULES); do (cd $$m && go vet ./...) || exit 1; done
	@echo "lint clean"

.PHONY: breaking
breaking: tools ## buf breaking check against main
	@if git rev-parse --verify -q main >/dev/null; then buf breaking --against '.git#branch=main'; \
	else echo "no main branch to compare with: skipped"; fi

.PHONY: gomod-check
gomod-check: ## every module builds on its own (GOWORK=off), as an image build does
	@for m in $(MODULES); do (cd $$m && GOWORK=off go build ./... ) || { echo "$$m does not build with GOWORK=off"; exit 1; }; done
	@echo "every module builds with GOWORK=off"

.PHONY: tidy
tidy: ## go mod tidy in every module
	@for m in $(MODULES); do (cd $$m && go mod tidy -e) || exit 1; done

## ---- build and test ---------------------------------------------------------------------------------
.PHONY: build
build: ## static binaries of the services and stand-ins into bin/
	@mkdir -p $(BIN)
	@for s in $(SERVICES); do \
	  CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/$$s ./services/$$s/cmd/$$s || exit 1; done
	@for pair in $(STANDINS); do name=$${pair%%=*}; pkg=$${pair#*=}; \
	  CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/$$name $$pkg || exit 1; done
	@echo "built into $(BIN): $(SERVICES) $(foreach p,$(STANDINS),$(firstword $(subst =, ,$(p))))"

.PHONY: test
test: tools ## run every module's tests with -race (includes the end-to-end test with real processes)
	go test $(TEST_FLAGS) $$(go list -m -f '{{.Dir}}/...')

.PHONY: test-compose
test-compose: images ## the end-to-end scenario through docker compose (needs a Docker Engine)
	SCOUTBRIDGE_COMPOSE_TEST=1 go test -count=1 -timeout 15m -run TestCompose ./tests/e2e/...

.PHONY: bench
bench: ## run every benchmark once (figures go to docs/benchmarks.md by hand)
	go test -run '^$$' -bench . -benchmem -benchtime 1x $$(go list -m -f '{{.Dir}}/...')

## ---- run it -----------------------------------------------------------------------------------------
COMPOSE := docker-compose -f deploy/compose.yaml --project-directory deploy -p scoutbridge

.PHONY: images
images: build ## container images FROM scratch around the static binaries (no pulls)
	deploy/build-images.sh

.PHONY: up
up: images ## start the suite with docker compose (settings from the environment, see README)
	$(COMPOSE) up -d
	$(COMPOSE) ps

.PHONY: down
down: ## stop the suite (volumes are kept; `make down VOLUMES=1` removes them)
	$(COMPOSE) --profile demo --profile observability down $(if $(VOLUMES),-v,)

.PHONY: demo
demo: tools images ## the whole chain end to end with stand-ins: discover, scan, ingest, prioritize
	deploy/demo.sh

.PHONY: clean
clean: ## remove bin/ and local state
	rm -rf $(BIN) data deploy/.build
