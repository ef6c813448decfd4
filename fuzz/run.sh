#!/usr/bin/env bash
# fuzz/run.sh - build the libFuzzer targets (clang, ASan + UBSan) in
# build-fuzz/ if needed and fuzz each one for a bounded time, one after the
# other; print per target the executions run and any crash; exit 1 if any
# target crashed (or failed a check, or hung past -timeout).
#
#   fuzz/run.sh                    60 s per target, every target
#   fuzz/run.sh 3600               an hour per target (long runs)
#   fuzz/run.sh 600 file decode    only these targets
#   FUZZ_RUNS=100000 fuzz/run.sh   a fixed number of executions per target
#                                  instead of a time (reproducible length)
#
# Each target starts from its seeds (fuzz/corpus/<target>/, read only) and
# its regressions (with fuzz/<target>.dict as libFuzzer dictionary if any), and keeps what it finds in build-fuzz/fuzz-work/<target>/
# (reused by the next run). A crash leaves its input as
# build-fuzz/fuzz-work/<target>-crash-*: to keep it as a test, copy it to
# fuzz/regressions/<target>/ (ctest then runs it in every build).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(file filter_config decode output cli_args writer)
fi
case "$seconds" in ''|*[!0-9]*) echo "fuzz/run.sh: SECONDS_PER_TARGET must be a whole number, not '$seconds'" >&2; exit 2;; esac

build=build-fuzz
work="$build/fuzz-work"
mkdir -p "$work"
# The build's output is kept in a log and shown only if it fails.
# Configured every time (a second or two): a target added since the last
# configure is then known to the build.
if ! cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
       -DIPM_FUZZ=ON -DIPM_BUILD_PYTHON=OFF >"$work/build.log" 2>&1 ||
   ! cmake --build "$build" -j2 --target "${targets[@]/#/fuzz_}" >>"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  echo "fuzz/run.sh: building the fuzz targets failed (clang and libclang-rt-14-dev are needed: ./scripts/install-deps.sh)" >&2
  exit 2
fi

failed=()
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  inputs=("$work/$t" fuzz/corpus/"$t")
  [ -d fuzz/regressions/"$t" ] && inputs+=(fuzz/regressions/"$t")
  if [ -n "${FUZZ_RUNS:-}" ]; then
    limit=(-runs="$FUZZ_RUNS")
  else
    limit=(-max_total_time="$seconds")
  fi
  dict=()
  [ -f fuzz/"$t".dict ] && dict=(-dict=fuzz/"$t".dict)
  log="$work/$t.log"
  start=$(date +%s)
  set +e
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    "$build/fuzz/fuzz_$t" "${limit[@]}" "${dict[@]}" -timeout=25 -print_final_stats=1 \
    -artifact_prefix="$work/$t-" "${inputs[@]}" >"$log" 2>&1
  rc=$?
  set -e
  elapsed=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -n "$execs" ] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
  corpus=$(find "$work/$t" -type f | wc -l)
  if [ $rc -eq 0 ]; then
    printf '%-14s %12s executions in %5d s, corpus %d inputs, no crash\n' "$t" "${execs:-?}" "$elapsed" "$corpus"
  else
    printf '%-14s %12s executions in %5d s: CRASH (exit %d), log %s\n' "$t" "${execs:-?}" "$elapsed" "$rc" "$log"
    grep -E 'ERROR:|runtime error|fuzz check failed|Test unit written' "$log" | head -5 | sed 's/^/    /'
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz/run.sh: crashes in: ${failed[*]}" >&2
  exit 1
fi
