# Staircase: `make run` starts the app, `make test` runs every test.
SHELL     := bash
GO        ?= go
# The Go release with the standard library's security fixes; the go command
# fetches it through the module proxy the first time.
export GOTOOLCHAIN ?= go1.26.10
BIN       := bin/staircase
DATA_DIR  ?= data
ADDR      ?= 127.0.0.1:8080
TEST_FLAGS ?= -count=1 -timeout 30m

.PHONY: run build test backends test-short chaos generate fmt lint bench fuzz vuln clean

run: build
	$(BIN) serve --addr $(ADDR) --data-dir $(DATA_DIR)

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) .

# Browser tests need Debian's chromium (apt-get install -y chromium); without
# it they are skipped locally and fail in CI. PostgreSQL tests run when
# STAIRCASE_TEST_POSTGRES is a URL, NATS ones when STAIRCASE_TEST_NATS is.
# The target says, before and after the run, which of them it did not test.
test: backends
	$(GO) test $(TEST_FLAGS) ./...
	@$(MAKE) --no-print-directory backends

backends:
	@if [ -n "$$STAIRCASE_TEST_POSTGRES" ]; then echo "backends: PostgreSQL tested ($$STAIRCASE_TEST_POSTGRES)"; \
	  else echo "backends: PostgreSQL NOT tested: set STAIRCASE_TEST_POSTGRES to a server URL, e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"; fi
	@if [ -n "$$STAIRCASE_TEST_NATS" ]; then echo "backends: external NATS tested ($$STAIRCASE_TEST_NATS)"; \
	  else echo "backends: external NATS NOT tested (embedded only): set STAIRCASE_TEST_NATS, e.g. nats://127.0.0.1:4222"; fi
	@if command -v chromium >/dev/null 2>&1; then echo "backends: browser tested ($$(chromium --version 2>/dev/null))"; \
	  else echo "backends: browser NOT tested: apt-get install -y chromium"; fi

test-short:
	$(GO) test -short -count=1 ./...

# The chaos test at full size (internal/e2e/chaos_test.go): 10,000
# commands from 100 clients against stage 3, sync and async command bus,
# while the app is SIGKILLed, NATS restarted twice, the write database taken
# away for 12 s and the stages switched live 3→0→3→2→3→1→3; then the read
# side must equal the write side row by row. SQLite with the embedded NATS
# always; PostgreSQL with an external nats-server of the test's own when
# STAIRCASE_TEST_POSTGRES is set. One summary line per variant (sent,
# accepted, applied, lost, duplicated, unknown, seconds to converge) is
# repeated at the end and kept in $(CHAOS_OUT). CHAOS_SWITCH=0 leaves the
# live switches out; `make test` runs a short variant (1,200 commands from
# 20 clients, switches included).
CHAOS_COMMANDS ?= 10000
CHAOS_CLIENTS  ?= 100
CHAOS_SWITCH   ?= 1
CHAOS_OUT      ?= bin/chaos.txt
chaos:
	@mkdir -p $(dir $(CHAOS_OUT))
	set -o pipefail; STAIRCASE_CHAOS_COMMANDS=$(CHAOS_COMMANDS) STAIRCASE_CHAOS_CLIENTS=$(CHAOS_CLIENTS) STAIRCASE_CHAOS_SWITCH=$(CHAOS_SWITCH) \
	  $(GO) test -count=1 -timeout 90m -run '^TestChaos$$' -v ./internal/e2e/ | tee $(CHAOS_OUT) | grep -v '^ *{'; \
	  status=$$?; echo; grep '^chaos ' $(CHAOS_OUT) || true; \
	  if [ -z "$$STAIRCASE_TEST_POSTGRES" ]; then echo "chaos: PostgreSQL NOT tested: set STAIRCASE_TEST_POSTGRES"; fi; exit $$status

generate:
	$(GO) tool templ generate

fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '_templ.go$$')
	$(GO) tool templ fmt web

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$'))" || (gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$'); exit 1)
	$(GO) vet ./...

# Benchmarks (internal/bench), each starting the app in process (or the
# binary, for the figures at scale) and printing ratios measured side by
# side in the same run: write headroom, read isolation, projection lag,
# rebuild against raw inserts, and stage 3 at $(BENCH_SIZE) orders (enter,
# list, memory). The raw output goes to $(BENCH_OUT); `staircase bench
# report` prints one table of every figure against its target and saves it
# as bin/bench.json and bin/bench.svg. SQLite with the embedded NATS
# always; PostgreSQL with external NATS when STAIRCASE_TEST_POSTGRES and
# STAIRCASE_TEST_NATS are set. `make bench BENCH_SIZE=20000
# BENCH_SECONDS=2` is a quick check. A failed benchmark fails the target.
BENCH_OUT     ?= bin/bench.txt
BENCH_SIZE    ?= 1000000
BENCH_SECONDS ?= 5
bench: build
	set -o pipefail; STAIRCASE_BENCH_ORDERS=$(BENCH_SIZE) STAIRCASE_BENCH_EVENTS=$(BENCH_SIZE) STAIRCASE_BENCH_SECONDS=$(BENCH_SECONDS) \
	  STAIRCASE_BENCH_BIN=$(abspath $(BIN)) $(GO) test -run '^$$' -bench '^Benchmark(WriteHeadroom|ReadIsolation|ReadIsolationRoles|ProjectionLag|Rebuild|AtScale|Dashboard|SearchNoMatch)$$' \
	  -benchtime 1x -timeout 60m ./internal/bench | tee $(BENCH_OUT)
	$(BIN) bench report --in $(BENCH_OUT) --json bin/bench.json --svg bin/bench.svg

# Exercises (exercises/NN-name, each with a README): `make exercise 1` (or
# N=1) runs exercise 1's check, which fails until the exercise is solved.
# `make exercise-solutions` proves, in a temporary copy of the tree, that
# every check fails on the tree and passes with its solution.patch.
.PHONY: exercise exercise-solutions
ifeq (exercise,$(firstword $(MAKECMDGOALS)))
ifneq (,$(word 2,$(MAKECMDGOALS)))
N := $(word 2,$(MAKECMDGOALS))
$(eval $(N):;@:)
endif
endif
exercise:
	@case "$(N)" in ''|*[!0-9]*) echo "usage: make exercise N, e.g. make exercise 1 (see exercises/)"; exit 2;; esac; \
	dir=$$(ls -d exercises/$$(printf %02d $$((10#$(N))))-*/ 2>/dev/null | head -n1); \
	if [ -z "$$dir" ]; then echo "no exercise $(N): the exercises are $$(ls -d exercises/[0-9][0-9]-* | xargs -n1 basename | tr '\n' ' ')"; exit 2; fi; \
	echo "== $${dir%/} (read $${dir}README.md)"; \
	$(GO) test -count=1 -tags exercise ./$${dir}check && echo "exercise $(N): solved"

exercise-solutions:
	exercises/prove.sh

# Fuzz targets, each run for $(FUZZ_TIME). The inputs fuzzing has found
# that widen coverage (this run's and earlier ones', kept in the Go build
# cache) are copied into the package's testdata/fuzz, so they are
# committed and replayed by every plain `go test` (KEEP_CORPUS= skips the
# copy, as CI's short run does).
FUZZ_TIME   ?= 2m
KEEP_CORPUS ?= 1
FUZZ_TARGETS := \
	./internal/order:FuzzDecodeCursor \
	./internal/order:FuzzPlaceOrder \
	./internal/httpapi:FuzzDecodePlaceOrder \
	./internal/httpapi:FuzzDecodeCommand \
	./stages:FuzzEnvelope \
	./bff:FuzzParseCents \
	./bff:FuzzOrderForm
fuzz:
	@set -e; cache="$$($(GO) env GOCACHE)/fuzz/$$($(GO) list -m)"; \
	for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "== $$name ($$pkg, $(FUZZ_TIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZ_TIME) $$pkg; \
	  if [ -n "$(KEEP_CORPUS)" ] && [ -d "$$cache/$${pkg#./}/$$name" ]; then \
	    dst="$$pkg/testdata/fuzz/$$name"; mkdir -p "$$dst"; \
	    for f in "$$cache/$${pkg#./}/$$name"/*; do [ -e "$$dst/$${f##*/}" ] || cp "$$f" "$$dst/"; done; \
	  fi; \
	done

# govulncheck against the Go vulnerability database, read from the
# golang.org/x/vulndb module (indexed here) so that no other endpoint is
# needed. Exits non-zero when the code reaches a known vulnerability.
VULNDB_VERSION    := v0.0.0-20261105234957-e22db6528018
GOVULNCHECK       := golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULN_DB           := bin/vulndb
vuln:
	rm -rf $(VULN_DB)
	$(GO) run golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION) \
	  -vulns "$$($(GO) env GOMODCACHE)/golang.org/x/vulndb@$(VULNDB_VERSION)/data/osv" -out $(VULN_DB)
	$(GO) run $(GOVULNCHECK) -db file://$(abspath $(VULN_DB)) ./...

clean:
	rm -rf bin

# Stage 3 scaled out on this machine (.ci/cluster): PostgreSQL databases
# (createdb), a three-node NATS cluster and two web, one commands, one relay
# and two projector processes, with pid files and logs in bin/cluster;
# `make cluster-down` stops exactly those. `make scale-chaos` runs the
# scale-out kill test (internal/e2e/roles_test.go) bigger than `make test`.
.PHONY: cluster cluster-down scale-chaos
SCALE_COMMANDS ?= 3000
SCALE_CLIENTS  ?= 30
# The commands go through the async command bus, one at a time at the
# write side's pace on a replicated stream: a rate it keeps up with.
SCALE_RATE     ?= 40
cluster: build
	.ci/cluster up
cluster-down:
	.ci/cluster down
scale-chaos:
	STAIRCASE_SCALE_COMMANDS=$(SCALE_COMMANDS) STAIRCASE_SCALE_CLIENTS=$(SCALE_CLIENTS) STAIRCASE_SCALE_RATE=$(SCALE_RATE) \
	  $(GO) test -count=1 -timeout 30m -run '^TestScaleOutSurvivesKills$$' -v ./internal/e2e/ | grep -v '^ *{'; exit $${PIPESTATUS[0]}
