# schemaflow build, test and lint targets. `make help` lists them.

GO        ?= go
BIN       ?= bin/schemaflow
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# Pinned linter; `make lint` installs it into bin/ on first use.
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK         := bin/staticcheck-$(STATICCHECK_VERSION)
FUZZTIME  ?= 10s
BENCHTIME ?= 1s

.PHONY: all help build test lint bench bench-registry fuzz dev demo-offline clean

all: lint test build

help:
	@echo "make build  build $(BIN)"
	@echo "make test   go vet and the race-detector test suite"
	@echo "make lint   gofmt check, go vet, staticcheck $(STATICCHECK_VERSION)"
	@echo "make bench  every benchmark (BENCHTIME=$(BENCHTIME)) and the two soaks (SOAK_DURATION=$(SOAK_DURATION) each) into $(BENCH_OUT) and README.md"
	@echo "make bench-registry  registry lookups/s under wrk, net and fasthttp engines (OLD=binary to compare side by side)"
	@echo "make fuzz   each fuzz target for FUZZTIME=$(FUZZTIME)"
	@echo "make dev    the embedded stack (Kafka, registry, MongoDB) running examples/quickstart.yaml"
	@echo "make demo-offline  infer, encode and decode the example documents, no server"

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/schemaflow

# internal/ferrettest is a module of its own (FerretDB, which tests start
# through internal/ferret): vetted here, run by those tests.
FERRETTEST := internal/ferrettest

test:
	$(GO) vet ./...
	cd $(FERRETTEST) && $(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

$(STATICCHECK):
	@mkdir -p bin
	GOBIN=$(CURDIR)/bin/.staticcheck $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv bin/.staticcheck/staticcheck $(STATICCHECK)
	rm -rf bin/.staticcheck

lint: $(STATICCHECK)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	cd $(FERRETTEST) && $(GO) vet ./... && $(CURDIR)/$(STATICCHECK) ./...

# Every benchmark, then the soaks (BenchmarkSoak and BenchmarkSoakBacklog:
# `schemaflow run` with 10 pipelines for SOAK_DURATION each, the second
# with 20,000 records waiting for each sink), raw output in BENCH_OUT after the machine's
# date, Go, cores and commit (dirty when files other than the README it
# rewrites differ); internal/benchreport prints the figures with
# their limits and writes them into README.md between the bench markers.
# Exits 1 when a benchmark failed, after the README names it.
BENCH_OUT     ?= bench.out
SOAK_DURATION ?= 2m
bench:
	@mkdir -p bin && rm -f bin/.bench-failed
	@{ echo "date: $$(date -u +%Y-%m-%d)"; echo "go: $$($(GO) version)"; echo "cores: $$(nproc)"; \
	  echo "commit: $$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$$(git diff --quiet HEAD -- . ':!README.md' 2>/dev/null || echo ' (with uncommitted changes)')"; } > $(BENCH_OUT)
	@{ $(GO) test -run '^$$' -bench . -skip '^BenchmarkSoak(Backlog)?$$' -benchmem -benchtime $(BENCHTIME) -timeout 60m ./... || touch bin/.bench-failed; \
	  SCHEMAFLOW_SOAK_DURATION=$(SOAK_DURATION) $(GO) test -run '^$$' -bench '^BenchmarkSoak(Backlog)?$$' -benchtime 1x -timeout 30m ./cmd/schemaflow || touch bin/.bench-failed; \
	} 2>&1 | tee -a $(BENCH_OUT)
	$(GO) run ./internal/benchreport -in $(BENCH_OUT) -readme README.md
	@if [ -f bin/.bench-failed ]; then rm -f bin/.bench-failed; echo "make bench: a benchmark failed; see $(BENCH_OUT)"; exit 1; fi

# Lookups/s of `schemaflow registry serve` under wrk (apt-get install wrk),
# both engines (net and fasthttp) side by side, with wrk's THREADS=1 and 2;
# OLD=path/to/old/schemaflow adds an older binary (its default engine).
bench-registry: build
	registry/server/bench/wrk.sh $(OLD) $(BIN):net $(BIN):fasthttp

# Runs every Fuzz* target of every package for FUZZTIME.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$target"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

# The embedded stack (Kafka, registry, MongoDB) with the quickstart
# pipelines and a demo generator; data under .schemaflow/, Ctrl-C stops it.
# DEVFLAGS passes flags, e.g. DEVFLAGS="--kafka-addr 127.0.0.1:19092".
DEVFLAGS ?=
dev: build
	$(BIN) dev $(DEVFLAGS)

# The schema core alone, no server: infer, encode and decode the bundled
# example documents.
demo-offline: build
	@echo "== infer: one Avro schema for every document in examples/orders.jsonl"
	$(BIN) infer --name Order --namespace shop examples/orders.jsonl > bin/orders.avsc
	@cat bin/orders.avsc | head -40; echo "   ... (full schema in bin/orders.avsc)"
	@echo "== encode: Confluent-framed Avro records, base64, schema id 1"
	$(BIN) encode --schema bin/orders.avsc examples/orders.jsonl > bin/orders.b64
	@head -3 bin/orders.b64
	@echo "== decode: back to canonical Extended JSON"
	$(BIN) decode --schema bin/orders.avsc bin/orders.b64 | head -3

clean:
	rm -rf bin
