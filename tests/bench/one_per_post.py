# SPDX-License-Identifier: MIT
# one_per_post.py - benchmark contender, the seed project's way: read the
# rows of each table and POST every row alone with requests.post (no
# Session, so a new connection per row), no sleep.
#
#   python3 one_per_post.py --url http://127.0.0.1:PORT/bench \
#       --stream pin=pinterest_data:index [--stream ...] [--limit N]
#
# PostgreSQL comes from the libpq environment (PGHOST, PGPORT, ...).  Each
# stream posts to <url>/topics/<topic-prefix>.<name>.  --limit N sends only
# the first N rows (in key order) of each table.  Prints the rows sent.

import argparse
import json
import sys

import psycopg2
from psycopg2 import sql
import requests

HEADERS = {"Content-Type": "application/vnd.kafka.json.v2+json",
           "Accept": "application/vnd.kafka.v2+json"}


def parse_stream(text):
    name, _, rest = text.partition("=")
    table, _, key = rest.partition(":")
    if not (name and table and key):
        raise argparse.ArgumentTypeError("expected NAME=TABLE:KEY, got %r" % text)
    return name, table, key


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", required=True, help="invoke URL (stage included)")
    ap.add_argument("--topic-prefix", default="0e3bbd435bfb")
    ap.add_argument("--stream", type=parse_stream, action="append", required=True)
    ap.add_argument("--limit", type=int, default=0, help="rows per table (0: all)")
    args = ap.parse_args()

    conn = psycopg2.connect("")
    sent = 0
    for name, table, key in args.stream:
        url = "%s/topics/%s.%s" % (args.url, args.topic_prefix, name)
        query = sql.SQL("SELECT * FROM {} ORDER BY {}").format(
            sql.Identifier(table), sql.Identifier(key))
        if args.limit > 0:
            query = sql.SQL("{} LIMIT {}").format(query, sql.Literal(args.limit))
        cur = conn.cursor()
        cur.execute(query)
        cols = [d[0] for d in cur.description]
        while True:
            row = cur.fetchone()
            if row is None:
                break
            body = json.dumps({"records": [{"value": dict(zip(cols, row))}]}, default=str)
            r = requests.post(url, data=body.encode("utf-8"), headers=HEADERS, timeout=35)
            r.raise_for_status()
            sent += 1
        cur.close()
    conn.close()
    print(sent)


if __name__ == "__main__":
    sys.exit(main())
