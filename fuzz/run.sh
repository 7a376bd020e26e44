#!/usr/bin/env bash
# fuzz/run.sh - build the libFuzzer targets and run each for a while on the seed corpus.
#
#   fuzz/run.sh [SECONDS]   run fuzz_model, fuzz_spec, fuzz_data and fuzz_cli for SECONDS each
#                           (default 60)
#
# Builds with clang in build/fuzz (NN_FUZZ_BUILD_DIR overrides), the library
# instrumented for coverage with ASan and UBSan (-DNN_BUILD_FUZZERS=ON). Each target
# runs on a scratch copy of fuzz/corpus/<target> (the seeds in the tree are not
# changed; the new inputs libFuzzer finds stay in the scratch copy). Any
# crash, leak, sanitizer report, failed check or timeout stops the target, leaves the
# input that did it in build/fuzz/fuzz/run-<target>/ (crash-*, leak-*, timeout-*) and fails the
# script. Needs clang and libclang-rt-14-dev (Debian 12) for libFuzzer.
# NN_FUZZ_SEED=N fixes libFuzzer's random seed (CI does), so a finding can be replayed
# by running again with the same seed; unset, every run explores differently.
# Exit status: 0 no findings, 1 a finding or a build failure, 2 bad usage.
set -euo pipefail

self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")" # before the cd
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-60}
if [[ $# -gt 1 || ! $seconds =~ ^[1-9][0-9]*$ ]]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$self" >&2
    exit 2
fi

dir=${NN_FUZZ_BUILD_DIR:-build/fuzz}
cc=${CC:-clang}
command -v "$cc" >/dev/null || { echo "fuzz/run.sh: $cc not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }

printf '==> building the fuzz targets in %s with %s\n' "$dir" "$cc"
cmake -S . -B "$dir" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DNN_BUILD_FUZZERS=ON -DBUILD_SHARED_LIBS=OFF -DNN_WERROR=ON \
    -DNN_BUILD_TESTS=OFF -DNN_BUILD_EXAMPLES=OFF -DNN_BUILD_BENCHMARKS=OFF -DNN_BUILD_CLI=OFF >/dev/null
cmake --build "$dir" -j2 --target fuzz_model fuzz_spec fuzz_data fuzz_cli

# BLAS threads would only add noise; the allocator budget in fuzz_alloc.h keeps
# memory in check, and -rss_limit_mb catches anything that escapes it.
export OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
for t in model spec data cli; do
    work="$dir/fuzz/run-$t"
    rm -rf "$work"
    mkdir -p "$work/corpus"
    cp fuzz/corpus/"$t"/* "$work/corpus/"
    if [[ -d fuzz/regressions/$t ]] && compgen -G "fuzz/regressions/$t/*" >/dev/null; then
        cp fuzz/regressions/"$t"/* "$work/corpus/"
    fi
    opts=()
    [[ -f fuzz/$t.dict ]] && opts=(-dict="$PWD/fuzz/$t.dict")
    [[ -n ${NN_FUZZ_SEED:-} ]] && opts+=(-seed="$NN_FUZZ_SEED")
    printf '\n==> fuzz_%s for %ss\n' "$t" "$seconds"
    bin=$(cd "$dir/fuzz" && pwd)/fuzz_$t
    if (cd "$work" && "$bin" "${opts[@]}" -max_total_time="$seconds" \
            -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 corpus) \
            >"$work/log" 2>&1; then
        grep -E '^stat::number_of_executed_units|^Done|^stat::peak_rss' "$work/log" || true
    else
        status=1
        tail -n 60 "$work/log"
        printf 'fuzz/run.sh: fuzz_%s FAILED; the input is in %s (crash-*, leak-*, timeout-*)\n' \
            "$t" "$work" >&2
    fi
done
exit $status
