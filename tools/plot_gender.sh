#!/usr/bin/env bash
# plot_gender.sh - draws the gender example's learned decision boundary as a PNG: the
# network's output over weight (lb) and height (in), the line where it crosses 0.5, the
# four training people and Emily and Frank.
#
#   tools/plot_gender.sh GRID_PROGRAM OUT.png [--seed N]
#
# GRID_PROGRAM is the nn_gender_grid binary (examples/gender/gender_grid.c), which trains
# the network exactly as nn_gender does and prints the grid. Needs gnuplot (Debian:
# gnuplot-nox).
set -euo pipefail

if [[ $# -lt 2 ]]; then
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
grid_bin=$1 out=$2
shift 2
command -v gnuplot >/dev/null || { echo "plot_gender.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 2; }
[[ -x $grid_bin ]] || { echo "plot_gender.sh: $grid_bin is not a program (build nn_gender_grid)" >&2; exit 2; }
term=png
# The list read whole: piped into grep -q, gnuplot could die of SIGPIPE and, under
# pipefail, the test fail although pngcairo is there.
terminals=$(gnuplot -e 'set terminal' 2>&1 || true)
[[ $terminals == *pngcairo* ]] && term=pngcairo

data=$(mktemp)
trap 'rm -f "$data"' EXIT
"$grid_bin" "$@" >"$data"
# gnuplot quotes strings in '...', where a quote is written twice; an output it
# cannot open made it plot to stdout.
( : >"$out" ) 2>/dev/null || { echo "plot_gender.sh: cannot write $out" >&2; exit 1; }
outq=${out//\'/\'\'}
seed=$(sed -n '/seed [0-9]/{s/.*seed \([0-9]*\).*/\1/p;q}' "$data")

gnuplot <<GP
set terminal $term size 760,560 font ",10"
set output '$outq'
set title "The lesson's 2-2-1 network after 1000 epochs (seed $seed): P(female) over weight and height"
set xlabel 'weight (lb)'
set ylabel 'height (in)'
set xrange [90:200]
set yrange [54:80]
set cbrange [0:1]
set cblabel 'network output (1 = F, 0 = M)'
set palette defined (0 '#4a7fc1', 0.5 '#f7f7f7', 1 '#d6604d')
set grid front lc rgb '#999999' dt 3

# The 0.5 contour of the grid, extracted as a line.
set contour base
set cntrparam levels discrete 0.5
unset surface
set view map
set table \$boundary
splot '$data' index 0 using 1:2:3 with lines notitle
unset table
unset contour

set key inside bottom right box opaque spacing 1.2
plot '$data' index 0 using 1:2:3 with image notitle, \
     \$boundary using 1:2 with lines lw 2.5 lc rgb 'black' title 'boundary (output 0.5)', \
     '$data' index 1 every ::0::3 using 1:(\$3 >= 0.5 ? \$2 : 1/0) with points pt 7 ps 1.6 lc rgb '#a50026' title 'training: F', \
     '$data' index 1 every ::0::3 using 1:(\$3 < 0.5 ? \$2 : 1/0) with points pt 5 ps 1.6 lc rgb '#313695' title 'training: M', \
     '$data' index 1 every ::4::5 using 1:2 with points pt 3 ps 2.2 lw 2 lc rgb 'black' title 'Emily, Frank', \
     '$data' index 1 using 1:2:(sprintf('%s %.3f', stringcolumn(4), \$3)) with labels offset 0,1.3 font ",9" notitle
GP
echo "plot_gender.sh: wrote $out"
