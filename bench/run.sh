#!/bin/sh
# run.sh - the one command of the benchmarks: builds what it needs, makes the
# workloads, measures and prints the tables (also in bench/results/latest.md).
# Needs root for the live part. Options: see `bench/run.sh --help`.
exec /usr/bin/python3 "$(dirname "$0")/bench.py" "$@"
