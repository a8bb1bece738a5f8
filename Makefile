# Build, run and test the registrar. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
BIN       := $(CURDIR)/bin
GOARCH    ?= $(shell $(GO) env GOARCH)
LDFLAGS   := -s -w -X main.version=$(shell git describe --always --dirty 2>/dev/null || echo dev)
BUILD     := CGO_ENABLED=0 GOOS=linux $(GO) build -tags lambda.norpc -trimpath -ldflags "$(LDFLAGS)"
RIE_VERSION         := v0.0.0-20261030222936-bef5c4ba774d
STATICCHECK_VERSION := v0.8.2
# Empty: each fuzz target gets its own execution count (16–19 s apiece on 2 cores).
# A count, not a duration: with a duration, Go 1.26's fuzz coordinator can fail
# a clean run with "context deadline exceeded" as the time runs out
# (go.dev/issue/75804, fixed in Go 1.27). FUZZTIME=… sets one budget for all.
FUZZTIME  ?=
EVENT     ?= events/create-vpc-endpoint.json
SCENARIO  ?= register

# scripts/ensure-tools installs moto_server and cfn-lint into this virtual
# environment when they are not on PATH (pip may not install into the system
# Python: PEP 668). Its bin/ comes first on PATH in every recipe once it exists;
# until then PATH lookups pass over it.
VENV      := $(CURDIR)/.local/venv
export TOOLS_VENV := $(VENV)
export PATH := $(VENV)/bin:$(PATH)

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build the Lambda binary for this machine's architecture into bin/bootstrap.
	GOARCH=$(GOARCH) $(BUILD) -o $(BIN)/bootstrap ./cmd/registrar

# `sam build` calls this (Metadata: BuildMethod: makefile); Lambda runs arm64.
.PHONY: build-RegistrarFunction
build-RegistrarFunction:
	GOARCH=arm64 $(BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./cmd/registrar

$(BIN)/aws-lambda-rie:
	GOBIN=$(BIN) $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

.PHONY: tools
tools: $(BIN)/aws-lambda-rie ## Check or install what the tests need (moto_server and cfn-lint, into .local/venv if missing; the runtime emulator).
	@./scripts/ensure-tools

.PHONY: lint
lint: $(BIN)/staticcheck ## gofmt, go vet, staticcheck and cfn-lint.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...
	cfn-lint template.yaml deploy/member-account.yaml

.PHONY: test
test: tools build lint ## Run every test with the race detector, each benchmark once, then a short run of each fuzz target.
	BOOTSTRAP=$(BIN)/bootstrap RIE=$(BIN)/aws-lambda-rie $(GO) test -race -count=1 ./...
	@# One iteration of each benchmark: it must still run (make bench measures).
	$(GO) test -run '^$$' -bench . -benchtime 1x ./... > /dev/null
	$(MAKE) --no-print-directory fuzz

# -fuzzminimizetime 1x: a short run should fuzz, not spend its time shrinking
# each new input (60 s apiece by default).
.PHONY: fuzz
fuzz: ## Fuzz event decoding, credential parsing and error decoding, 16–19 s per target on 2 cores (FUZZTIME=10000000x for a longer run).
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(or $(FUZZTIME),300000x) -fuzzminimizetime 1x ./handler/event
	$(GO) test -run '^$$' -fuzz '^FuzzParseCredentials$$' -fuzztime $(or $(FUZZTIME),200000x) -fuzzminimizetime 1x ./atlas
	$(GO) test -run '^$$' -fuzz '^FuzzCheckResponse$$' -fuzztime $(or $(FUZZTIME),175000x) -fuzzminimizetime 1x ./atlas

# The local tools run as a built binary, not with `go run`, which would add
# its own "exit status 1" to a run stopped with Ctrl-C.
.PHONY: localrun
localrun:
	$(GO) build -o $(BIN)/localrun ./cmd/localrun

.PHONY: run
run: tools build localrun ## Register an endpoint end to end on this machine (EVENT=events/….json picks the event; SCENARIO=lifecycle: register, delete, deregister, reconcile; SCENARIO=data-federation: a Data Federation endpoint).
	$(BIN)/localrun run -bootstrap $(BIN)/bootstrap -rie $(BIN)/aws-lambda-rie -event $(EVENT) -scenario $(SCENARIO)

.PHONY: up
up: tools build localrun ## Start the local stack and keep it running for `make invoke`.
	$(BIN)/localrun up -bootstrap $(BIN)/bootstrap -rie $(BIN)/aws-lambda-rie

.PHONY: invoke
invoke: localrun ## Invoke the running local stack (`make up`) with EVENT=events/….json.
	$(BIN)/localrun invoke -event $(EVENT)

.PHONY: bench
bench: tools build ## Measure binary size, cold start against the goal, package init, memory and per-event CPU.
	$(GO) run ./cmd/bench -rie $(BIN)/aws-lambda-rie

.PHONY: soak
soak: ## Model a burst of 100 endpoints through the deployment as shipped; prints figures vs goals.
	$(GO) run ./cmd/soak

.PHONY: clean
clean: ## Remove what the build and the local tools wrote: bin/, .aws-sam/ and .local/ (its Python tools too).
	rm -rf $(BIN) .aws-sam .local
