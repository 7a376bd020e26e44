#!/usr/bin/env bash
# plot_history.sh - draws a training history CSV (nn_fit_history_write_csv) as a PNG:
# loss per epoch on the left, accuracy per epoch on the right, training and validation.
#
#   tools/plot_history.sh HISTORY.csv OUT.png [TITLE]
#
# Needs gnuplot (Debian: gnuplot-nox). Columns the history did not measure (empty
# fields, e.g. no validation set) are left out of the picture.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
csv=$1 out=$2 title=${3:-Training history}
# gnuplot quotes strings in '...', where a quote is written twice ("Bob's run" and
# "o'q.png" were syntax errors); an output it cannot open made it plot to stdout.
gq() { printf '%s' "${1//\'/\'\'}"; }
( : >"$out" ) 2>/dev/null || { echo "plot_history.sh: cannot write $out" >&2; exit 1; }
outq=$(gq "$out") titleq=$(gq "$title") csvq=$(gq "$csv")
command -v gnuplot >/dev/null || { echo "plot_history.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 2; }
[[ -r $csv ]] || { echo "plot_history.sh: cannot read $csv" >&2; exit 2; }
head -n1 "$csv" | grep -q '^epoch,train_loss,train_acc,val_loss,val_acc' ||
    { echo "plot_history.sh: $csv is not a history CSV (header: $(head -n1 "$csv"))" >&2; exit 1; }
# pngcairo draws smoother lines; plain png (libgd) is the fallback.
term=png
# The list read whole: piped into grep -q, gnuplot could die of SIGPIPE and, under
# pipefail, the test fail although pngcairo is there.
terminals=$(gnuplot -e 'set terminal' 2>&1 || true)
[[ $terminals == *pngcairo* ]] && term=pngcairo

# Columns with at least one value: an empty one would leave gnuplot nothing to plot.
has() { awk -F, -v c="$1" 'NR > 1 && $c != "" { found = 1 } END { exit !found }' "$csv"; }
# plots COLUMN_TRAIN COLUMN_VAL SCALE: the gnuplot plot list of the columns that have values.
plots() {
    local list=() col
    for col in "$1" "$2"; do
        has "$col" || continue
        local style=1 name=training
        [[ $col == "$2" ]] && style=2 name=validation
        list+=("'$csvq' using 1:($3*\$$col) with linespoints ls $style title '$name'")
    done
    local IFS=,
    echo "${list[*]}"
}
loss_plots=$(plots 2 4 1)
acc_plots=$(plots 3 5 100)
[[ -n $loss_plots ]] || { echo "plot_history.sh: $csv has no training loss" >&2; exit 1; }
panels=1
[[ -n $acc_plots ]] && panels=2
epochs=$(($(wc -l <"$csv") - 1))
xtics="set xtics 1"
((epochs > 20)) && xtics="set xtics autofreq"

gnuplot <<GP
set terminal $term size $((500 * panels)),380 font ",10"
set output '$outq'
set datafile separator ","
set style line 1 lc rgb '#1f77b4' lw 2 pt 7 ps 0.8
set style line 2 lc rgb '#d62728' lw 2 pt 5 ps 0.8
set grid lc rgb '#dddddd'
set xlabel 'epoch'
$xtics
set key top right
set multiplot layout 1,$panels title '$titleq'
set title 'loss'
set ylabel 'mean loss'
plot $loss_plots
if ($panels == 2) {
    set title 'accuracy'
    set ylabel 'accuracy (%)'
    set key bottom right
    plot $acc_plots
}
unset multiplot
GP
echo "plot_history.sh: wrote $out"
