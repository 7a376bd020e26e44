#!/usr/bin/env bash
# build.sh - build, test and run nn with one command.
#
#   ./build.sh gender [ARGS...]  Release build in build/release, then run the gender example
#                                (ARGS are passed to it)
#   ./build.sh test              build and run the tests twice: Release with -Werror in
#                                build/release, ASan+UBSan Debug with -Werror in build/sanitize
#   ./build.sh fuzz [SECONDS]    build the libFuzzer targets with clang in build/fuzz and run
#                                each for SECONDS (default 60) on the seed corpus (fuzz/run.sh);
#                                also needs clang and libclang-rt-14-dev
#   ./build.sh deps              only install what is missing
#   ./build.sh help              this text
#
# Every command first checks the tools and Debian packages it needs. As root, the missing ones
# are installed with apt-get; otherwise the apt-get command to run is printed and the script
# exits with status 2. Exit status: 0 success, 1 a build or test failed, 2 missing dependencies
# or bad usage.
set -euo pipefail

# The script's own path, before the cd (usage reads its header; a relative $0 would
# no longer name it from the tree's root).
readonly SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
cd "$(dirname "${BASH_SOURCE[0]}")"

readonly JOBS=2
readonly RELEASE_DIR=build/release
readonly SANITIZE_DIR=build/sanitize
readonly GENDER_BIN=$RELEASE_DIR/examples/gender/nn_gender

say() { printf '\n==> %s\n' "$*"; }
die() {
    printf 'build.sh: %s\n' "$*" >&2
    exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$SELF"
}

# ---- dependencies -------------------------------------------------------------------------

# True when the Debian package is installed (not merely known to dpkg, or removed with its
# configuration files left). No pipe: under pipefail, `dpkg -s | grep -q` fails at random
# when grep exits on the Status line while dpkg is still writing the description (SIGPIPE),
# and a package that is there was reported missing.
dpkg_installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) && [[ $status == 'install ok installed' ]]
}

# Prints the Debian packages that are missing, one per line. $1 is "yes" when valgrind is needed.
# Commands are looked up on PATH, so a compiler or cmake installed another way counts too;
# libraries are looked up with dpkg.
missing_packages() {
    local with_valgrind=$1
    have cc || have gcc || echo gcc
    have cmake || echo cmake
    have make || have ninja || echo make
    have pkg-config || echo pkg-config
    if [[ $with_valgrind == yes ]]; then
        have valgrind || echo valgrind
    fi
    if have dpkg; then
        local pkg
        # libc6-dev: gcc only recommends it, so --no-install-recommends leaves it out.
        # zlib1g-dev: the IDX loader reads gzip files. dataset-fashion-mnist: the real data
        # the Fashion-MNIST test and example train on (the test skips without it).
        for pkg in libc6-dev libopenblas-dev libcmocka-dev zlib1g-dev dataset-fashion-mnist; do
            dpkg_installed "$pkg" || echo "$pkg"
        done
    elif have pkg-config; then
        pkg-config --exists cmocka || echo libcmocka-dev
        pkg-config --exists zlib || echo zlib1g-dev
    fi
}

# The fuzz targets' extra needs: clang, and libFuzzer's runtime, which Debian 12 ships in
# libclang-rt-14-dev (not a dependency of clang). $1 "yes" adds them to the list.
missing_fuzz_packages() {
    [[ $1 == yes ]] || return 0
    have clang || echo clang
    if have dpkg; then
        dpkg_installed libclang-rt-14-dev || echo libclang-rt-14-dev
    fi
}

ensure_deps() {
    local with_valgrind=$1 with_fuzz=${2:-no}
    local missing
    missing=$({ missing_packages "$with_valgrind"; missing_fuzz_packages "$with_fuzz"; } | tr '\n' ' ')
    missing=${missing% }
    [[ -z $missing ]] && return 0

    local install="apt-get install -y --no-install-recommends $missing"
    if ! have apt-get; then
        printf 'build.sh: missing: %s\n' "$missing" >&2
        printf 'Install them (these are Debian package names) and run this script again.\n' >&2
        exit 2
    fi
    if [[ $(id -u) -ne 0 ]]; then
        printf 'build.sh: missing: %s\n' "$missing" >&2
        printf 'Run as root (for example with sudo), then run this script again:\n' >&2
        printf '  apt-get update\n  %s\n' "$install" >&2
        exit 2
    fi
    say "installing: $missing"
    apt-get update
    # shellcheck disable=SC2086 # word splitting of the package list is wanted
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing

    missing=$({ missing_packages "$with_valgrind"; missing_fuzz_packages "$with_fuzz"; } | tr '\n' ' ')
    [[ -z ${missing// /} ]] || die "still missing after apt-get install: $missing"
}

# ---- build steps --------------------------------------------------------------------------

# configure DIR CMAKE_ARGS...
# Picks Ninja only for a new build tree on a machine without make; an existing tree keeps its
# generator, and CMAKE_GENERATOR from the environment wins.
configure() {
    local dir=$1
    shift
    local generator=()
    if [[ ! -f $dir/CMakeCache.txt && -z ${CMAKE_GENERATOR:-} ]] && ! have make; then
        generator=(-G Ninja)
    fi
    cmake -S . -B "$dir" "${generator[@]}" "$@"
}

# build DIR [CMAKE_BUILD_ARGS...]
build() {
    local dir=$1
    shift
    cmake --build "$dir" -j"$JOBS" "$@"
}

# ---- commands -----------------------------------------------------------------------------

cmd_gender() {
    ensure_deps no
    say "configuring $RELEASE_DIR (Release)"
    configure "$RELEASE_DIR" -DCMAKE_BUILD_TYPE=Release
    say "building $GENDER_BIN"
    build "$RELEASE_DIR" --target nn_gender
    say "running $GENDER_BIN $*"
    exec "$GENDER_BIN" "$@"
}

# One row of the summary per suite, filled by run_suite.
SUMMARY=()

# run_suite NAME DIR CMAKE_ARGS...: configure, build and test one tree; records a summary row
# and returns non-zero on the first step that fails.
run_suite() {
    local name=$1 dir=$2
    shift 2
    local start=$SECONDS step

    for step in configure build test; do
        say "$name: $step ($dir)"
        case $step in
            configure) configure "$dir" "$@" ;;
            build) build "$dir" ;;
            test) ctest --test-dir "$dir" --output-on-failure ;;
        esac || {
            SUMMARY+=("$(printf '  %-9s FAIL  %s failed (%ds)' "$name" "$step" $((SECONDS - start)))")
            return 1
        }
    done
    SUMMARY+=("$(printf '  %-9s PASS  (%ds)' "$name" $((SECONDS - start)))")
}

cmd_test() {
    ensure_deps yes
    local failed=0 start=$SECONDS

    run_suite release "$RELEASE_DIR" -DCMAKE_BUILD_TYPE=Release -DNN_WERROR=ON || failed=1

    # Make every sanitizer finding fatal and readable, unless the caller chose otherwise.
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    run_suite sanitize "$SANITIZE_DIR" -DCMAKE_BUILD_TYPE=Debug -DNN_SANITIZE=ON -DNN_WERROR=ON ||
        failed=1

    say "summary ($((SECONDS - start))s)"
    printf '  release   = Release, -Werror                  %s\n' "$RELEASE_DIR"
    printf '  sanitize  = Debug, ASan + UBSan, -Werror      %s\n' "$SANITIZE_DIR"
    printf '%s\n' "${SUMMARY[@]}"
    if [[ $failed -ne 0 ]]; then
        printf 'build.sh test: FAILED\n'
        return 1
    fi
    printf 'build.sh test: all passed\n'
}

cmd_fuzz() {
    ensure_deps no yes
    exec fuzz/run.sh "$@"
}

main() {
    local cmd=${1:-help}
    [[ $# -gt 0 ]] && shift
    case $cmd in
        gender) cmd_gender "$@" ;;
        test)
            [[ $# -eq 0 ]] || { usage >&2; exit 2; }
            cmd_test
            ;;
        fuzz)
            [[ $# -le 1 ]] || { usage >&2; exit 2; }
            cmd_fuzz "$@"
            ;;
        deps)
            ensure_deps yes
            echo "build.sh: all dependencies are installed"
            ;;
        help | -h | --help) usage ;;
        *)
            printf 'build.sh: unknown command: %s\n\n' "$cmd" >&2
            usage >&2
            exit 2
            ;;
    esac
}

main "$@"
