# herald — the two commands a fresh machine needs are `make demo` and `make test`.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
FUZZTIME ?= 10000x

.PHONY: demo test vet unit fuzz chaos build bench bench-import bench-webhooks bench-throttle bench-report bench-send bench-pacing bench-expand postgres clean

## demo: import a sample list, run a campaign against the simulator, print the report
demo: postgres build
	./bin/herald demo

## test: vet, every test with the race detector, and a short run of each fuzz target
test: postgres vet unit fuzz

build:
	$(GO) build -o bin/herald ./cmd/herald

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

# Each fuzz target runs for FUZZTIME (go test -fuzz takes one target at a
# time): a count of inputs, not a duration. Go 1.26's fuzzing coordinator
# can report a spurious "context deadline exceeded" failure when a duration
# runs out while a worker is busy (golang/go#75804, fixed in Go 1.27); a
# count has no deadline to race.
fuzz:
	@set -e; for t in $$(scripts/fuzz-targets.sh); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

## postgres: make sure a PostgreSQL server answers on 127.0.0.1:5432 (installs and starts one if needed)
postgres:
	@scripts/ensure-postgres.sh

## chaos: the kill test at full size (50,000 recipients, five SIGKILLs)
chaos: postgres
	HERALD_CHAOS_RECIPIENTS=50000 HERALD_CHAOS_KILLS=5 $(GO) test -run 'TestWorkerKilled' -timeout 30m -v ./cmd/herald/

bench: bench-import bench-throttle bench-webhooks bench-report bench-expand bench-send bench-pacing

bench-import: build
	./bin/herald bench import --rows 1000000 --format csv
	./bin/herald bench import --rows 1000000 --format xlsx

bench-webhooks: build
	./bin/herald bench webhooks --duration 20s

bench-throttle:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./internal/throttle/

## bench-send: send capacity (ten numbers, simulator uncapped, webhooks off),
## end to end with webhooks, and a worker's memory over a million recipients
bench-send: build
	./bin/herald bench send --recipients 200000 --senders 10 --rate 1000 --sim-rate -1
	./bin/herald bench send --recipients 200000 --senders 10 --rate 1000 --webhooks
	./bin/herald bench send --recipients 1000000 --senders 10 --rate 1000 --sim-rate -1

## bench-pacing: one number at 1,000/s for 60 s against a simulator capped at
## 1,000/s, from one and from three worker processes
bench-pacing: build
	./bin/herald bench send --recipients 60000 --senders 1 --rate 1000
	./bin/herald bench send --recipients 60000 --senders 1 --rate 1000 --workers 3

bench-expand:
	$(GO) test ./campaigns/ -run '^$$' -bench BenchmarkExpand -benchtime 1x

bench-report:
	$(GO) test -run '^$$' -bench BenchmarkCampaignReport -benchtime 200x ./internal/report/

clean:
	rm -rf bin .herald
