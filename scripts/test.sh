#!/usr/bin/env bash
# The README's test command: installs what the project needs (Debian 12,
# as root), builds, and runs every test twice: in a normal build and in a
# build with AddressSanitizer + UndefinedBehaviorSanitizer; the C and CLI
# tests also run on the posix platform layer. A clang build checks that the
# code is warning-free with the second compiler too. Last, every fuzz target
# runs for 45 s (fuzz/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

./scripts/install-deps.sh

echo "== build (gcc, RelWithDebInfo) and test"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure --timeout 600

echo "== build (clang, -Werror): warnings are errors"
cmake -S . -B build-clang -DCMAKE_C_COMPILER=clang -DCMAKE_C_FLAGS=-Werror -DIPM_BUILD_PYTHON=OFF
cmake --build build-clang -j"$jobs"

echo "== build on the posix platform layer (IPM_PLATFORM=posix) and test"
# The same library with platform_posix.c, the one file a BSD or macOS port
# starts from: the C and ipmon tests run against it, skipping (and printing)
# only the checks of facts POSIX interfaces do not tell (alias, link kind).
cmake -S . -B build-posix -DCMAKE_C_COMPILER=gcc -DIPM_PLATFORM=posix -DIPM_BUILD_PYTHON=OFF
cmake --build build-posix -j"$jobs"
ctest --test-dir build-posix --output-on-failure --timeout 600 -L '^(c|cli)$'

echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer and test"
# The Python extension is left out here: loading ASan into an interpreter
# that was not built with it needs LD_PRELOAD tricks that test the trick,
# not the code. The C library, the CLI and their tests all run, but for the
# soak cases (label soak): their flat-RSS checks would measure ASan's
# quarantine, and they run in the gcc stage above.
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=gcc -DIPM_SANITIZE=ON \
      -DIPM_BUILD_PYTHON=OFF
cmake --build build-sanitize -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-sanitize --output-on-failure --timeout 600 -LE 'nosanitize|soak'

echo "== fuzz every target for 45 s (libFuzzer, clang, ASan + UBSan)"
# A bounded run of each fuzz target (fuzz/) from its seeds: a crash, a
# failed check or a hang fails the test command. Long runs: fuzz/run.sh 3600.
./fuzz/run.sh 45
