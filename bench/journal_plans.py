"""The dashboard's queries on a journal of a million messages: their plans and times.

    python bench/journal_plans.py [--messages 1000000] [--keep]

Makes a PostgreSQL database of its own (``PACER_BENCH_POSTGRES_URL``, default the local
server as ``postgres``), brings it to the current schema, fills it with generated
messages (four types, realistic identifiers, 2% dead-lettered or invalid, a month of
arrivals, bodies of a few hundred bytes, three steps each) and prints, for each page the
dashboard shows, every statement it sends with PostgreSQL's ``EXPLAIN ANALYZE``: which
index answers it, and how long it took. ``--keep`` leaves the database for a second look.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SERVER = os.environ.get("PACER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = "pacer_bench_plans"

#: One INSERT ... SELECT: a month of messages, newest last (seq follows received_at).
FILL = """
INSERT INTO messages (message_id, message_type, source, routing_key, content_type, headers, body,
                      body_size, body_sha256, identifiers, status, error, dead_letter_id, attempts,
                      deliveries, dispatch, redispatches, received_at, dispatched_at, finished_at, activity_at)
SELECT 'msg-' || n,
       (ARRAY['user-update', 'proposal-update', 'dataset-ingestion', 'datafile-ingestion'])[1 + n %% 4],
       'bench', 'daq.datasets', 'application/json', '{}'::json,
       convert_to(repeat('{"instrument": "ID' || (n %% 20) || '"}', 8), 'UTF8'), 300, md5(n::text),
       CASE n %% 4
         WHEN 0 THEN jsonb_build_object('user', 'user' || (n %% 20000))
         WHEN 1 THEN jsonb_build_object('proposal', (20260000 + n %% 5000)::text, 'visit', (n %% 7)::text)
         ELSE jsonb_build_object('instrument', 'ID' || lpad((n %% 20)::text, 2, '0'),
                                 'proposal', (20260000 + n %% 5000)::text, 'dataset', 'sample_' || n)
       END,
       CASE WHEN n %% 100 = 7 THEN 'dead-lettered' WHEN n %% 200 = 3 THEN 'invalid'
            WHEN n %% 50 = 1 THEN 'superseded' ELSE 'done' END,
       CASE WHEN n %% 100 = 7 THEN 'datasets.create_dataset: unknown instrument ID' || (n %% 20)
            WHEN n %% 200 = 3 THEN 'invalid message: start_date: Input should be a valid datetime' END,
       CASE WHEN n %% 100 = 7 OR n %% 200 = 3 THEN substr(md5('l' || n), 1, 12) END,
       1, 1, 1, 0,
       now() - interval '30 days' + (n * interval '30 days' / %(total)s),
       now() - interval '30 days' + (n * interval '30 days' / %(total)s),
       now() - interval '30 days' + (n * interval '30 days' / %(total)s) + interval '2 seconds',
       now() - interval '30 days' + (n * interval '30 days' / %(total)s)
FROM generate_series(1, %(total)s) AS n
"""
STEPS = """
INSERT INTO steps (message_id, dispatch, step, attempt, task_id, status, losses, started_at, finished_at, result)
SELECT m.message_id, 1, s.step, 1, md5(m.message_id || s.step), 'ok', 0, m.received_at, m.finished_at,
       '{"created": 1}'::json
FROM messages m CROSS JOIN (VALUES ('first'), ('second'), ('third')) AS s(step)
"""


def server(database: str = "postgres") -> psycopg.Connection:
    url = make_url(SERVER).set(drivername="postgresql", database=database)
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def fill(url: str, total: int) -> None:
    from pacer_celery.journal import Journal

    Journal(url)  # the schema, by the migrations
    started = time.monotonic()
    with server(DATABASE) as connection:
        connection.execute(FILL, {"total": total})
        connection.execute(STEPS)
        connection.execute("VACUUM ANALYZE")
    print(f"{total} messages, {3 * total} steps generated in {time.monotonic() - started:.0f}s\n")


def explain_pages(url: str) -> None:
    """What each dashboard page reads, with EXPLAIN ANALYZE of every statement it sends."""
    from dataclasses import replace

    from pacer_celery.dashboard.app import PAGE, PERIODS, Selection
    from pacer_celery.journal import Journal, search

    journal = Journal(url)
    statements: list[tuple[str, object]] = []
    event.listen(journal.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, parameters, context, many: statements.append((statement, parameters)))

    def listing(selection: Selection, before: int | None = None):
        return lambda c: search.search(c, selection.criteria(), limit=PAGE + 1, before=before)

    def overview(c):
        now = datetime.now(UTC)
        return search.periods(c, {name: now - span for name, span in PERIODS.items()})

    def bulk(selection: Selection):
        return lambda c: list(search.matching(c, replace(selection.criteria(), upto_seq=search.newest_seq(c))))

    dead = Selection(scope="dead-letters")
    pages = {
        "search: everything, newest first": listing(Selection()),
        "search: instrument=ID07 dataset=sample_987": listing(Selection(q="instrument=ID07 dataset=sample_987")),
        "search: user=user123": listing(Selection(q="user=user123")),
        "search: a bare word, 20261234": listing(Selection(q="20261234")),
        "search: type:dataset-ingestion status:dead-lettered": listing(
            Selection(q="type:dataset-ingestion status:dead-lettered")),
        "search: instrument=ID07 since:1d": listing(Selection(q="instrument=ID07 since:1d")),
        "search: status:invalid, a page far back": listing(Selection(q="status:invalid"), before=300_000),
        "dead letters": listing(dead),
        "dead letters: reason contains 'unknown instrument ID7'": listing(
            replace(dead, reason="unknown instrument ID7")),
        "dead letters, page 2": listing(dead, before=990_000),
        "one message": lambda c: (search.timeline(c, "msg-987"), search.purges(c, ["msg-987"])),
        "overview: counts per hour, day, week": overview,
        "bulk replay of type:user-update status:dead-lettered since:2d": bulk(
            Selection(q="type:user-update status:dead-lettered since:2d")),
    }
    for label, read in pages.items():
        statements.clear()
        with journal.engine.connect() as connection:
            started = time.monotonic()
            read(connection)
            took = time.monotonic() - started
            print(f"=== {label}: {took * 1000:.0f} ms")
            cursor = connection.connection.cursor()
            for statement, parameters in list(statements):
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                print("    " + " ".join(statement.split())[:200])
                print("\n".join("      " + row[0] for row in cursor.fetchall()))
        print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="leave the database")
    parser.add_argument("--reuse", action="store_true", help="explain on the database a --keep run left")
    args = parser.parse_args()
    url = make_url(SERVER).set(database=DATABASE).render_as_string(hide_password=False)
    if not args.reuse:
        with server() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{DATABASE}"')
        fill(url, args.messages)
    try:
        explain_pages(url)
    finally:
        if not args.keep:
            from pacer_celery.journal.database import dispose_all

            dispose_all()
            with server() as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
