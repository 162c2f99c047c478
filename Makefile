# Strata's build. `make dev` runs a broker on 127.0.0.1:9092 with embedded
# defaults; `make test` installs what the tests need and runs them all.

GO            ?= go
BIN           := $(CURDIR)/bin
# MinIO publishes no semantic versions to the module proxy; this pseudo-version
# is the release the tests run against.
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
TEST_TIMEOUT  ?= 25m
# The Go modules of the repository: the broker, the SDK (client/, a module
# of its own so that its users get franz-go and little else) and the
# benchmark harness (bench/, which brings gonum, NATS and kfake). Tests and
# vet run in each, without a go.work, as CI and users resolve them.
MODULES       := . client bench
export GOWORK := off

.PHONY: all build dev test tools deps bench fuzz lint migrate clean chaos

all: build

# The release a build says it is (strata version, strata_build_info).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X github.com/stratalog/strata/internal/version.Version=$(VERSION) -X github.com/stratalog/strata/internal/version.Commit=$(COMMIT)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/strata ./cmd/strata

dev: build
	$(BIN)/strata dev

tools: deps $(BIN)/minio

deps:
	bash scripts/install-deps.sh

$(BIN)/minio:
	@echo "building MinIO $(MINIO_VERSION) into bin/ (several minutes, once)"
	GOBIN=$(BIN) $(GO) install github.com/minio/minio@$(MINIO_VERSION)

# The chaos run (internal/chaos) runs last and alone: it loads both cores
# for minutes, which would make the other packages' timing-sensitive
# tests (leases, long polls) fail for want of CPU.
test: tools
	for m in $(MODULES); do $(GO) -C $$m vet ./... || exit 1; done
	$(GO) test -race -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -v /internal/chaos$$)
	for m in $(filter-out .,$(MODULES)); do $(GO) -C $$m test -race -timeout $(TEST_TIMEOUT) ./... || exit 1; done
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./internal/chaos/

bench: tools
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/segment/ ./internal/recordbatch/ ./ingest/ ./reader/

# Short fuzzing of every decoder; FUZZTIME per target.
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzCheck -fuzztime $(FUZZTIME) ./internal/recordbatch/
	$(GO) test -run '^$$' -fuzz FuzzWalkRecords -fuzztime $(FUZZTIME) ./internal/recordbatch/
	$(GO) test -run '^$$' -fuzz FuzzDecodeRecords -fuzztime $(FUZZTIME) ./internal/recordbatch/
	$(GO) test -run '^$$' -fuzz FuzzWalk -fuzztime $(FUZZTIME) ./internal/chunk/
	$(GO) test -run '^$$' -fuzz FuzzStrict -fuzztime $(FUZZTIME) ./internal/chunk/
	$(GO) test -run '^$$' -fuzz FuzzFirstRecord -fuzztime $(FUZZTIME) ./reader/
	$(GO) test -run '^$$' -fuzz FuzzFilterBatch -fuzztime $(FUZZTIME) ./compactor/
	$(GO) test -run '^$$' -fuzz FuzzDecodeRecent -fuzztime $(FUZZTIME) ./metastore/
	$(GO) test -run '^$$' -fuzz FuzzAdmit -fuzztime $(FUZZTIME) ./ingest/
	$(GO) test -run '^$$' -fuzz FuzzDecodeFooter -fuzztime $(FUZZTIME) ./internal/segment/
	$(GO) test -run '^$$' -fuzz FuzzDecodeChunk -fuzztime $(FUZZTIME) ./internal/segment/
	$(GO) test -run '^$$' -fuzz FuzzDispatch -fuzztime $(FUZZTIME) ./internal/kafka/
	$(GO) test -run '^$$' -fuzz FuzzSASLDispatch -fuzztime $(FUZZTIME) ./internal/kafka/
	$(GO) test -run '^$$' -fuzz FuzzDecompress -fuzztime $(FUZZTIME) ./internal/decompress/
	$(GO) test -run '^$$' -fuzz FuzzStream -fuzztime $(FUZZTIME) ./internal/decompress/
	$(GO) test -run '^$$' -fuzz FuzzScramClientFirst -fuzztime $(FUZZTIME) ./internal/sasl/
	$(GO) test -run '^$$' -fuzz FuzzScramClientFinal -fuzztime $(FUZZTIME) ./internal/sasl/
	$(GO) test -run '^$$' -fuzz FuzzPlain -fuzztime $(FUZZTIME) ./internal/sasl/
	$(GO) test -run '^$$' -fuzz FuzzOAuthBearerClientResponse -fuzztime $(FUZZTIME) ./internal/sasl/
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./internal/share/

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	for m in $(MODULES); do $(GO) -C $$m vet ./... || exit 1; done

clean:
	rm -rf $(BIN)/strata $(BIN)/bench-compare $(BIN)/metastore-scale .strata

# Side-by-side produce benchmark of strata dev, strata serve (PostgreSQL +
# MinIO, 250 ms and 50 ms flush), kfake (also with its memory prefaulted)
# and NATS JetStream, plus the MinIO and PostgreSQL floor; writes
# docs/benchmarks.md ("Side by side") and docs/img/. About 15 minutes;
# BENCH_FLAGS=-quick takes about 5. The harness is built from its own
# module in bench/ and runs here, so that paths in BENCH_FLAGS are relative
# to the repository's top directory.
.PHONY: bench-compare
bench-compare: tools
	$(GO) -C bench build -o $(BIN)/bench-compare ./compare
	$(BIN)/bench-compare $(BENCH_FLAGS)

# One PostgreSQL under the segment commits of 100 simulated nodes, at
# 10,000 and 100,000 partitions, ramped until it saturates; then the
# metastore side of a compaction cycle and Metadata for every topic through
# a strata node (docs/scale.md). A throwaway server unless BENCH_FLAGS give
# -postgres-url. 5 to 10 minutes; it stops by itself.
.PHONY: bench-metastore
bench-metastore: build
	$(GO) -C bench build -o $(BIN)/metastore-scale ./metastore-scale
	$(BIN)/metastore-scale -strata $(BIN)/strata $(BENCH_FLAGS)

# A long chaos run: the fault-injection harness of internal/chaos with a
# fault phase of DURATION and the schedule of SEED (empty: a random seed,
# printed). The history, report and logs stay in the directory it names.
DURATION ?= 30m
SEED     ?=
chaos: build tools
	$(GO) run ./cmd/strata-chaos -strata $(BIN)/strata -minio $(BIN)/minio -duration $(DURATION) $(if $(SEED),-seed $(SEED)) $(CHAOS_FLAGS)
