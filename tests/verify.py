#!/usr/bin/env python3
"""Compare the records a mock REST proxy stored for a topic with a table.

  python3 tests/verify.py --store STORE --topic TOPIC --table TABLE --key KEYCOL
                          [--min-key K] [--expect-count N] [--allow-duplicates]
                          [--any-order]

Reads STORE/records/TOPIC.jsonl (one {"topic","partition","offset","key","value"}
object per line) and the rows of TABLE (key > K when --min-key is given) as
row_to_json() via psql, using the PG* environment variables.  Numbers are
compared by their exact text.  Exit 0 when every row arrived (exactly once, or
at least once with --allow-duplicates), in key order, with equal values and no
extra records; otherwise print the first problems to stderr and exit 1.
Member-order differences inside objects are only reported as warnings.
"""
import argparse
import json
import os
import subprocess
import sys

MAX_SHOWN = 10
# Session settings that change to_json() text; pinned to what pinemit must use.
SESSION = ("SET TimeZone = 'UTC'", "SET IntervalStyle = 'postgres'",
           "SET extra_float_digits = 1", "SET bytea_output = 'hex'")


class Num:
    """A JSON number kept as its original text."""
    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text


class Obj:
    """A JSON object kept as its member list (order and duplicates preserved)."""
    __slots__ = ("pairs",)

    def __init__(self, pairs):
        self.pairs = pairs


def bad_constant(name):
    raise ValueError("bare %s is not JSON" % name)


def parse(text):
    return json.loads(text, parse_int=Num, parse_float=Num,
                      parse_constant=bad_constant, object_pairs_hook=Obj)


def canon(v, ordered=False):
    """Canonical text; members sorted by name (stable) unless ordered."""
    if isinstance(v, Num):
        return v.text
    if isinstance(v, Obj):
        # Duplicate names (possible in a json column) collapse, last wins,
        # on both sides: that is what the proxy's Jackson and every JSON
        # consumer downstream keep.
        pairs = list(dict(v.pairs).items())
        if not ordered:
            pairs.sort(key=lambda p: p[0])
        return "{" + ",".join(json.dumps(k) + ":" + canon(x, ordered) for k, x in pairs) + "}"
    if isinstance(v, list):
        return "[" + ",".join(canon(x, ordered) for x in v) + "]"
    return json.dumps(v)  # str, bool, None


def short(s, n=160):
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


def quote_ident(name):
    if '"' in name:  # already quoted by the caller
        return name
    return ".".join('"' + part + '"' for part in name.split("."))


def fetch_rows(table, key, min_key):
    sql = "SELECT row_to_json(t) FROM %s t" % quote_ident(table)
    if min_key is not None:
        sql += " WHERE t.%s > '%s'" % (quote_ident(key), min_key.replace("'", "''"))
    sql += " ORDER BY t.%s" % quote_ident(key)
    # COPY, not a plain SELECT: psql's table printer drops characters it
    # cannot display (U+10FFFF comes out as nothing).  CSV with a quote and
    # delimiter that JSON text never contains raw passes every byte as is.
    sql = ("COPY (%s) TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', "
           "DELIMITER E'\\x02')" % sql)
    cmd = ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]
    for s in SESSION + (sql,):
        cmd += ["-c", s]
    env = dict(os.environ, PGCLIENTENCODING="UTF8")
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if res.returncode != 0:
        sys.exit("verify: psql failed: " + res.stderr.decode("utf-8", "replace").strip())
    # split on \n only: U+2028 and friends may appear raw inside JSON strings
    return [parse(line) for line in res.stdout.decode("utf-8").split("\n") if line]


def read_records(path, problems):
    records = []
    if not os.path.exists(path):
        print("verify: warning: %s does not exist (no records)" % path, file=sys.stderr)
        return records
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f.read().split(b"\n"), 1):
            if not raw:
                continue
            try:
                rec = parse(raw.decode("utf-8"))
                if not isinstance(rec, Obj) or len({k for k, _ in rec.pairs}) != len(rec.pairs):
                    raise ValueError("not an object with unique members")
                rec = dict(rec.pairs)
                if not isinstance(rec.get("value"), Obj):
                    raise ValueError("value is not a JSON object")
            except ValueError as e:  # includes UnicodeDecodeError and JSONDecodeError
                problems.append("line %d: unparsable record (%s): %s"
                                % (lineno, e, short(raw.decode("utf-8", "replace"))))
                continue
            rec["line"] = lineno
            records.append(rec)
    return records


def compare(rec, row, key_text, problems, warnings):
    line = rec["line"]
    got_pairs = rec["value"].pairs
    got = dict(got_pairs)
    exp = dict(row.pairs)
    if len(got) != len(got_pairs):
        problems.append("line %d key %s: duplicate columns in value" % (line, key_text))
    for col in list(exp) + [c for c in got if c not in exp]:
        e = canon(exp[col]) if col in exp else "<missing>"
        g = canon(got[col]) if col in got else "<missing>"
        if e != g:
            d = next((i for i, (x, y) in enumerate(zip(e, g)) if x != y), min(len(e), len(g)))
            at = "" if d < 120 else " (first difference at char %d)" % d
            e, g = (e, g) if d < 120 else ("..." + e[d - 40:], "..." + g[d - 40:])
            problems.append("line %d key %s column %s%s:\n    expected %s\n    got      %s"
                            % (line, key_text, col, at, short(e), short(g)))
        elif col in got and canon(exp[col], True) != canon(got[col], True):
            warnings.append("line %d key %s column %s: object member order differs"
                            % (line, key_text, col))
    if [c for c, _ in got_pairs] != [c for c, _ in row.pairs] and set(got) == set(exp):
        warnings.append("line %d key %s: column order differs: %s"
                        % (line, key_text, ",".join(c for c, _ in got_pairs)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--min-key")
    ap.add_argument("--expect-count", type=int)
    ap.add_argument("--allow-duplicates", action="store_true")
    ap.add_argument("--any-order", action="store_true",
                    help="records resent alone (per-record retries) may "
                         "arrive after later keys")
    a = ap.parse_args()

    problems, warnings = [], []
    rows = fetch_rows(a.table, a.key, a.min_key)
    if a.expect_count is not None and len(rows) != a.expect_count:
        problems.append("table %s has %d rows selected, expected %d" % (a.table, len(rows), a.expect_count))
    index = {}
    for i, row in enumerate(rows):
        index[canon(dict(row.pairs)[a.key])] = i

    records = read_records(os.path.join(a.store, "records", a.topic + ".jsonl"), problems)
    seen = [0] * len(rows)
    last_idx, last_off = -1, {}
    for rec in records:
        line = rec["line"]
        if rec.get("topic") != a.topic:
            problems.append("line %d: topic is %r, not %r" % (line, rec.get("topic"), a.topic))
        part, off = canon(rec.get("partition")), canon(rec.get("offset"))
        if not off.isdigit() or (part in last_off and int(off) <= last_off[part]):
            problems.append("line %d: offset %s does not increase in partition %s" % (line, off, part))
        else:
            last_off[part] = int(off)
        value = dict(rec["value"].pairs)
        key_text = canon(value[a.key]) if a.key in value else "<no key column>"
        i = index.get(key_text)
        if i is None:
            problems.append("line %d: extra record, key %s is not a selected row" % (line, short(key_text)))
            continue
        if seen[i] and not a.allow_duplicates:
            problems.append("line %d: duplicate record for key %s" % (line, key_text))
        elif not seen[i] and i < last_idx and not a.any_order:
            problems.append("line %d: key %s arrived after a larger key" % (line, key_text))
        if not seen[i]:
            last_idx = max(last_idx, i)
        seen[i] += 1
        compare(rec, rows[i], key_text, problems, warnings)

    missing = [canon(dict(rows[i].pairs)[a.key]) for i, n in enumerate(seen) if n == 0]
    if missing:
        problems.append("%d rows never arrived, first keys: %s" % (len(missing), ", ".join(missing[:MAX_SHOWN])))
    dups = sum(n - 1 for n in seen if n > 1)

    for w in warnings[:MAX_SHOWN]:
        print("verify: warning: " + w, file=sys.stderr)
    if len(warnings) > MAX_SHOWN:
        print("verify: warning: ... %d more warnings" % (len(warnings) - MAX_SHOWN), file=sys.stderr)
    if problems:
        print("verify: %s: FAILED against %s (%d records, %d rows, %d problems)"
              % (a.topic, a.table, len(records), len(rows), len(problems)), file=sys.stderr)
        for p in problems[:MAX_SHOWN]:
            print("  " + p, file=sys.stderr)
        if len(problems) > MAX_SHOWN:
            print("  ... %d more" % (len(problems) - MAX_SHOWN), file=sys.stderr)
        return 1
    if dups:
        print("verify: note: %d duplicate deliveries (allowed)" % dups, file=sys.stderr)
    print("verify: %s: %d records match %s" % (a.topic, len(records), a.table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
