# SPDX-License-Identifier: MIT
# report.py - turns the raw timings of scripts/bench.sh into the results
# table (stdout), results.csv, a Markdown table and the gnuplot data file.
#
# Raw input, one run per line, tab-separated:
#   contender rows rep wall_s user_s sys_s peak_rss_kib server_cpu_s sink_cpu_s
#   other_cpu_s
# (other_cpu_s: CPU the rest of the machine used meanwhile.)  Per contender
# the fastest repetition counts (wall time, CPU, server CPU, sink CPU, other
# load); peak RSS is the largest of all repetitions.

import argparse
import csv
import sys

ORDER = ["copy_floor", "one_per_post", "batched_python", "psql_curl", "pinemit", "pinemit_big"]
DESCRIPTION = {
    "copy_floor": "COPY (SELECT *) TO STDOUT > /dev/null (psql)",
    "one_per_post": "Python, one requests.post per row",
    "batched_python": "Python, named cursor, 500/POST, Session",
    "psql_curl": "psql json_agg | curl, 500/POST",
    "pinemit": "pinemit run",
    "pinemit_big": "pinemit run, bigger tables",
}


def load(path):
    runs = {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            name, rows, rep, wall, user, sys_, rss, srv, sink, other = line.rstrip("\n").split("\t")
            runs.setdefault(name, []).append({
                "rows": int(rows), "rep": int(rep), "wall": float(wall),
                "cpu": float(user) + float(sys_), "rss": int(rss),
                "srv": float(srv), "sink": float(sink), "other": float(other)})
    return runs


def summarize(runs, cores):
    out = []
    names = [n for n in ORDER if n in runs] + sorted(n for n in runs if n not in ORDER)
    for name in names:
        rs = runs[name]
        best = min(rs, key=lambda r: r["wall"])
        walls = [r["wall"] for r in rs]
        wall = max(best["wall"], 0.01)  # /usr/bin/time has 10 ms resolution
        rows = best["rows"]
        out.append({
            "contender": name, "rows": rows, "reps": len(rs), "best_wall_s": best["wall"],
            "rows_per_s": rows / wall,
            "cpu_s_per_million": best["cpu"] / rows * 1e6,
            "server_cpu_s_per_million": best["srv"] / rows * 1e6,
            "sink_busy_pct": 100.0 * best["sink"] / wall,
            "peak_rss_kib": max(r["rss"] for r in rs),
            "spread_pct": 100.0 * (max(walls) - min(walls)) / max(min(walls), 0.01),
            "other_load_pct": 100.0 * best["other"] / (wall * cores),
        })
    ref = next((s for s in out if s["contender"] == "pinemit"), None)
    for s in out:
        s["pinemit_ratio"] = ref["rows_per_s"] / s["rows_per_s"] if ref else float("nan")
    return out


def fmt_rows(n):
    return "%.3gM" % (n / 1e6) if n >= 1e6 else ("%gk" % (n / 1e3) if n >= 1e3 else str(n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--dat", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--subset", type=int, required=True)
    ap.add_argument("--reps", type=int, required=True)
    ap.add_argument("--cores", type=int, default=1)
    ap.add_argument("--sink-capacity", type=float, default=0)
    ap.add_argument("--busy", default="")
    ap.add_argument("--machine", default="")
    args = ap.parse_args()

    stats = summarize(load(args.raw), max(args.cores, 1))

    with open(args.csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["contender", "rows", "reps", "best_wall_s", "rows_per_s",
                    "cpu_s_per_million", "peak_rss_kib", "pinemit_ratio",
                    "server_cpu_s_per_million", "sink_busy_pct", "spread_pct",
                    "other_load_pct"])
        for s in stats:
            w.writerow([s["contender"], s["rows"], s["reps"], "%.2f" % s["best_wall_s"],
                        "%.0f" % s["rows_per_s"], "%.2f" % s["cpu_s_per_million"],
                        s["peak_rss_kib"], "%.2f" % s["pinemit_ratio"],
                        "%.2f" % s["server_cpu_s_per_million"], "%.0f" % s["sink_busy_pct"],
                        "%.0f" % s["spread_pct"], "%.0f" % s["other_load_pct"]])

    with open(args.dat, "w") as f:
        f.write("# contender rows_per_s colour\n")
        for s in stats:
            colour = 0xd9534f if s["contender"].startswith("pinemit") else \
                0x999999 if s["contender"] == "copy_floor" else 0x4472c4
            f.write('"%s\\n(%s rows)" %.0f %d\n' % (s["contender"], fmt_rows(s["rows"]),
                                                    s["rows_per_s"], colour))

    head = ["contender", "rows", "best s", "rows/s", "CPU s/Mrow", "server CPU s/Mrow",
            "peak RSS MiB", "sink busy", "spread", "other load", "pinemit x"]
    table = []
    for s in stats:
        table.append([s["contender"], fmt_rows(s["rows"]), "%.2f" % s["best_wall_s"],
                      "%.0f" % s["rows_per_s"], "%.2f" % s["cpu_s_per_million"],
                      "%.2f" % s["server_cpu_s_per_million"], "%.1f" % (s["peak_rss_kib"] / 1024),
                      "%.0f%%" % s["sink_busy_pct"], "%.0f%%" % s["spread_pct"],
                      "%.0f%%" % s["other_load_pct"], "%.2f" % s["pinemit_ratio"]])
    widths = [max(len(r[i]) for r in [head] + table) for i in range(len(head))]

    def line(r):
        return "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))

    notes = [
        "rows: rows sent (3 tables); one_per_post runs on the first %d rows of each table." % args.subset,
        "best of %d repetitions (wall); CPU = user+sys of the client (psql_curl: the whole"
        " pipeline; copy_floor: psql); server CPU = PostgreSQL's; peak RSS = largest"
        " over the repetitions; spread = (slowest-fastest)/fastest wall; other load ="
        " CPU used by other processes of the machine during the best run, in %% of"
        " all its cores (above ~10%%, distrust the row)." % args.reps,
        "pinemit x = pinemit's rows/s divided by the contender's.",
    ]
    if args.sink_capacity:
        ref = next((s for s in stats if s["contender"] == "pinemit"), None)
        extra = (" = %.1fx pinemit's rate" % (args.sink_capacity / ref["rows_per_s"])) if ref else ""
        notes.append("sink alone: %.0f records/s with pinemit's 500-record bodies%s." %
                     (args.sink_capacity, extra))
    if args.busy:
        notes.append("machine busy before/after (other processes): %s %%." % args.busy.replace(",", " / "))
    if args.machine:
        notes.append("machine: %s." % args.machine)

    print()
    print(line(head))
    print(line(["-" * w for w in widths]))
    for r in table:
        print(line(r))
    print()
    for n in notes:
        print("  " + n)

    # The targets of the issue, stated, not enforced.
    by = {s["contender"]: s for s in stats}
    checks = []
    if "pinemit" in by:
        p = by["pinemit"]
        if "batched_python" in by:
            checks.append(("pinemit >= 3x batched_python", by["batched_python"]["pinemit_ratio"] >= 3,
                           "%.2fx" % by["batched_python"]["pinemit_ratio"]))
        if "copy_floor" in by:
            checks.append(("pinemit >= 0.6x copy_floor", by["copy_floor"]["pinemit_ratio"] >= 0.6,
                           "%.2fx" % by["copy_floor"]["pinemit_ratio"]))
        rss = [s for s in (by.get("pinemit"), by.get("pinemit_big")) if s]
        checks.append(("pinemit peak RSS <= 16 MiB", all(s["peak_rss_kib"] <= 16384 for s in rss),
                       " / ".join("%.1f MiB" % (s["peak_rss_kib"] / 1024) for s in rss)))
        if "pinemit_big" in by:
            b = by["pinemit_big"]
            checks.append(("pinemit rows/s holds at %s rows" % fmt_rows(b["rows"]),
                           b["rows_per_s"] >= 0.85 * p["rows_per_s"],
                           "%.0f vs %.0f rows/s" % (b["rows_per_s"], p["rows_per_s"])))
    if checks:
        print()
        for what, ok, val in checks:
            print("  target %-40s %-5s %s" % (what, "met" if ok else "MISS", val))
    print()

    with open(args.md, "w") as f:
        f.write("| " + " | ".join(head) + " |\n")
        f.write("|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|\n")
        for r in table:
            f.write("| " + " | ".join(r) + " |\n")
        f.write("\n")
        for n in notes:
            f.write("- " + n + "\n")
        for what, ok, val in checks:
            f.write("- target %s: %s (%s)\n" % (what, "met" if ok else "missed", val))
    return 0


if __name__ == "__main__":
    sys.exit(main())
