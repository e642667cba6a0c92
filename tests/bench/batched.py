# SPDX-License-Identifier: MIT
# batched.py - benchmark contender, what a careful Python user writes: a
# server-side (named) cursor, 500 records per POST on one kept-alive
# requests.Session, every answer checked (status, one offset per record,
# no per-record error).
#
#   python3 batched.py --url http://127.0.0.1:PORT/bench \
#       --stream pin=pinterest_data:index [--stream ...] [--limit N]
#
# PostgreSQL comes from the libpq environment (PGHOST, PGPORT, ...).  Each
# stream posts to <url>/topics/<topic-prefix>.<name>.  Prints the rows sent.

import argparse
import datetime
import decimal
import json
import sys

import psycopg2
from psycopg2 import sql
import requests

HEADERS = {"Content-Type": "application/vnd.kafka.json.v2+json",
           "Accept": "application/vnd.kafka.v2+json"}
FETCH_ROWS = 5000
BATCH_RECORDS = 500


def parse_stream(text):
    name, _, rest = text.partition("=")
    table, _, key = rest.partition(":")
    if not (name and table and key):
        raise argparse.ArgumentTypeError("expected NAME=TABLE:KEY, got %r" % text)
    return name, table, key


def to_json(value):
    """json.dumps fallback: ISO 8601 times, exact decimals, else str()."""
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return str(value)


def post(session, url, batch):
    body = json.dumps({"records": batch}, default=to_json, ensure_ascii=False)
    r = session.post(url, data=body.encode("utf-8"), headers=HEADERS, timeout=35)
    r.raise_for_status()
    offsets = r.json()["offsets"]
    if len(offsets) != len(batch):
        raise RuntimeError("%d offsets for %d records" % (len(offsets), len(batch)))
    for o in offsets:
        if o.get("error_code") is not None:
            raise RuntimeError("record failed: %r" % (o,))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", required=True, help="invoke URL (stage included)")
    ap.add_argument("--topic-prefix", default="0e3bbd435bfb")
    ap.add_argument("--stream", type=parse_stream, action="append", required=True)
    ap.add_argument("--limit", type=int, default=0, help="rows per table (0: all)")
    args = ap.parse_args()

    conn = psycopg2.connect("")
    session = requests.Session()
    sent = 0
    for name, table, key in args.stream:
        url = "%s/topics/%s.%s" % (args.url, args.topic_prefix, name)
        query = sql.SQL("SELECT * FROM {} ORDER BY {}").format(
            sql.Identifier(table), sql.Identifier(key))
        if args.limit > 0:
            query = sql.SQL("{} LIMIT {}").format(query, sql.Literal(args.limit))
        with conn.cursor(name="bench_" + name) as cur:
            cur.itersize = FETCH_ROWS
            cur.execute(query)
            cols = None
            batch = []
            for row in cur:
                if cols is None:
                    cols = [d[0] for d in cur.description]
                batch.append({"value": dict(zip(cols, row))})
                if len(batch) == BATCH_RECORDS:
                    post(session, url, batch)
                    sent += len(batch)
                    batch = []
            if batch:
                post(session, url, batch)
                sent += len(batch)
        conn.commit()  # ends the transaction the named cursor lived in
    session.close()
    conn.close()
    print(sent)


if __name__ == "__main__":
    sys.exit(main())
