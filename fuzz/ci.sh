#!/usr/bin/env bash
# CI's fuzzing: a short bounded run of every target (20,000 executions or 10 s each, whichever comes first), seeded
# from the fixtures. Any crash, hang past 2 s or allocation past 256 MB fails the run and leaves the input in
# fuzz/artifacts/<target>/. Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and a stable toolchain: the
# nightly-only flags cargo-fuzz passes are allowed through RUSTC_BOOTSTRAP. See fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

export RUSTC_BOOTSTRAP=1
fuzz/seed-corpus.sh
# No sanitizer: nvfix is safe Rust (the C decompressors are not instrumented either), and without ASan the targets
# build and run several times faster; panics, overflow checks and debug assertions still stop the fuzzer.
cargo fuzz build -s none
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for target in $(cargo fuzz list); do
  echo "== fuzz $target"
  if ! cargo fuzz run -s none "$target" -- \
    -runs=20000 -max_total_time=10 -rss_limit_mb=256 -malloc_limit_mb=256 -timeout=2 -print_final_stats=1 \
    >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz target $target failed: the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^(Done|stat::peak_rss_mb)' "$log"
done
