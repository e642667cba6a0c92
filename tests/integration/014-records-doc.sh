# SPDX-License-Identifier: MIT
# docs/records.md matches what pinemit emits, and the example Airflow DAG
# (conf/airflow/pinemit_dag.py) compiles and maps pinemit's exit codes.
#
# The doc: for the seed streams pin, geo and user, every documented field
# exists in real records (a dry run over the seed, hostile rows included),
# in table order, with the documented JSON type; every emitted field is
# documented; PostgreSQL type and nullability agree with the table; every
# nullable field is null somewhere in the seed; each example value has
# its JSON type; each example record is exactly the record of key 1.
#
# The DAG: py_compile; imports without Airflow; its bash command, run for
# real, prints {"exit_code":N,"summaries":[...]} last and exits 0 (exit 0
# and 3), 99 = skipped (exit 75, the lock), or pinemit's code (else); its
# report callable sums the summaries and pushes one XCom per stream.
set -eu
. "$(dirname "$0")/lib.sh"
HOLD=
trap 'stop_mock; [ -z "$HOLD" ] || kill "$HOLD" 2>/dev/null || true' EXIT

ROOT=$(cd "$TESTS_DIR/.." && pwd)
DOC=$ROOT/docs/records.md
DAG=$ROOT/conf/airflow/pinemit_dag.py
export PYTHONDONTWRITEBYTECODE=1

new_db recdoc
load_seed 300
start_mock --auto-create
write_conf "$WORK/pinemit.conf"

# Real records: the bodies a dry run would POST, one stream at a time.
for s in pin geo user; do
    "$PINEMIT" -c "$WORK/pinemit.conf" -n run --stream "$s" >"$WORK/$s.bodies" ||
        fail "dry run of $s"
done

python3 - "$DOC" "$TESTS_DIR" "$WORK" <<'PY' || fail "docs/records.md does not match the records"
import json, os, re, subprocess, sys
doc_path, tests_dir, work = sys.argv[1:4]
sys.path.insert(0, tests_dir)
from verify import Num, Obj, canon, parse

KEYS = {"pin": ("pinterest_data", "index"), "geo": ("geolocation_data", "ind"),
        "user": ("user_data", "ind")}
SPECIAL = {"NaN", "Infinity", "-Infinity"}
problems = []

# --- the doc: "## Stream `name`" sections, each with a field table and a
# ```json example block.
sections = {}
cur = None
lines = open(doc_path, encoding="utf-8").read().split("\n")
i = 0
while i < len(lines):
    line = lines[i]
    m = re.match(r"^## Stream `([^`]+)`", line)
    if m:
        cur = sections.setdefault(m.group(1), {"fields": [], "example": None, "meta": ""})
    elif line.startswith("## "):
        cur = None
    elif cur is not None:
        if line.startswith("Table `") and not cur["meta"]:
            cur["meta"] = line
        elif line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 5:
                problems.append("table row with %d cells: %s" % (len(cells), line))
            else:
                field, jtype, pgtype, nullable, example = cells
                ex = re.match(r"`([^`]*)`", example)
                cur["fields"].append({
                    "field": field.strip("`"), "jtype": jtype, "base": re.match(r"[a-z]+", jtype).group(0),
                    "pgtype": pgtype.strip("`"), "nullable": nullable.split()[0],
                    "rowkey": "row key" in nullable, "example": ex.group(1) if ex else None})
        elif line.strip() == "```json" and cur["example"] is None:
            j = i + 1
            while lines[j].strip() != "```":
                j += 1
            cur["example"] = "\n".join(lines[i + 1:j])
            i = j
    i += 1

for stream, (table, key) in KEYS.items():
    sec = sections.get(stream)
    if sec is None or not sec["fields"]:
        problems.append("stream %s is not documented" % stream)
        continue
    fields = sec["fields"]
    names = [f["field"] for f in fields]
    if "`%s`" % table not in sec["meta"] or "row key `%s`" % key not in sec["meta"]:
        problems.append("%s: the line under the heading must name table `%s` and row key `%s`: %r"
                        % (stream, table, key, sec["meta"]))

    # PostgreSQL's view of the table.
    q = ("SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute "
         "WHERE attrelid = '%s'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum" % table)
    out = subprocess.run(["psql", "-X", "-A", "-t", "-F", "\t", "-c", q], check=True,
                         stdout=subprocess.PIPE).stdout.decode()
    cols = [l.split("\t") for l in out.splitlines() if l]
    if names != [c[0] for c in cols]:
        problems.append("%s: documented fields %s, table columns %s" % (stream, names, [c[0] for c in cols]))
    for f, (name, pgtype, notnull) in zip(fields, cols):
        if f["pgtype"] != pgtype:
            problems.append("%s.%s: documented PostgreSQL type %r, the table has %r"
                            % (stream, name, f["pgtype"], pgtype))
        if f["nullable"] != ("no" if notnull == "t" else "yes"):
            problems.append("%s.%s: documented nullable %r, attnotnull %s" % (stream, name, f["nullable"], notnull))
        if f["rowkey"] != (name == key):
            problems.append("%s.%s: the row key is %s" % (stream, name, key))

    def type_ok(f, v):
        if isinstance(v, Num):
            if f["base"] == "integer":
                return re.fullmatch(r"-?[0-9]+", v.text) is not None
            return f["base"] == "number"
        if isinstance(v, str):
            return f["base"] == "string" or (f["base"] == "number" and "string" in f["jtype"]
                                             and v in SPECIAL)
        if isinstance(v, bool):
            return f["base"] == "boolean"
        return False

    for f in fields:
        try:
            ex = parse(f["example"] or "")
        except ValueError:
            problems.append("%s.%s: example %r is not JSON" % (stream, f["field"], f["example"]))
            continue
        if ex is None or not type_ok(f, ex):
            problems.append("%s.%s: example %r is not a %s" % (stream, f["field"], f["example"], f["jtype"]))

    # The real records.
    records = []
    for body in open(os.path.join(work, stream + ".bodies"), encoding="utf-8"):
        for rec in dict(parse(body).pairs)["records"]:
            records.append(dict(rec.pairs)["value"])
    if len(records) < 300:
        problems.append("%s: only %d records in the dry run" % (stream, len(records)))
    seen_null = set()
    for value in records:
        pairs = value.pairs
        got = [k for k, _ in pairs]
        row_key = canon(dict(pairs).get(key))
        if got != names:
            problems.append("%s key %s: emitted fields %s, documented %s" % (stream, row_key, got, names))
            continue
        for f, (_, v) in zip(fields, pairs):
            if v is None:
                seen_null.add(f["field"])
                if f["nullable"] != "yes":
                    problems.append("%s key %s: %s is null, documented not nullable" % (stream, row_key, f["field"]))
            elif not type_ok(f, v):
                problems.append("%s key %s: %s = %s is not %s" % (stream, row_key, f["field"],
                                                                  canon(v)[:80], f["jtype"]))
    for f in fields:
        if f["nullable"] == "yes" and f["field"] not in seen_null:
            problems.append("%s.%s: documented nullable, never null in the seed" % (stream, f["field"]))

    # The example record is the record of key 1, member order included.
    first = next((v for v in records if canon(dict(v.pairs)[key]) == "1"), None)
    try:
        example = parse(sec["example"] or "")
    except ValueError as e:
        problems.append("%s: the example record is not JSON: %s" % (stream, e))
        continue
    if first is None or canon(example, True) != canon(first, True):
        problems.append("%s: the example record is not the record of key 1:\n  doc    %s\n  real   %s"
                        % (stream, canon(example, True)[:300], first and canon(first, True)[:300]))

for p in problems[:20]:
    print("records.md: " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY

# ---------------------------------------------------------------------
# The Airflow DAG
# ---------------------------------------------------------------------
python3 -c 'import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)' \
    "$DAG" "$WORK/pinemit_dag.pyc" || fail "the DAG does not compile"

# dag_cmd CONF: the DAG's bash command for this pinemit and config.
dag_cmd() {
    python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import pinemit_dag as d
print(d.bash_command(pinemit=sys.argv[2], config=sys.argv[3]))' \
        "$(dirname "$DAG")" "$PINEMIT" "$1"
}
# dag_run CONF: runs it like BashOperator (stderr into stdout); sets
# DAG_RC and DAG_LAST (the last output line, what goes to XCom).
dag_run() {
    local out
    set +e
    out=$(bash -c "$(dag_cmd "$1")" 2>&1)
    DAG_RC=$?
    set -e
    DAG_LAST=$(printf '%s\n' "$out" | tail -n 1)
}
# dag_report JSON: the DAG's report callable on that XCom, with a stand-in
# for the task instance; prints "rows dead_letters exit_code streams" and the
# pushed XCom keys.
dag_report() {
    python3 - "$(dirname "$DAG")" "$1" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import pinemit_dag as d

class TI:
    pushed = {}
    def xcom_pull(self, task_ids):
        assert task_ids == "pinemit_run", task_ids
        return sys.argv[2]
    def xcom_push(self, key, value):
        self.pushed[key] = value

ti = TI()
t = d.report(ti=ti)
print(t["rows"], t["dead_letters"], t["exit_code"], ",".join(sorted(t["streams"])))
print(",".join(sorted(ti.pushed)))
PY
}

# Without Airflow the module imports and defines no DAG.
if ! python3 -c 'import airflow' 2>/dev/null; then
    python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import pinemit_dag as d
assert d.DAG is None and not hasattr(d, "dag")' "$(dirname "$DAG")" ||
        fail "the DAG file does not import without Airflow"
fi

# A normal run: exit 0, the summaries in the last line.
sql "DELETE FROM user_data WHERE ind > 100" >/dev/null
mkdir -p "$WORK/d1" "$WORK/d2"
write_conf "$WORK/d1/pinemit.conf"
dag_run "$WORK/d1/pinemit.conf"
expect_eq "DAG command exit, all delivered" 0 "$DAG_RC"
rows=$(( $(sql 'SELECT count(*) FROM pinterest_data') + $(sql 'SELECT count(*) FROM geolocation_data') + \
    $(sql 'SELECT count(*) FROM user_data') ))
report=$(dag_report "$DAG_LAST") || fail "report: $report"
expect_eq "report of a normal run" "$rows 0 0 geo,pin,user
summary_geo,summary_pin,summary_user" "$report"
verify 0e3bbd435bfb.user user_data ind

# Dead letters: exit 3 is a success with a warning.
stop_mock
start_mock --auto-create --reject-marker '"first_name":"Laura"'
write_conf "$WORK/d2/pinemit.conf"
dag_run "$WORK/d2/pinemit.conf"
expect_eq "DAG command exit, dead letters" 0 "$DAG_RC"
expect_match "exit 3 in the result" '^\{"exit_code":3,"summaries":\[' "$DAG_LAST"
lauras=$(sql "SELECT count(*) FROM user_data WHERE first_name = 'Laura'")
[ "$lauras" -gt 0 ] || fail "the seed has no Laura to reject"
report=$(dag_report "$DAG_LAST" 2>"$WORK/report.err") || fail "report: $report"
expect_eq "report with dead letters" "$lauras 3 geo,pin,user" \
    "$(printf '%s\n' "$report" | head -n 1 | cut -d' ' -f2-)"
expect_match "warned" "dead-lettered" "$(cat "$WORK/report.err")"

# Another run holds the lock: 99, BashOperator's skip code.
mkdir -p "$WORK/d1/state"
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(30)' "$WORK/d1/state/pinemit.lock" "$WORK/held" &
HOLD=$!
for _ in $(seq 1 100); do
    [ -e "$WORK/held" ] && break
    sleep 0.05
done
[ -e "$WORK/held" ] || fail "could not take the lock for the test"
dag_run "$WORK/d1/pinemit.conf"
kill "$HOLD"
wait "$HOLD" 2>/dev/null || true
HOLD=
expect_eq "DAG command exit while locked (skip)" 99 "$DAG_RC"
expect_match "says why" "skipped" "$DAG_LAST"

# Any other failure is pinemit's own exit code (here 2, a config error).
printf 'bogus = 1;\n' >"$WORK/bad.conf"
dag_run "$WORK/bad.conf"
expect_eq "DAG command exit, config error" 2 "$DAG_RC"
