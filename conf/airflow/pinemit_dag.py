# SPDX-License-Identifier: MIT
"""Example Airflow DAG: send new PostgreSQL rows with pinemit every 5 minutes.

Copy this file into the DAGs folder and adjust the settings below.  It has
two tasks:

  pinemit_run     a BashOperator that runs `pinemit -v --log-format json run`
                  on the EC2 client (directly when the Airflow worker runs
                  there, or over ssh when PINEMIT_SSH_TARGET is set), and
                  maps pinemit's exit status:
                    0   success;
                    3   success, but some records were dead-lettered: the
                        report task logs a warning;
                    75  another pinemit run (cron, systemd, a manual run, or
                        the previous DAG run) holds the lock: the task is
                        SKIPPED (exit 99, BashOperator's skip code);
                    anything else (1 runtime failure, 2 config error, ...):
                        the task FAILS; the log shows pinemit's one-line
                        reason.
                  Its last output line, which BashOperator pushes to XCom,
                  is {"exit_code":N,"summaries":[...]}: the JSON summary
                  lines pinemit prints on stderr with -v --log-format json,
                  one per stream:
                    {"event":"summary","command":"run","stream":"pin",
                     "topic":"...","dry_run":false,"rows":N,"requests":N,
                     "bytes":N,"retries":N,"dead_letters":N,"elapsed_s":X,
                     "rows_per_s":X,"checkpoint":"..."}
  pinemit_report  parses that line, logs one line per stream, warns about
                  dead letters and retries, pushes one XCom per stream
                  (key "summary_<stream>") and returns the totals (XCom
                  "return_value": rows, requests, bytes, retries,
                  dead_letters, exit_code, streams).

pinemit itself retries throttling, timeouts and database restarts, and
resumes from its checkpoints, so the tasks have no Airflow retries: the next
scheduled run picks up where this one stopped.  max_active_runs = 1 keeps
Airflow from overlapping runs; the lock (exit 75) covers everything else.

The parsing helpers (bash_command, parse_summaries, parse_result, totals) do
not need Airflow: this file imports without it, and then defines no DAG.
Works with Airflow 2.4+ (BashOperator skips on exit 99 there) and Airflow 3
(operators from the standard provider).
"""
import json
import logging
import shlex
from datetime import datetime, timedelta

try:  # Airflow 3: the task SDK and the standard provider
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:
    try:  # Airflow 2.4+
        from airflow import DAG
        from airflow.operators.bash import BashOperator
        from airflow.operators.python import PythonOperator
    except ImportError:  # no Airflow: the helpers below still work (tests)
        DAG = BashOperator = PythonOperator = None

log = logging.getLogger(__name__)

# ---- settings ---------------------------------------------------------------
DAG_ID = "pinemit"
SCHEDULE = "*/5 * * * *"
PINEMIT = "/usr/local/bin/pinemit"
PINEMIT_CONFIG = "/etc/pinemit/pinemit.conf"
# None: run pinemit on the Airflow worker itself (the worker is the EC2
# client).  "user@host": run it there over ssh (key-based, non-interactive;
# the worker needs the key and the host in known_hosts).
PINEMIT_SSH_TARGET = None
# Extra pinemit run options, e.g. ["--stream", "pin", "--limit", "100000"].
PINEMIT_RUN_ARGS = []
RUN_TIMEOUT = timedelta(minutes=30)  # the task is killed after this long

EXIT_OK, EXIT_DEAD_LETTERS, EXIT_LOCKED = 0, 3, 75
AIRFLOW_SKIP = 99  # BashOperator's default skip exit code (2.4+)


def bash_command(pinemit=PINEMIT, config=PINEMIT_CONFIG, ssh_target=PINEMIT_SSH_TARGET,
                 run_args=None):
    """The bash script of the pinemit_run task.

    Runs pinemit with its messages in a temporary file, copies them to the
    task log, prints {"exit_code":N,"summaries":[...]} as the last line and
    maps the exit status (0 and 3 -> 0, 75 -> 99 = skipped, else as is).
    """
    argv = [pinemit, "-v", "--log-format", "json", "-c", config, "run"]
    argv += list(PINEMIT_RUN_ARGS if run_args is None else run_args)
    cmd = " ".join(shlex.quote(a) for a in argv)
    if ssh_target:
        # ssh passes one command line to the remote shell: quote it again.
        cmd = "ssh -o BatchMode=yes -o ConnectTimeout=20 %s %s" % (
            shlex.quote(ssh_target), shlex.quote(cmd))
    # No "{{" or "{#" below: BashOperator renders bash_command with Jinja.
    return """set -u
err=$(mktemp) || exit 1
trap 'rm -f "$err"' EXIT
%(cmd)s 2>"$err"
rc=$?
cat "$err" >&2
summaries=$(grep -E '"event": ?"summary"' "$err" | paste -sd, -)
printf '{"exit_code":%%d,"summaries":[%%s]}\\n' "$rc" "$summaries"
case $rc in
    %(ok)d|%(dl)d) exit 0 ;;
    %(locked)d) echo "pinemit: another run holds the lock (exit %(locked)d): skipped" >&2
        exit %(skip)d ;;
    *) exit "$rc" ;;
esac
""" % {"cmd": cmd, "ok": EXIT_OK, "dl": EXIT_DEAD_LETTERS, "locked": EXIT_LOCKED,
       "skip": AIRFLOW_SKIP}


def parse_summaries(text):
    """The summary objects among pinemit's JSON log lines (other lines,
    JSON or not, are ignored)."""
    out = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("event") == "summary":
            out.append(obj)
    return out


def parse_result(line):
    """The pinemit_run XCom ({"exit_code":N,"summaries":[...]}) as a dict."""
    obj = json.loads(line) if isinstance(line, str) else line
    if not isinstance(obj, dict) or not isinstance(obj.get("summaries"), list):
        raise ValueError("not a pinemit_run result: %r" % (line,))
    return obj


def totals(result):
    """Sums over the streams, plus exit_code and the per-stream summaries."""
    t = {k: 0 for k in ("rows", "requests", "bytes", "retries", "dead_letters")}
    for s in result["summaries"]:
        for k in t:
            t[k] += s.get(k) or 0
    t["exit_code"] = result.get("exit_code")
    t["streams"] = {s.get("stream"): s for s in result["summaries"]}
    return t


def report(ti, **_):
    """pinemit_report: log, warn, push one XCom per stream, return totals."""
    result = parse_result(ti.xcom_pull(task_ids="pinemit_run"))
    t = totals(result)
    for name, s in t["streams"].items():
        log.info("stream %s -> %s: %s rows in %s requests, %s bytes, %s retries, "
                 "%s dead letters, %.1f rows/s, checkpoint %s",
                 name, s.get("topic"), s.get("rows"), s.get("requests"), s.get("bytes"),
                 s.get("retries"), s.get("dead_letters"), s.get("rows_per_s") or 0.0,
                 s.get("checkpoint"))
        ti.xcom_push(key="summary_%s" % name, value=s)
        if s.get("dead_letters"):
            log.warning("stream %s: %s records were dead-lettered; fix the cause, then "
                        "`pinemit replay --dead-letters FILE`", name, s["dead_letters"])
    if result.get("exit_code") == EXIT_DEAD_LETTERS:
        log.warning("pinemit finished with dead letters (exit 3): %d records in all",
                    t["dead_letters"])
    if t["retries"]:
        log.warning("pinemit retried %d requests (throttling or a flaky sink?)", t["retries"])
    return t


if DAG is not None:
    with DAG(
        dag_id=DAG_ID,
        description="Send new PostgreSQL rows to Kafka (REST proxy) or Kinesis with pinemit",
        schedule=SCHEDULE,
        start_date=datetime(2024, 1, 1),
        catchup=False,
        max_active_runs=1,
        default_args={"owner": "data-platform", "retries": 0},
        tags=["pinemit", "ingest"],
    ) as dag:
        run = BashOperator(
            task_id="pinemit_run",
            bash_command=bash_command(),
            execution_timeout=RUN_TIMEOUT,
            do_xcom_push=True,  # the last output line: the result JSON
        )
        summarize = PythonOperator(task_id="pinemit_report", python_callable=report)
        run >> summarize
