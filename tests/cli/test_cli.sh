#!/bin/sh
# tests/cli/test_cli.sh NN SOURCE_DIR WORK_DIR - the nn command-line tool, end to end.
#
# Run by ctest (test "cli"): NN is the built tool, SOURCE_DIR the source tree (for
# examples/gender/), WORK_DIR an empty scratch folder. Each check states the exact
# exit status and what stdout or stderr must contain; the script prints every
# failure and exits 1 if there was one.
set -u
NN=$1
SRC=$2
T=$3
rm -rf "$T" && mkdir -p "$T" || exit 1
G=$SRC/examples/gender
checks=0
failures=0

fail() {
    failures=$((failures + 1))
    printf 'FAIL: %s\n' "$*"
    printf '  stdout: %s\n' "$(head -c 2000 "$T/out")"
    printf '  stderr: %s\n' "$(head -c 2000 "$T/err")"
}
# run CMD...: runs with stdin from /dev/null, keeps stdout, stderr and the status;
# run_in FILE CMD...: the same with stdin from FILE.
run_in() {
    f=$1
    shift
    "$@" <"$f" >"$T/out" 2>"$T/err"
    rc=$?
    what="$* < $f"
}
run() {
    run_in /dev/null "$@"
}
rc_is() {
    checks=$((checks + 1))
    [ "$rc" -eq "$1" ] || fail "$what: exit status $rc, expected $1"
}
out_has() {
    checks=$((checks + 1))
    grep -qF -- "$1" "$T/out" || fail "$what: stdout lacks '$1'"
}
err_has() {
    checks=$((checks + 1))
    grep -qF -- "$1" "$T/err" || fail "$what: stderr lacks '$1'"
}
err_empty() {
    checks=$((checks + 1))
    [ ! -s "$T/err" ] || fail "$what: stderr not empty"
}
# hex_file HEX FILE: writes the bytes HEX spells to FILE (printf's octal escapes: POSIX sh).
hex_file() {
    printf "$(awk -v h="$1" 'BEGIN { d = "0123456789abcdef"
        for (i = 1; i < length(h); i += 2)
            printf "\\%03o", (index(d, substr(h, i, 1)) - 1) * 16 + index(d, substr(h, i + 1, 1)) - 1 }')" >"$2"
}
# value_is LINE OP BOUND: line LINE of stdout (1-based) compared with awk.
value_is() {
    checks=$((checks + 1))
    v=$(sed -n "$1p" "$T/out")
    awk -v v="$v" "BEGIN { exit !(v != \"\" && v + 0 $2 $3) }" ||
        fail "$what: line $1 of stdout is '$v', expected $2 $3"
}

# ---- help and usage ----------------------------------------------------------------
run "$NN" --help
rc_is 0; out_has "usage: nn COMMAND"; out_has "train SPEC DATA.csv -o MODEL"; err_empty
for c in train eval predict info; do
    run "$NN" "$c" --help
    rc_is 0; out_has "usage: nn $c"; err_empty
done
run "$NN" --version
rc_is 0; out_has "nn 0."
run "$NN"
rc_is 2; err_has "nn: no command given"
run "$NN" frobnicate
rc_is 2; err_has "nn: unknown command 'frobnicate'"; err_has "Try 'nn --help'."
run "$NN" train --frob "$G/gender.nn" "$G/people.csv" -o "$T/m.nnm"
rc_is 2; err_has "nn: unknown option '--frob'"; err_has "Try 'nn train --help'."
run "$NN" train "$G/gender.nn" "$G/people.csv"
rc_is 2; err_has "nn: train needs the model file to write: -o MODEL"
run "$NN" train "$G/gender.nn" "$G/people.csv" -o "$T/m.nnm" --epochs 0
rc_is 2; err_has "--epochs needs a whole number >= 1, got '0'"
run "$NN" train "$G/gender.nn" "$G/people.csv" -o "$T/m.nnm" --val-split 1.5
rc_is 2; err_has "--val-split"
run "$NN" train "$G/gender.nn" "$G/people.csv" -o "$T/m.nnm" --standardize --shift 1,2
rc_is 2; err_has "--standardize and --shift exclude each other"
run "$NN" train "$G/gender.nn" "$G/people.csv" -o
rc_is 2; err_has "option -o needs a value"
run "$NN" info
rc_is 2; err_has "info needs a model file"
run "$NN" predict
rc_is 2; err_has "predict needs a model"
[ ! -e "$T/m.nnm" ] || fail "a usage error wrote $T/m.nnm"

# ---- missing and malformed files: status 1, the file named -------------------------
run "$NN" info "$T/nonexistent.nnm"
rc_is 1; err_has "nn: "; err_has "$T/nonexistent.nnm"
run "$NN" train "$T/missing.nn" "$G/people.csv" -o "$T/m.nnm"
rc_is 1; err_has "$T/missing.nn"
run "$NN" train "$G/gender.nn" "$T/missing.csv" -o "$T/m.nnm"
rc_is 1; err_has "nn: cannot open '$T/missing.csv'"
printf 'input 2\ndens 2\n' >"$T/typo.nn"
run "$NN" train "$T/typo.nn" "$G/people.csv" -o "$T/m.nnm"
rc_is 1; err_has "nn: $T/typo.nn:2:1: unknown layer kind or keyword 'dens'"
printf 'weight_lb,height_in,female\n133,65,1\n160,72,x\n152,70,0\n' >"$T/bad.csv"
run "$NN" train "$G/gender.nn" "$T/bad.csv" --shift 135,66 -o "$T/m.nnm" --quiet
rc_is 1; err_has "nn: $T/bad.csv:3: column 2 (female): 'x' is not a number"
printf '133,65,1\n160,72\n' >"$T/ragged.csv"
run "$NN" train "$G/gender.nn" "$T/ragged.csv" -o "$T/m.nnm" --quiet
rc_is 1; err_has "$T/ragged.csv:2"
run "$NN" train "$G/gender.nn" "$G/people.csv" --target gendr -o "$T/m.nnm"
rc_is 1; err_has "nn: --target 'gendr': $G/people.csv has no column of that name"
run "$NN" train "$G/gender.nn" "$G/people.csv" --target 5 -o "$T/m.nnm"
rc_is 1; err_has "--target 5: $G/people.csv has 3 columns (0 to 2)"
run "$NN" train "$G/gender.nn" "$G/people.csv" --shift 135 -o "$T/m.nnm"
rc_is 1; err_has "--shift needs 2 numbers, one per input, got '135'"
printf 'input 2\ndense 1\n' >"$T/noloss.nn"
run "$NN" train "$T/noloss.nn" "$G/people.csv" -o "$T/m.nnm"
rc_is 1; err_has "a spec to train needs a 'loss' and an 'optimizer' line"
[ ! -e "$T/m.nnm" ] || fail "a failed training wrote $T/m.nnm"

# ---- the gender lesson end to end --------------------------------------------------
M=$T/gender.nnm
run "$NN" train "$G/gender.nn" "$G/people.csv" --shift 135,66 -o "$M"
rc_is 0; out_has "trained 1000 epochs on 4 rows: loss 0.00"; out_has "wrote $M"
err_has "epoch 1000/1000: loss 0.00"
[ -s "$M" ] || fail "train wrote no $M"
run "$NN" predict "$M" "$G/newcomers.csv"
rc_is 0; err_empty
value_is 1 '>' 0.9   # Emily, 128 lb, 63 in: F
value_is 2 '<' 0.1   # Frank, 155 lb, 68 in: M
checks=$((checks + 1))
[ "$(wc -l <"$T/out")" -eq 2 ] || fail "predict gave $(wc -l <"$T/out") lines for 2 rows"
cp "$T/out" "$T/from_file"
printf '128,63\n155,68\n' >"$T/rows.csv"
run_in "$T/rows.csv" "$NN" predict "$M"
rc_is 0
checks=$((checks + 1))
cmp -s "$T/out" "$T/from_file" || fail "predict from stdin differs from predict from a file"
run_in "$T/rows.csv" "$NN" predict "$M" -
rc_is 0
checks=$((checks + 1))
cmp -s "$T/out" "$T/from_file" || fail "predict - differs from predict from a file"
# %.9g: each printed value reads back as the same float, so twice is identical.
run "$NN" predict "$M" "$T/rows.csv" --no-header
rc_is 0
checks=$((checks + 1))
cmp -s "$T/out" "$T/from_file" || fail "predict --no-header differs"

run "$NN" info "$M"
rc_is 0; err_empty
out_has "format version  1"
out_has "input width     2"
out_has "output width    1"
out_has "parameters      9"
out_has "loss            mse (target width 1)"
out_has "optimizer       sgd (lr 0.1, 4000 steps taken)"
out_has "standardisation (x - mean) / std"
out_has "  mean 135, 66"
out_has "  std  1, 1"
out_has "  created_by = nn train"
out_has "  train_rows = 4"
out_has "  epochs = 1000"
out_has "  input 2"
out_has "  dense 2 init=normal"
out_has "  sigmoid"
out_has "  optimizer sgd lr=0.1"

run "$NN" eval "$M" "$G/people.csv" --accuracy
rc_is 0; err_empty
out_has "rows      4"
out_has "loss      0.00"
out_has "(mse)"
out_has "accuracy  1.000000 (4 of 4)"
out_has "confusion (rows: true class, columns: predicted class)"
out_has "  0 2 0"
out_has "  1 0 2"
run "$NN" eval "$M" "$G/people.csv"
rc_is 0; out_has "rows      4"
checks=$((checks + 1))
! grep -q accuracy "$T/out" || fail "eval of an MSE model printed accuracy without --accuracy"

# The target by name and by number give the same model as the default (the last
# column): the same predictions (the files differ in the remembered --target).
run "$NN" train "$G/gender.nn" "$G/people.csv" --shift 135,66 --target female -q -o "$T/byname.nnm"
rc_is 0
run "$NN" train "$G/gender.nn" "$G/people.csv" --shift 135,66 --target 2 -q -o "$T/bynum.nnm"
rc_is 0
checks=$((checks + 2))
"$NN" predict "$M" "$G/newcomers.csv" >"$T/p_default"
for v in byname bynum; do
    "$NN" predict "$T/$v.nnm" "$G/newcomers.csv" >"$T/p_$v"
    cmp -s "$T/p_default" "$T/p_$v" || fail "--target ($v) gives another model than the default"
done

# ---- options: --standardize, --epochs, --history, --val-split, --no-optim, --meta -----
run "$NN" train "$G/gender.nn" "$G/people.csv" --standardize --epochs 10 --seed 7 --lr 0.5 \
    --history "$T/h.csv" --no-optim --meta owner=tests -q -o "$T/std.nnm"
rc_is 0
checks=$((checks + 1))
[ "$(wc -l <"$T/h.csv")" -eq 11 ] || fail "--history wrote $(wc -l <"$T/h.csv") lines, expected 11"
checks=$((checks + 1))
head -n 1 "$T/h.csv" | grep -q '^epoch,train_loss' || fail "--history has no header line"
run "$NN" info "$T/std.nnm"
rc_is 0
out_has "  mean 141.25, 66.75"
out_has "optimizer       none"
out_has "  owner = tests"
out_has "  epochs = 10"
printf 'weight_lb,height_in,female\n133,65,1\n160,72,0\n152,70,0\n120,60,1\n140,66,1\n170,73,0\n118,62,1\n165,71,0\n150,67,0\n128,64,1\n' >"$T/ten.csv"
run "$NN" train "$G/gender.nn" "$T/ten.csv" --standardize --val-split 0.2 --epochs 5 -o "$T/val.nnm"
rc_is 0; out_has "on 8 rows"; out_has "validation (2 rows) loss"
err_has "val_loss"

# ---- a classifier: cross-entropy on class indices ---------------------------------------
cat >"$T/cls.nn" <<'SPEC'
input 2
dense 8 init=xavier_uniform
tanh
dense 3
loss cross_entropy
optimizer adam lr=0.05
epochs 200
batch 4
shuffle true
seed 1
SPEC
printf 'x,y,class\n0,0,0\n0,1,0\n1,0,0\n5,5,1\n5,6,1\n6,5,1\n-5,5,2\n-6,5,2\n-5,6,2\n' >"$T/cls.csv"
run "$NN" train "$T/cls.nn" "$T/cls.csv" --standardize -q -o "$T/cls.nnm"
rc_is 0; err_empty
run "$NN" eval "$T/cls.nnm" "$T/cls.csv"
rc_is 0
out_has "rows      9"
out_has "(cross_entropy)"
out_has "accuracy  1.000000 (9 of 9)"
out_has "  0 3 0 0"
out_has "  1 0 3 0"
out_has "  2 0 0 3"
printf '5.5,5.5\n' >"$T/one.csv"
run "$NN" predict "$T/cls.nnm" "$T/one.csv"
rc_is 0
checks=$((checks + 1))
awk -F, '{ exit !(NF == 3 && $2 > $1 && $2 > $3) }' "$T/out" ||
    fail "predict of (5.5, 5.5) is '$(cat "$T/out")', expected 3 logits with the largest second"
printf 'x,y,class\n0,0,0\n0,1,7\n' >"$T/badclass.csv"
run "$NN" eval "$T/cls.nnm" "$T/badclass.csv"
rc_is 1; err_has "nn: "

# ---- malformed input to predict and eval ------------------------------------------------
printf '128,63\n155,abc\n' >"$T/badrow.csv"
run "$NN" predict "$M" "$T/badrow.csv"
rc_is 1; err_has "nn: $T/badrow.csv:2: column 1: 'abc' is not a number"
printf '128,63\n155\n' >"$T/short.csv"
run_in "$T/short.csv" "$NN" predict "$M"
rc_is 1; err_has "nn: <stdin>:2: 1 field, but the model takes 2 inputs"
printf '128,63\n\n155,68\n' >"$T/blank.csv"
run "$NN" predict "$M" "$T/blank.csv"
rc_is 1; err_has "$T/blank.csv:2: empty line between data lines"
# A NUL byte: said so (it was taken for a line too long), from a file and from stdin.
printf '128,63\n155,6\0008\n' >"$T/nul.csv"
run "$NN" predict "$M" "$T/nul.csv"
rc_is 1; err_has "$T/nul.csv:2: NUL byte in the line"
run_in "$T/nul.csv" "$NN" predict "$M"
rc_is 1; err_has "<stdin>:2: NUL byte in the line"
# A blank first line is a blank line, not a header to skip.
printf ' \t\n128,63\n' >"$T/blank1.csv"
run "$NN" predict "$M" "$T/blank1.csv"
rc_is 1; err_has "$T/blank1.csv:1: empty line between data lines"
# A first row with a typo is an error naming it, not a header to skip (a header is a
# line with no number in it); a lone line taken for a header, with no rows after it,
# is an error too: it gave no output and status 0.
printf '128,6x\n155,68\n' >"$T/typo1.csv"
run "$NN" predict "$M" "$T/typo1.csv"
rc_is 1; err_has "$T/typo1.csv:1: column 1: '6x' is not a number"
# the same rule for train and eval (csv_read_head)
printf '133,6x,1\n160,72,0\n' >"$T/typo3.csv"
run "$NN" train "$G/gender.nn" "$T/typo3.csv" -o "$T/typo3.nnm"
rc_is 1; err_has "$T/typo3.csv:1: column 1: '6x' is not a number"
run "$NN" eval "$M" "$T/typo3.csv"
rc_is 1; err_has "$T/typo3.csv:1: column 1: '6x' is not a number"
printf '128 63\n' >"$T/spaces.csv"
run_in "$T/spaces.csv" "$NN" predict "$M"
rc_is 1; err_has "<stdin>:1: read as a header (no field is a number), and no rows follow"
run "$NN" predict "$M" "$T/missing.csv"
rc_is 1; err_has "nn: cannot open '$T/missing.csv'"
run "$NN" eval "$M" "$T/bad.csv"
rc_is 1; err_has "$T/bad.csv:3: column 2 (female): 'x' is not a number"
# A value that rounds to infinity as a float (FLT_MAX plus half an ulp), as the CSV
# loader rejects it.
printf '3.4028235677973366e38,63\n' >"$T/toobig.csv"
run "$NN" predict "$M" "$T/toobig.csv"
rc_is 1; err_has "column 0: '3.4028235677973366e38' is not a number"
# A valid model file (as nn_model_save_net writes it) of input width 2^62 and one
# ReLU: the row buffers' sizes wrapped, and predict wrote past them.
hex_file 894e4e4d0d0a1a0a01000000000000005800000000000000415243480100000018000000000000000000000000000040010000000400000072656c75000000005041524d0100000004000000000000000000000040caf4e9 "$T/wide62.nnm"
run "$NN" info "$T/wide62.nnm"
rc_is 0; out_has "4611686018427387904"
printf '1,2\n' >"$T/two.csv"
run "$NN" predict "$T/wide62.nnm" "$T/two.csv"
rc_is 1; err_has "4611686018427387904 inputs and 4611686018427387904 outputs are more than memory can hold"
run_in "$T/two.csv" "$NN" predict "$T/wide62.nnm"
rc_is 1; err_has "more than memory can hold"
# Input width 2^40 (one sigmoid): its buffers fit a size_t but no line holds that many
# fields; the buffers were asked for first (1 PiB) and the error was "out of memory".
hex_file 894e4e4d0d0a1a0a01000000000000005b0000000000000041524348010000001b00000000000000000000000001000001000000070000007369676d6f6964000000005041524d01000000040000000000000000000000c79e8b25 "$T/wide40.nnm"
run "$NN" predict "$T/wide40.nnm" "$T/two.csv"
rc_is 1; err_has "the model takes 1099511627776 inputs; a line of at most 1048576 bytes holds at most 524288"
run_in "$T/two.csv" "$NN" predict "$T/wide40.nnm"
rc_is 1; err_has "the model takes 1099511627776 inputs"
printf 'a,b,c,d\n1,2,3,4\n' >"$T/wide.csv"
run "$NN" eval "$M" "$T/wide.csv"
rc_is 1; err_has "the network takes 2 inputs, but $T/wide.csv gives 3 columns besides the target"

# Data from a pipe: the first line is read apart from the rest, so a stream would
# lose its first rows; refused.
cat "$G/people.csv" | "$NN" train "$G/gender.nn" /dev/stdin -o "$T/pipe.nnm" >"$T/out" 2>"$T/err"
rc=$?
what="cat people.csv | nn train gender.nn /dev/stdin"
rc_is 1; err_has "/dev/stdin: not a regular file"
[ ! -e "$T/pipe.nnm" ] || fail "a model was written from a pipe"
# Outputs over inputs, or over each other, are refused before training.
cp "$G/people.csv" "$T/copy.csv"
run "$NN" train "$G/gender.nn" "$T/copy.csv" -o "$T/copy.csv"
rc_is 2; err_has "-o $T/copy.csv is the data file"
cmp -s "$G/people.csv" "$T/copy.csv" || fail "the data file was changed"
run "$NN" train "$G/gender.nn" "$T/copy.csv" -o "$T/h.nnm" --history "$T/h.nnm"
rc_is 2; err_has "--history and -o name the same file"
run "$NN" train "$G/gender.nn" "$T/copy.csv" -o "$T/h.nnm" --history ""
rc_is 2; err_has "an output path is empty"
# A history that cannot be written does not cost the model, written first.
rm -f "$T/h.nnm"
run "$NN" train "$G/gender.nn" "$T/copy.csv" -o "$T/h.nnm" --history "$T/no/such/dir/h.csv" --quiet
rc_is 1; err_has "(the model was written to $T/h.nnm)"
[ -s "$T/h.nnm" ] || fail "no model after a failed --history"
# A FIFO (or a device) at -o is not replaced by a regular file.
if mkfifo "$T/fifo" 2>/dev/null; then
    run "$NN" train "$G/gender.nn" "$T/copy.csv" -o "$T/fifo" --quiet
    rc_is 1; err_has "'$T/fifo' exists and is not a regular file: not replaced"
    [ -p "$T/fifo" ] || fail "the FIFO was replaced"
fi
# Numbers with a blank or a sign in front are not numbers (' -1' was 2^64 - 1).
run "$NN" train "$G/gender.nn" "$T/copy.csv" -o "$T/h.nnm" --epochs " -1"
rc_is 2; err_has "--epochs needs a whole number >= 1, got ' -1'"
run "$NN" train "$G/gender.nn" "$T/copy.csv" -o "$T/h.nnm" --seed " 5"
rc_is 2; err_has "--seed needs a whole number"
# A very large epoch limit with early stopping: the history grows as epochs end
# (one sized for the limit ran out of memory before training).
printf 'input 2\ndense 1\nsigmoid\nloss mse\noptimizer sgd\nepochs 1000000000\npatience 3\n' >"$T/long.nn"
run "$NN" train "$T/long.nn" "$T/copy.csv" -o "$T/long.nnm" --quiet
rc_is 0; err_empty
# restore_best: the summary and the metadata give the kept epoch's figures, not the
# last one's (raw pounds saturate the sigmoid: the loss is 0.5 from epoch 1, and
# patience 3 stops after epoch 4).
printf 'input 2\ndense 1\nsigmoid\nloss mse\noptimizer sgd\nepochs 100\npatience 3\nrestore_best true\n' >"$T/rb.nn"
run "$NN" train "$T/rb.nn" "$T/copy.csv" -o "$T/rb.nnm"
rc_is 0; out_has "trained 4 epochs on 4 rows, kept epoch 1 (restore_best): loss 0.5"
run "$NN" info "$T/rb.nnm"
rc_is 0; out_has "restored_epoch = 1"; out_has "train_loss = 0.5"
# predict --inputs picks the inputs from wider rows; a model trained with --inputs
# picks its own from data with a header, and rows without one hold the inputs alone.
printf 'id,w,h,female\nA,133,65,1\nB,160,72,0\nC,152,70,0\nD,120,60,1\n' >"$T/ppl.csv"
run "$NN" train "$G/gender.nn" "$T/ppl.csv" --inputs w,h --target female --shift 135,66 -o "$T/gi.nnm" --quiet
rc_is 0
printf '133,65\n160,72\n152,70\n120,60\n' >"$T/wh.csv"
run "$NN" predict "$T/gi.nnm" "$T/wh.csv"
rc_is 0
cp "$T/out" "$T/wh.out"
run "$NN" predict "$T/gi.nnm" "$T/ppl.csv"
rc_is 0
checks=$((checks + 1))
cmp -s "$T/out" "$T/wh.out" || fail "predict with the model's stored inputs differs from the inputs alone"
run "$NN" predict "$T/gi.nnm" "$T/ppl.csv" --inputs 1,2
rc_is 0
checks=$((checks + 1))
cmp -s "$T/out" "$T/wh.out" || fail "predict --inputs 1,2 differs from the inputs alone"
run "$NN" predict "$T/gi.nnm" "$T/ppl.csv" --inputs w
rc_is 1; err_has "--inputs w: 1 column, but the model takes 2 inputs"
printf 'id,w,h,female\nA,133,65\n' >"$T/short.csv"
run "$NN" predict "$T/gi.nnm" "$T/short.csv"
rc_is 1; err_has "$T/short.csv:2: fewer fields than the first line's 4"
printf 'A,133,65,1\n' >"$T/nohead.csv"
run_in "$T/nohead.csv" "$NN" predict "$T/gi.nnm" --inputs w,h
rc_is 1; err_has "--inputs 'w': <stdin> has no header line to find names in"
run_in "$T/nohead.csv" "$NN" predict "$T/gi.nnm" --inputs 1,2
rc_is 0; out_has "$(head -n 1 "$T/wh.out")"
# A byte order mark does not hide the first name (train and eval skip it too); a
# header over the inputs alone, named otherwise, is data of the inputs alone (as before
# --inputs); a column picked twice is refused, as train refuses it.
printf '\357\273\277w,h,id,female\n133,65,A,1\n160,72,B,0\n152,70,C,0\n120,60,D,1\n' >"$T/bom.csv"
run "$NN" train "$G/gender.nn" "$T/bom.csv" --inputs w,h --target female --shift 135,66 -o "$T/gb.nnm" --quiet
rc_is 0
run "$NN" predict "$T/gb.nnm" "$T/bom.csv"
rc_is 0
checks=$((checks + 1))
cmp -s "$T/out" "$T/wh.out" || fail "predict on a file with a byte order mark differs"
printf 'weight,height\n133,65\n160,72\n152,70\n120,60\n' >"$T/wh2.csv"
run "$NN" predict "$T/gi.nnm" "$T/wh2.csv"
rc_is 0
checks=$((checks + 1))
cmp -s "$T/out" "$T/wh.out" || fail "predict on a header over the inputs alone differs"
run "$NN" predict "$T/gi.nnm" "$T/ppl.csv" --inputs w,w
rc_is 1; err_has "--inputs w,w: column 1 is chosen twice"
# predict --output: classes as nn eval counts them (the lesson's mse model: 1 for
# Emily, 0 for Frank), a classifier's probabilities (cross_entropy: a softmax row
# summing to 1 whose argmax is the class; bce_logits: the sigmoid of the logit), and
# no probabilities without a classifier's loss.
run "$NN" predict "$M" "$G/newcomers.csv" --output class
rc_is 0; out_has "$(printf '1\n0')"
run "$NN" predict "$M" "$G/newcomers.csv" --output probabilities
rc_is 1; err_has "--output probabilities: $M has the loss 'mse', not a classifier's"
run "$NN" predict "$M" "$G/newcomers.csv" --output probs
rc_is 2; err_has "--output is values, probabilities or class, not 'probs'"
printf 'input 1\ndense 3\nloss cross_entropy\noptimizer sgd\n' >"$T/ce.nn"
printf 'x,y\n0,0\n1,1\n2,2\n0.5,0\n' >"$T/ce.csv"
run "$NN" train "$T/ce.nn" "$T/ce.csv" -o "$T/ce.nnm" --quiet
rc_is 0
printf '2\n-1\n' >"$T/ce_in.csv"
run "$NN" predict "$T/ce.nnm" "$T/ce_in.csv" --output probabilities
rc_is 0
checks=$((checks + 1))
awk -F, '{ s = $1 + $2 + $3; if (s < 0.999999 || s > 1.000001) bad = 1 } END { exit bad }' "$T/out" ||
    fail "softmax rows do not sum to 1"
awk -F, '{ m = 0; for (j = 2; j <= 3; j++) if ($j > $(m + 1)) m = j - 1; print m }' "$T/out" >"$T/argmax"
run "$NN" predict "$T/ce.nnm" "$T/ce_in.csv" --output class
rc_is 0
checks=$((checks + 1))
cmp -s "$T/out" "$T/argmax" || fail "--output class is not the argmax of the probabilities"
printf 'input 1\ndense 2\nloss nll\noptimizer sgd\n' >"$T/nl.nn"
printf 'x,y\n0,0\n1,1\n' >"$T/nl.csv"
run "$NN" train "$T/nl.nn" "$T/nl.csv" -o "$T/nl.nnm" --quiet
rc_is 0
run "$NN" predict "$T/nl.nnm" "$T/ce_in.csv" --output probabilities
rc_is 0
checks=$((checks + 1))
awk -F, '{ s = $1 + $2; if (s < 0.999999 || s > 1.000001) bad = 1 } END { exit bad }' "$T/out" ||
    fail "nll probabilities without a log_softmax do not sum to 1"
printf 'input 1\ndense 1\nloss bce_logits\noptimizer sgd lr=0.5\nepochs 50\n' >"$T/bl.nn"
printf 'x,y\n0,0\n1,1\n2,1\n-1,0\n' >"$T/bl.csv"
run "$NN" train "$T/bl.nn" "$T/bl.csv" -o "$T/bl.nnm" --quiet
rc_is 0
printf -- '-2\n3\n' >"$T/bl_in.csv"
run "$NN" predict "$T/bl.nnm" "$T/bl_in.csv"
rc_is 0
awk '{ printf "%.6f\n", 1 / (1 + exp(-$1)) }' "$T/out" >"$T/sig"
run "$NN" predict "$T/bl.nnm" "$T/bl_in.csv" --output probabilities
rc_is 0
checks=$((checks + 1))
awk '{ printf "%.6f\n", $1 }' "$T/out" | cmp -s - "$T/sig" || fail "bce_logits probabilities are not the sigmoid"
run "$NN" predict "$T/bl.nnm" "$T/bl_in.csv" --output class
rc_is 0; out_has "$(printf '0\n1')"
# A softmax before cross_entropy (which takes logits) trains to a worse optimum with
# no error: said as a warning, and training goes on; log_softmax before nll is right.
printf 'x,y\n0,0\n1,1\n2,2\n0.5,0\n' >"$T/c3.csv"
# warn_case ACTIVATION LOSS DATA EXPECTED: trains dense 3 then ACTIVATION with LOSS on
# DATA; status 0, and the warning EXPECTED on stderr, or nothing when it is empty.
warn_case() {
    printf 'input 1\ndense 3\n%s\nloss %s\noptimizer sgd\n' "$1" "$2" >"$T/w_$1_$2.nn"
    run "$NN" train "$T/w_$1_$2.nn" "$3" -o "$T/w.nnm" --quiet
    rc_is 0
    if [ -n "$4" ]; then err_has "$4"; else err_empty; fi
}
printf 'x,a,b,c\n0,0,1,0\n1,1,0,0\n' >"$T/c3b.csv"
warn_case softmax cross_entropy "$T/c3.csv" \
    "warning: $T/w_softmax_cross_entropy.nn ends in softmax, but cross_entropy takes logits"
warn_case sigmoid bce_logits "$T/c3b.csv" "ends in sigmoid, but bce_logits takes logits"
warn_case log_softmax nll "$T/c3.csv" ""
# The same slip with the other squashing outputs: sigmoid before cross_entropy bounds
# every logit to (0, 1) as softmax does; log_softmax before bce_logits keeps its sigmoid
# below 1/2; sigmoid before nll is no log-probability. log_softmax before cross_entropy
# is harmless (softmax ignores the shift) and is not warned about.
warn_case sigmoid cross_entropy "$T/c3.csv" "ends in sigmoid, but cross_entropy takes logits"
warn_case log_softmax bce_logits "$T/c3b.csv" "ends in log_softmax, but bce_logits takes logits"
warn_case sigmoid nll "$T/c3.csv" "ends in sigmoid, but nll takes log-probabilities"
warn_case log_softmax cross_entropy "$T/c3.csv" ""
# No epoch's monitored loss below Inf (the one validation row overflows the output):
# fit restores nothing, so the last epoch is the one kept and reported.
awk 'BEGIN { for (i = 0; i < 9; i++) { for (j = 0; j < 8; j++) printf "%g,", i * 0.1 + j * 0.01; print i * 0.3 }
    for (j = 0; j < 8; j++) printf "3e38,"; print 1 }' >"$T/rbinf.csv"
printf 'input 8\ndense 1 init=constant init_a=0.5\nloss mse\noptimizer sgd lr=0.01\nepochs 20\npatience 2\nrestore_best true\n' >"$T/rbinf.nn"
run "$NN" train "$T/rbinf.nn" "$T/rbinf.csv" -o "$T/rbinf.nnm" --val-split 0.1 --seed 8
rc_is 0; out_has "trained 2 epochs on 9 rows: loss 1.02231; validation (1 rows) loss inf"
run "$NN" info "$T/rbinf.nnm"
rc_is 0; out_has "restored_epoch = 2"

# A classifier of many classes: accuracy, but no matrix of 150 x 150 (60 000
# classes asked for 29 GB after half the report).
printf 'input 1\ndense 150\nloss cross_entropy\noptimizer sgd\nepochs 1\n' >"$T/wide.nn"
printf 'x,y\n0,0\n1,5\n2,149\n' >"$T/wide3.csv"
run "$NN" train "$T/wide.nn" "$T/wide3.csv" -o "$T/wide.nnm" --quiet
rc_is 0
run "$NN" eval "$T/wide.nnm" "$T/wide3.csv"
rc_is 0; out_has "accuracy  "; out_has "confusion not shown for 150 classes (more than 100)"

# A class label the network cannot output, or a bce target outside [0, 1]: named by
# file and line before training (the library named a row of a shuffled batch).
printf 'input 2\ndense 3\nloss cross_entropy\noptimizer sgd\nepochs 1\n' >"$T/cls3.nn"
printf 'a,b,label\n1,2,0\n3,4,2\n5,6,7\n' >"$T/cls7.csv"
run "$NN" train "$T/cls3.nn" "$T/cls7.csv" -o "$T/cls3.nnm"
rc_is 1; err_has "$T/cls7.csv:4: class 7 is not one of the network's classes 0..2"
printf 'input 2\ndense 1\nsigmoid\nloss bce\noptimizer sgd\nepochs 1\n' >"$T/bce.nn"
printf 'a,b,y\n1,2,0\n3,4,2\n' >"$T/bce2.csv"
run "$NN" train "$T/bce.nn" "$T/bce2.csv" -o "$T/bce.nnm"
rc_is 1; err_has "$T/bce2.csv:3: target 2 of the loss 'bce' is not in [0, 1]"

# A model remembers the columns it was trained on: eval uses them by default (it took
# the last column as the target, and scored the inputs against the wrong columns).
printf 'female,weight_lb,height_in\n1,133,65\n0,160,72\n0,152,70\n1,120,60\n' >"$T/first.csv"
run "$NN" train "$G/gender.nn" "$T/first.csv" --target female --shift 135,66 -o "$T/first.nnm" --quiet
rc_is 0
run "$NN" info "$T/first.nnm"
rc_is 0; out_has "  target = female"
run "$NN" eval "$T/first.nnm" "$T/first.csv"
rc_is 0; value_is 2 "<" 0.01
sed -n 2p "$T/out" | grep -q '^loss      0\.00' || fail "eval did not use the remembered target: $(sed -n 2p "$T/out")"

# The first line's problems are named (they were taken for a wrong column count).
printf 'a,b\000,y\n133,65,1\n' >"$T/nul1.csv"
run "$NN" eval "$M" "$T/nul1.csv"
rc_is 1; err_has "$T/nul1.csv: line 1 holds a NUL byte"
printf '  \n133,65,1\n' >"$T/blankhead.csv"
run "$NN" eval "$M" "$T/blankhead.csv"
rc_is 1; err_has "$T/blankhead.csv: line 1 is blank"
# A UTF-8 byte order mark (spreadsheets write one) is not part of the first name.
printf '\357\273\277weight_lb,height_in,female\n133,65,1\n160,72,0\n' >"$T/bom.csv"
run "$NN" eval "$M" "$T/bom.csv" --inputs weight_lb,height_in --target female
rc_is 0; out_has "rows      2"
# and for predict: a first row of data, and a header named in --inputs
printf '\357\273\277128,63\n' >"$T/bomrow.csv"
run "$NN" predict "$M" "$T/bomrow.csv"
rc_is 0; out_has "0.965006769"
run "$NN" predict "$M" "$T/bom.csv" --inputs weight_lb,height_in
rc_is 0

# Conflicting options are refused (the last one won).
for c in train eval predict; do
    case $c in
    train) args="$G/gender.nn $G/people.csv -o $T/x.nnm" ;;
    eval) args="$M $G/people.csv" ;;
    predict) args="$M $G/newcomers.csv" ;;
    esac
    # shellcheck disable=SC2086
    run "$NN" $c $args --header --no-header
    rc_is 2; err_has "--header and --no-header exclude each other"
done

# A name two header columns share is ambiguous (it used to pick the first).
printf 'x,x,y\n1,2,3\n4,5,6\n' >"$T/dup.csv"
run "$NN" eval "$M" "$T/dup.csv" --inputs x,y --target 2
rc_is 1; err_has "--inputs 'x': $T/dup.csv has several columns of that name (0 and 1; give the number)"

# A --meta key of any length is stored whole (a fixed buffer cut it at 255 bytes).
long=$(printf '%0300d' 0 | tr 0 k)
run "$NN" train "$G/gender.nn" "$G/people.csv" -o "$T/meta.nnm" --quiet --meta "$long=v"
rc_is 0
run "$NN" info "$T/meta.nnm"
rc_is 0; out_has "  $long = v"

# Output that cannot be written (a full disk): the command fails, whichever it is.
if [ -w /dev/full ]; then
    for c in "info $M" "eval $M $G/people.csv" "--help"; do
        # shellcheck disable=SC2086
        "$NN" $c >/dev/full 2>"$T/err"
        rc=$?
        what="nn $c > /dev/full"
        rc_is 1; err_has "cannot write the output: No space left on device"
    done
fi

# A corrupt model file: one byte changed in the middle.
cp "$M" "$T/corrupt.nnm"
printf 'X' | dd of="$T/corrupt.nnm" bs=1 seek=100 conv=notrunc 2>/dev/null
run "$NN" info "$T/corrupt.nnm"
rc_is 1; err_has "$T/corrupt.nnm"; err_has "checksum mismatch"
run "$NN" predict "$T/corrupt.nnm" "$G/newcomers.csv"
rc_is 1; err_has "checksum mismatch"
printf 'not a model\n' >"$T/text.nnm"
run "$NN" info "$T/text.nnm"
rc_is 1; err_has "not an nn model file"

printf 'cli: %d checks, %d failed\n' "$checks" "$failures"
[ "$failures" -eq 0 ]
