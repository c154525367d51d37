"""``pacer messages search | show | replay | stats | prune``: the journal for operators."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from pacer_celery import bridges, operators
from pacer_celery.cli import output
from pacer_celery.journal import journal, search
from pacer_celery.journal.search import Criteria
from pacer_celery.settings import get_settings

SEARCH_HELP = (
    "identifiers as key=value (all must match), bare words (any identifier with that value), "
    "and type:, status:, since:, until: terms"
)


def add(commands) -> None:
    messages = commands.add_parser("messages", help="search the journal, show a message's life, replay, prune")
    actions = messages.add_subparsers(title="message commands", metavar="ACTION", required=True)

    found = actions.add_parser("search", help="messages by the objects they concern, newest first")
    _criteria(found)
    found.add_argument("--limit", type=int, default=50, help="rows per page (default 50)")
    found.add_argument("--before", type=int, metavar="SEQ", help="the page after the one that ended at SEQ")
    found.add_argument("--json", action="store_true", help="JSON for scripts")
    found.set_defaults(run=_search)

    show = actions.add_parser("show", help="one message's timeline: received, each step, the end")
    show.add_argument("message_id", metavar="ID")
    show.add_argument("--body", action="store_true", help="print the body too")
    show.add_argument("--json", action="store_true", help="JSON for scripts")
    show.set_defaults(run=_show)

    replay = actions.add_parser(
        "replay",
        help="re-validate messages from the journal and dispatch them again",
        description="Works for any journaled message, dead-lettered or not. Give ids, or --search.",
    )
    replay.add_argument("ids", nargs="*", metavar="ID")
    replay.add_argument("--search", nargs="+", metavar="TERM", help=f"replay every match: {SEARCH_HELP}")
    replay.add_argument("--type", dest="types", action="append", default=[], help="with --search: message type")
    replay.add_argument("--status", dest="statuses", action="append", default=[], help="with --search: status")
    replay.add_argument("--dry-run", action="store_true", help="say what would happen, change nothing")
    replay.add_argument("--as", dest="actor", default=None, help="who replays (recorded; default: your login)")
    replay.set_defaults(run=_replay)

    stats = actions.add_parser("stats", help="counts per message type and status")
    stats.add_argument("--since", default=None, help="a date or an age (24h, 7d); default: all")
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(run=_stats)

    prune = actions.add_parser("prune", help="delete old messages from the journal (retention)")
    prune.add_argument("--older-than", required=True, metavar="AGE", help="e.g. 90d, or a date")
    prune.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    prune.set_defaults(run=_prune)


def _criteria(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("terms", nargs="*", metavar="TERM", help=SEARCH_HELP)
    parser.add_argument("--type", dest="types", action="append", default=[], help="message type (repeatable)")
    parser.add_argument("--status", dest="statuses", action="append", default=[], help="status (repeatable)")
    parser.add_argument("--since", help="received at or after: a date, or an age (2h, 7d)")
    parser.add_argument("--until", help="received before: a date, or an age")


def criteria_of(terms: list[str], types: list[str], statuses: list[str], since=None, until=None) -> Criteria:
    flags = " ".join(
        [*(f"type:{t}" for t in types), *(f"status:{s}" for s in statuses),
         *([f"since:{since}"] if since else []), *([f"until:{until}"] if until else [])]
    )
    return search.parse(" ".join([*terms, flags]))


def _search(args: argparse.Namespace) -> int:
    criteria = criteria_of(args.terms, args.types, args.statuses, args.since, args.until)
    with journal().engine.connect() as connection:
        rows = search.search(connection, criteria, limit=args.limit, before=args.before)
    if args.json:
        output.as_json([row.__dict__ for row in rows])
        return 0
    if not rows:
        print("no messages match")
        return 0
    output.table(
        ["SEQ", "RECEIVED", "TYPE", "IDENTIFIERS", "STATUS", "MESSAGE ID", "REASON"],
        [
            [r.seq, r.received_at, r.message_type, _identifiers(r.identifiers), r.status, r.message_id,
             r.reason or (f"superseded by {r.superseded_by}" if r.superseded_by else "")]
            for r in rows
        ],
    )
    if len(rows) == args.limit:
        print(f"more: --before {rows[-1].seq}")
    return 0


def _show(args: argparse.Namespace) -> int:
    with journal().engine.connect() as connection:
        found = search.timeline(connection, args.message_id)
        body = search.body(connection, args.message_id, 1 << 20) if args.body else None
    if found is None:
        print(f"pacer: no message {args.message_id!r} in the journal", file=sys.stderr)
        return 1
    if args.json:
        output.as_json({"message": found.message, "steps": [s.__dict__ for s in found.steps],
                        "actions": [a.__dict__ for a in found.actions]})
        return 0
    m = found.message
    print(f"{m['message_type']} {_identifiers(m['identifiers'])}  [{m['message_id']}]")
    print(f"  source {m['source']}, {m['content_type'] or 'no content type'}, {m['body_size']} bytes, "
          f"sha256 {m['body_sha256'][:16]}…")
    print(f"  {output.when(m['received_at'])}  received")
    if m["dispatched_at"]:
        print(f"  {output.when(m['dispatched_at'])}  dispatched (dispatch {m['dispatch']})")
    for run in found.steps:
        took = f"{run.seconds:.2f}s" if run.seconds is not None else "…"
        extra = f" (worker lost {run.losses}×)" if run.losses else ""
        what = run.error or _result(run.result)
        print(f"  {output.when(run.started_at)}  {run.step} attempt {run.attempt}: {run.status} in {took}{extra}"
              f"{'  ' + what if what else ''}  task {run.task_id}")
    for action in found.actions:
        print(f"  {output.when(action.at)}  {action.action} by {action.actor} {action.detail or ''}")
    end = {"done": "done", "dead-lettered": f"dead-lettered as {m['dead_letter_id']}",
           "invalid": f"invalid, dead letter {m['dead_letter_id']}",
           "superseded": f"superseded by {m['superseded_by']}"}.get(m["status"], m["status"] + " (not ended)")
    print(f"  {output.when(m['finished_at'])}  {end}")
    if m["error"]:
        print(f"  reason: {m['error'].strip().splitlines()[0]}")
    if body is not None:
        data, size = body
        print(f"--- body ({size} bytes{', first 1 MiB' if size > len(data) else ''}) ---")
        print(data.decode("utf-8", "replace"))
    return 0


def _replay(args: argparse.Namespace) -> int:
    if bool(args.ids) == bool(args.search):
        raise SystemExit("pacer: name message ids, or --search TERM...")
    bridges.load()
    store = journal()
    if args.search:
        with store.engine.connect() as connection:
            ids = list(search.matching_ids(connection, criteria_of(args.search, args.types, args.statuses)))
    else:
        ids = args.ids
    if not ids:
        print("no messages match")
        return 1
    actor = args.actor or getpass.getuser()
    outcomes = operators.replay(
        store, get_settings(), ids, actor, dry_run=args.dry_run,
        progress=lambda n: output.progress(n, len(ids), "replaying") if len(ids) > 10 else None,
    )
    output.progress_done() if len(ids) > 10 else None
    for outcome in outcomes:
        print(f"{outcome.message_id}  {outcome.action}: {outcome.detail}")
    good = sum(o.action in ("replayed", "would replay") for o in outcomes)
    print(f"{good} of {len(outcomes)} message(s) {'would be ' if args.dry_run else ''}replayed")
    return 0 if good == len(outcomes) else 1


def _stats(args: argparse.Namespace) -> int:
    since = search.moment(args.since) if args.since else None
    with journal().engine.connect() as connection:
        counts = search.stats(connection, since)
    if args.json:
        output.as_json(counts)
        return 0
    statuses = [s for s in search.STATUSES if any(s in c for c in counts.values())]
    output.table(
        ["TYPE", *statuses, "total"],
        [[t, *(c.get(s, 0) for s in statuses), sum(c.values())] for t, c in sorted(counts.items())],
    )
    return 0


def _prune(args: argparse.Namespace) -> int:
    before = search.moment(args.older_than)
    store = journal()
    total = store.count_before(before)
    if not total:
        print(f"no messages received before {output.when(before)}")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise SystemExit("pacer: pruning needs --yes when not run interactively")
        answer = input(f"Delete {total} message(s) received before {output.when(before)} for good? [y/N] ")
        if answer.strip().lower() != "y":
            return 1
    deleted = 0
    while deleted < total and (count := store.prune(before)):
        deleted += count
        output.progress(deleted, total, "pruned")
    output.progress_done()
    store.record_action(getpass.getuser(), "prune", None, {"before": before.isoformat(), "deleted": deleted})
    print(f"{deleted} message(s) pruned")
    return 0


def _identifiers(identifiers: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in identifiers.items()) or "-"


def _result(result: Any) -> str:
    if not isinstance(result, dict):
        return "" if result is None else str(result)
    shown = {k: v for k, v in result.items() if v not in (None, [], {}, 0, False) or k == "created"}
    return ", ".join(f"{k}={v}" for k, v in shown.items())
