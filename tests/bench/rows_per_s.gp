# SPDX-License-Identifier: MIT
# rows_per_s.gp - bar chart (log scale) of rows/s per contender, from the
# data file report.py writes (label, rows/s, colour).  Called by
# scripts/bench.sh as
#   gnuplot -e "datafile='rows_per_s.dat'; outfile='rows_per_s.png'; subtitle='...'" rows_per_s.gp

if (!exists("subtitle")) subtitle = ""
set terminal pngcairo size 960,540 font "sans,10" noenhanced
set output outfile
set title "Rows per second, PostgreSQL to a Kafka REST Proxy v2 sink (log scale, higher is better)\n" . subtitle
set logscale y
set yrange [100:*]
set format y "%.0s%c"
set ylabel "rows/s"
set grid ytics mytics
set style fill solid 0.85 border -1
set boxwidth 0.6
set autoscale xfix
set offsets 0.6, 0.6, 0, 0
set bmargin 4
set key off
set xtics nomirror font "sans,9"
set ytics nomirror
# bars, then each bar's value above it
plot datafile using 0:2:3:xtic(1) with boxes linecolor rgb variable, \
     '' using 0:($2 * 1.18):(sprintf("%.0f", $2)) with labels font "sans,9"
