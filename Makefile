# symflow — see README.md. `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
GO ?= go
FUNCTIONS := $(filter-out internal,$(notdir $(wildcard functions/*)))
BIN := bin

.PHONY: run install test deps lint build bench load fuzz clean sample-debug-file sample-minidump sample-source-bundle

## run: symbolicate the sample crash through the local state machine, first
## as a stack trace sent to the API, then as a minidump uploaded to the crash
## bucket (S3 trigger → execution → /minidump stack walk). Builds bin/symflow
## first (minutes the first time, while Go compiles the AWS SDK; seconds after).
run:
	@if [ -x $(BIN)/symflow ]; then echo "building symflow…"; else echo "building symflow (first time takes a few minutes)…"; fi; \
	  start=$$(date +%s); $(GO) build -o $(BIN)/symflow ./cmd/symflow || exit 1; \
	  echo "built $(BIN)/symflow in $$(( $$(date +%s) - start ))s"; echo
	$(BIN)/symflow run events/execution/native-crash.json \
	  --project-config events/project/sample-project.json \
	  --debug-file events/debug-files/crashy --debug-file events/debug-files/crashy.src.zip \
	  --log .symflow/logs/native-crash.log
	@echo; echo "── the same crash as a minidump, through the crash-upload path ──"; echo
	$(BIN)/symflow run events/crash-upload/crashy.dmp \
	  --project-config events/project/sample-project.json \
	  --debug-file events/debug-files/crashy --debug-file events/debug-files/crashy.src.zip \
	  --log .symflow/logs/minidump.log
	@echo; echo "the functions' JSON logs: .symflow/logs/native-crash.log, .symflow/logs/minidump.log"; \
	  echo "the executions again: $(BIN)/symflow executions list; in a browser: $(BIN)/symflow serve, then http://127.0.0.1:8080/"

## install: put symflow on PATH (go install: into $$(go env GOPATH)/bin)
install:
	$(GO) install ./cmd/symflow
	@echo "installed $$($(GO) env GOPATH)/bin/symflow; it needs no checkout to run (the template and state machine are built in)"

## deps: install what the tests need (Debian packages, npm tools, Go modules)
deps:
	bash scripts/deps.sh

## lint: gofmt, go vet, staticcheck and a tidy go.mod
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	  if [ -n "$$out" ]; then echo "gofmt needs to run on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	@cp go.mod /tmp/symflow-go.mod.bak; cp go.sum /tmp/symflow-go.sum.bak; \
	  $(GO) mod tidy; \
	  if ! git diff --quiet -- go.mod go.sum 2>/dev/null; then \
	    echo "go.mod/go.sum are not tidy; run 'go mod tidy'"; git --no-pager diff -- go.mod go.sum; \
	    cp /tmp/symflow-go.mod.bak go.mod; cp /tmp/symflow-go.sum.bak go.sum; exit 1; fi

## test: install test dependencies, lint, build, run every test with the race
## detector, then 5,000 inputs of every fuzz target (longer: make fuzz)
test: deps lint build
	$(GO) test -race -count=1 -timeout 20m ./...
	bash scripts/fuzz.sh 5000x

## build: cross-compile every function to bin/<name>/bootstrap (provided.al2023,
## the template's architecture)
build:
	@for f in $(FUNCTIONS); do \
	  echo "build $$f"; \
	  $(call lambda-build,$$f,$(BIN)/$$f) || exit 1; \
	done

# sam build: template.yaml's functions use SAM's makefile build method
# (Metadata BuildMethod makefile, ContextPath .), so `sam build` runs
# `make build-<LogicalId>` with ARTIFACTS_DIR set, from a scratch folder.
# The logical id names the package: LookupSourcesFunction is
# functions/lookup-sources. The build runs from this Makefile's folder,
# where go.mod is, whatever the current one.
ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
# LAMBDA_ARCH is the template's Globals Architectures (arm64 or x86_64);
# set it to override.
ifndef LAMBDA_ARCH
LAMBDA_ARCH := $(shell sed -n 's/^ *Architectures: *\[ *\([a-z0-9_]*\) *\] *$$/\1/p' $(ROOT)/template.yaml | head -n 1)
endif
GOARCH_arm64 := arm64
GOARCH_x86_64 := amd64

# lambda-build,PACKAGE,OUTDIR: OUTDIR/bootstrap for provided.al2023.
define lambda-build
cd $(ROOT) && GOOS=linux GOARCH=$(GOARCH_$(LAMBDA_ARCH)) CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
  -o $(abspath $(2))/bootstrap ./functions/$(1)
endef

build-%Function:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (sam build sets it; by hand: make $@ ARTIFACTS_DIR=DIR)" >&2; exit 2; }
	@test -n "$(GOARCH_$(LAMBDA_ARCH))" || { echo "architecture \"$(LAMBDA_ARCH)\" (template.yaml Architectures or LAMBDA_ARCH): want arm64 or x86_64" >&2; exit 2; }
	@pkg=$$(echo '$*' | sed -E 's/([a-z0-9])([A-Z])/\1-\2/g' | tr '[:upper:]' '[:lower:]'); \
	  test -f $(ROOT)/functions/$$pkg/main.go || { echo "$@: no functions/$$pkg/main.go for logical id $*Function" >&2; exit 2; }; \
	  echo "build $*Function: functions/$$pkg -> $(ARTIFACTS_DIR)/bootstrap (linux/$(GOARCH_$(LAMBDA_ARCH)))"; \
	  $(call lambda-build,$$pkg,$(ARTIFACTS_DIR))

## bench: measure against the reference tools and the goals (report printed, bench.json written)
bench: deps
	CGO_ENABLED=0 $(GO) run ./cmd/symflow-bench -json bench.json

## load: 1,000 executions through the local engine with 10 % injected faults
load:
	$(GO) run ./cmd/symflow chaos load --executions 1000

## fuzz: run every fuzz target for FUZZTIME (default 60s each)
FUZZTIME ?= 60s
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

## sample-debug-file: rebuild the sample program (then update events/execution/native-crash.json)
sample-debug-file:
	cd events/debug-files && gcc -O2 -g -fno-omit-frame-pointer -fdebug-prefix-map=$$(pwd)=/src/crashy -Wl,--build-id -o crashy crashy.c

## sample-minidump: rebuild events/crash-upload/crashy.dmp, a minidump of the
## sample program crashing: gdb runs it (empty environment, no ASLR) and
## writes a core, cmd/core2minidump converts it (stacks and modules only)
sample-minidump:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  env -i PATH=/usr/bin:/bin HOME="$$tmp" gdb -batch -nx -iex 'set debuginfod enabled off' \
	    -ex 'set startup-with-shell off' -ex 'unset environment' -ex run \
	    -ex "generate-core-file $$tmp/core" -ex bt $(CURDIR)/events/debug-files/crashy; \
	  $(GO) run ./cmd/core2minidump "$$tmp/core" events/crash-upload/crashy.dmp -ip-memory=false; \
	  ls -l events/crash-upload/crashy.dmp

clean:
	rm -rf $(BIN) .symflow

## sample-source-bundle: rebuild events/debug-files/crashy.src.zip, the sample
## program's sources as a Sentry source bundle (source context in make run)
sample-source-bundle:
	@set -e; id=$$($(GO) run ./cmd/symflow debug-files identify events/debug-files/crashy); \
	  code=$$(echo "$$id" | sed -n 's/.*code_id=\([0-9a-f]*\).*/\1/p'); \
	  debug=$$(echo "$$id" | sed -n 's/.*debug_id=\([0-9a-f-]*\).*/\1/p'); \
	  python3 scripts/bundle-sources.py events/debug-files/crashy.src.zip "$$code" "$$debug" crashy \
	    /src/crashy/crashy.c=events/debug-files/crashy.c
