#!/usr/bin/env bash
# Runs, one after another, every campaign-engine measurement recorded in
# docs/BENCHMARKS.md ("Campaign engine"). About 18 minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build
H=./bin/herald
run() { echo "### $* ($(date -u +%H:%M:%S))"; "$@" 2>&1 | grep -v 'sent (\|applied ('; echo; }
run $H bench send --recipients 60000 --senders 1 --rate 1000
run $H bench send --recipients 60000 --senders 1 --rate 1000 --workers 3
run $H bench send --recipients 200000 --senders 10 --rate 1000 --sim-rate -1
run $H bench send --recipients 200000 --senders 20 --rate 1000 --sim-rate -1
run $H bench send --recipients 200000 --senders 10 --rate 1000
run $H bench send --recipients 200000 --senders 10 --rate 1000 --webhooks
run $H bench send --recipients 1000000 --senders 10 --rate 1000 --sim-rate -1
for lat in 1s 500ms 200ms; do
	run $H bench send --recipients 30000 --senders 1 --rate 1000 --sim-latency $lat
done
run $H bench send --recipients 100000 --senders 10 --rate 1000 --sim-rate -1 --sim-latency 500ms
GOGC=400 GOMEMLIMIT=400MiB run $H bench send --recipients 100000 --senders 10 --rate 1000 --sim-rate -1 --sim-latency 500ms
run $H bench send --recipients 10000 --senders 10 --rate 1000 --sim-rate -1 --batch-size 1
for b in 100 1000 5000; do
	run $H bench send --recipients 50000 --senders 10 --rate 1000 --sim-rate -1 --batch-size $b
done
for c in 20 50 200; do
	run $H bench send --recipients 100000 --senders 10 --rate 1000 --sim-rate -1 --chunk-size $c
done
go test ./campaigns/ -run '^$' -bench BenchmarkExpand -benchtime 1x | grep Benchmark
