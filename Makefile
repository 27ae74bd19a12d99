# Staircase: `make run` starts the app, `make test` runs every test.
GO        ?= go
BIN       := bin/staircase
DATA_DIR  ?= data
TEST_FLAGS ?= -count=1 -timeout 30m

.PHONY: run build test test-short generate fmt lint bench clean

run: build
	$(BIN) serve --data-dir $(DATA_DIR)

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) .

# Browser tests need Debian's chromium (apt-get install -y chromium); without
# it they are skipped locally and fail in CI. PostgreSQL tests run when
# STAIRCASE_TEST_POSTGRES is a URL, NATS ones when STAIRCASE_TEST_NATS is.
test:
	$(GO) test $(TEST_FLAGS) ./...

test-short:
	$(GO) test -short -count=1 ./...

generate:
	$(GO) tool templ generate

fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '_templ.go$$')
	$(GO) tool templ fmt web

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$'))" || (gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$'); exit 1)
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
