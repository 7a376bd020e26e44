#!/usr/bin/env bash
# fuzz/make_corpus.sh NN - (re)writes the model seed corpus, fuzz/corpus/model/, with the
# nn tool NN (e.g. build/release/cli/nn): small models trained from the spec seeds
# (fuzz/corpus/spec/) on tiny generated data, so that together they hold every section
# (ARCH, PARM, LOSS, OPTM with state buffers, STDZ, META), most layer kinds with
# settings (dropout with its generator's state), and each optimizer's buffers.
set -euo pipefail
if [[ $# -ne 1 ]]; then
    echo "usage: fuzz/make_corpus.sh NN_CLI (the built nn tool)" >&2
    exit 2
fi
nn=$(realpath "$1")
cd "$(dirname "${BASH_SOURCE[0]}")"
out=corpus/model
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# rows ROWS INPUTS KIND: deterministic data, KIND "class3" (one class index 0..2),
# "values2" (two values), "probs3" (three probabilities), "class5" (index 0..4),
# "binary" (0/1 in one column), "binary2" (two 0/1 columns).
rows() {
    awk -v n="$1" -v k="$2" -v kind="$3" 'BEGIN {
        s = 1
        for (i = 0; i < n; i++) {
            line = ""; sum = 0
            for (j = 0; j < k; j++) {
                s = (s * 1103515245 + 12345) % 2147483648
                v = (s / 2147483648) * 4 - 2; sum += v
                line = line (j ? "," : "") sprintf("%.4f", v)
            }
            if (kind == "class3") t = (sum > 0.5) ? 2 : (sum > -0.5 ? 1 : 0)
            else if (kind == "class5") t = i % 5
            else if (kind == "values2") t = sprintf("%.4f,%.4f", sum, sum * sum)
            else if (kind == "probs3") t = (sum > 0) ? "0.7,0.2,0.1" : "0.1,0.3,0.6"
            else if (kind == "binary") t = (sum > 0)
            else t = (sum > 0) "," (sum > 1)
            print line "," t
        }
    }'
}

rows 24 4 class3 >"$tmp/class3.csv"
rows 16 3 values2 >"$tmp/values2.csv"
rows 12 2 probs3 >"$tmp/probs3.csv"
rows 10 5 class5 >"$tmp/class5.csv"
rows 8 2 binary >"$tmp/binary.csv"
rows 8 6 binary2 >"$tmp/binary2.csv"

mkdir -p "$out"
rm -f "$out"/*.nnm
q=(--quiet --no-header)
"$nn" train corpus/spec/gender.nn ../examples/gender/people.csv --shift 135,66 \
    --epochs 20 --quiet -o "$out/gender.nnm"
"$nn" train corpus/spec/gender.nn ../examples/gender/people.csv --standardize \
    --epochs 5 --quiet --no-optim -o "$out/gender_no_optim.nnm"
"$nn" train corpus/spec/classifier.nn "$tmp/class3.csv" "${q[@]}" --epochs 2 --standardize \
    --meta purpose=fuzzing -o "$out/classifier_adam.nnm"
"$nn" train corpus/spec/regression.nn "$tmp/values2.csv" "${q[@]}" --epochs 2 \
    -o "$out/regression_rmsprop.nnm"
"$nn" train corpus/spec/misc.nn "$tmp/class5.csv" "${q[@]}" --epochs 2 -o "$out/nll_sgd_momentum.nnm"
"$nn" train corpus/spec/adagrad.nn "$tmp/probs3.csv" "${q[@]}" --epochs 2 -o "$out/adagrad.nnm"
"$nn" train corpus/spec/bce.nn "$tmp/binary.csv" "${q[@]}" --epochs 2 -o "$out/bce_adamw.nnm"
"$nn" train corpus/spec/bce_logits.nn "$tmp/binary2.csv" "${q[@]}" --epochs 2 -o "$out/bce_logits_sgd.nnm"
ls -l "$out"
