#!/bin/sh
# tests/cli/test_gender_cli.sh GENDER - the README's example program, nn_gender, as a
# user runs it: the lesson's numbers it prints and its option errors.
set -u
G=$1
checks=0
failures=0
check() { # check DESCRIPTION CONDITION...
    checks=$((checks + 1))
    d=$1
    shift
    "$@" || { failures=$((failures + 1)); printf 'FAIL: %s\n' "$d"; }
}
out=$("$G" --quiet --predict 128 63 --predict 160 72)
rc=$?
check "--quiet exits 0 (got $rc)" [ "$rc" -eq 0 ]
for want in "Final loss: 0.002302" "Emily: 0.965 - F" "Frank: 0.056 - M" \
    "128 lb, 63 in: 0.965 - F" "160 lb, 72 in:"; do
    check "stdout has '$want'" sh -c 'printf "%s\n" "$1" | grep -qF -- "$2"' _ "$out" "$want"
done
check "--quiet skips the walkthrough" sh -c '! printf "%s\n" "$1" | grep -qF "== 1."' _ "$out"

# usage errors: status 2 and a message saying what was wrong
err_of() { "$G" "$@" 2>&1 >/dev/null; }
args=""
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17; do args="$args --predict 130 65"; done
# shellcheck disable=SC2086
msg=$(err_of --quiet $args); rc=$?
check "17 --predict: status 2 (got $rc)" [ "$rc" -eq 2 ]
check "17 --predict: says the limit ($msg)" sh -c 'printf "%s" "$1" | grep -qF "at most 16 --predict"' _ "$msg"
msg=$(err_of --seed -1); rc=$?
check "--seed -1: status 2 (got $rc)" [ "$rc" -eq 2 ]
check "--seed -1: says why ($msg)" sh -c 'printf "%s" "$1" | grep -qF "non-negative integer"' _ "$msg"
msg=$(err_of --predict 1x 63); rc=$?
check "--predict 1x: status 2 (got $rc)" [ "$rc" -eq 2 ]
check "--predict 1x: says why ($msg)" sh -c 'printf "%s" "$1" | grep -qF "two numbers"' _ "$msg"
msg=$(err_of --frobnicate); rc=$?
check "unknown option: status 2 (got $rc)" [ "$rc" -eq 2 ]
check "unknown option: prints usage ($msg)" sh -c 'printf "%s" "$1" | grep -qi "usage"' _ "$msg"

printf 'gender_cli: %d checks, %d failed\n' "$checks" "$failures"
[ "$failures" -eq 0 ]
