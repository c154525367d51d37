"""``pacer dlq list | show | replay | purge``: the dead-letter queue itself.

Letters stream off the queue one by one; none is removed unless replayed or purged.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable

from pacer_celery import bridges, deadletters, operators
from pacer_celery.bridges.runner import connect
from pacer_celery.cli import output
from pacer_celery.envelope import Envelope, Raw
from pacer_celery.errors import ConfigurationError, InvalidMessage
from pacer_celery.journal import journal
from pacer_celery.settings import get_settings


def add(commands) -> None:
    dlq = commands.add_parser("dlq", help="list, show, replay or purge dead letters (pacer.dlq)")
    actions = dlq.add_subparsers(title="dead-letter commands", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="a table of the dead letters")
    listing.add_argument("--json", action="store_true", help="one JSON document per line instead of a table")
    listing.set_defaults(run=_list)
    show = actions.add_parser("show", help="one dead letter in full")
    show.add_argument("id", help="dead-letter id (or a unique prefix), or the message id")
    show.set_defaults(run=_show)
    replay = actions.add_parser(
        "replay", help="re-validate and republish dead letters to their original routing key"
    )
    _selection(replay)
    replay.add_argument("--dry-run", action="store_true", help="say what would happen, change nothing")
    replay.set_defaults(run=_replay)
    purge = actions.add_parser("purge", help="delete dead letters for good")
    _selection(purge)
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    purge.set_defaults(run=_purge)


def _selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID", help="dead-letter ids (or message ids)")
    parser.add_argument("--all", action="store_true", help="every dead letter")


def _selector(args: argparse.Namespace) -> Callable[[deadletters.DeadLetter], bool]:
    if args.all:
        return lambda letter: True
    if not args.ids:
        raise SystemExit("pacer: name dead-letter ids, or --all")
    wanted = set(args.ids)
    return lambda letter: letter.id in wanted or letter.message_id in wanted


def _list(args: argparse.Namespace) -> int:
    count = 0
    with connect(get_settings()) as connection, deadletters.held(connection) as letters:
        if not args.json:
            print(f"{'ID':12}  {'WHEN':25}  {'TYPE':18}  {'IDENTIFIERS':30}  {'STEP':22}  REASON")
        for letter, _ in letters:
            count += 1
            if args.json:
                print(json.dumps(letter.summary(), default=str), flush=True)
                continue
            ids = ",".join(f"{k}={v}" for k, v in letter.identifiers.items()) or "-"
            steps = ",".join(letter.failed_steps) or "-"
            print(
                f"{letter.id:12}  {letter.dead_lettered_at:25}  {letter.message_type:18}  "
                f"{ids[:30]:30}  {steps[:22]:22}  {letter.reason[:100]}",
                flush=True,
            )
    if not args.json:
        print(f"{count} dead letter(s)")
    return 0


def _show(args: argparse.Namespace) -> int:
    with connect(get_settings()) as connection, deadletters.held(connection) as letters:
        matches = [
            letter for letter, _ in letters
            if letter.id.startswith(args.id) or letter.message_id == args.id
        ]
    if len(matches) != 1:
        print(f"pacer: {len(matches)} dead letters match {args.id!r}", file=sys.stderr)
        return 1
    letter = matches[0]
    output.as_json({**letter.summary(), "headers": letter.headers})
    print("--- body ---")
    print(letter.body.decode("utf-8", errors="replace"))
    return 0


def validate(letter: deadletters.DeadLetter) -> str | None:
    """Why the letter's message would be refused again, or None when it is valid now."""
    try:
        bridge = bridges.bridge_for(letter.message_type)()
        raw = Raw(letter.body, letter.content_type, letter.headers, letter.message_id, letter.routing_key)
        bridge.validate(Envelope.receive(raw, letter.message_type, get_settings().max_message_bytes))
    except (InvalidMessage, ConfigurationError) as exc:
        return str(exc)
    return None


def _replay(args: argparse.Namespace) -> int:
    select = _selector(args)
    settings = get_settings()
    outcomes = []
    with connect(settings) as connection:
        for outcome in deadletters.replay(connection, settings.rmq_exchange, select, validate, dry_run=args.dry_run):
            outcomes.append(outcome)
            print(f"{outcome.letter.id}  {outcome.letter.message_type:18}  {outcome.action}: {outcome.detail}", flush=True)
    if not args.dry_run:
        _record(outcomes, "replay")
    if not outcomes:
        print("pacer: no dead letter matches", file=sys.stderr)
        return 1
    replayed = sum(o.action != "still invalid" for o in outcomes)
    print(f"{replayed} of {len(outcomes)} selected dead letter(s) {'would be ' if args.dry_run else ''}replayed")
    return 0 if replayed == len(outcomes) else 1


def _purge(args: argparse.Namespace) -> int:
    select = _selector(args)
    with connect(get_settings()) as connection:
        named = list(deadletters.purge(connection, select, dry_run=True))
    if not named:
        print("pacer: no dead letter matches", file=sys.stderr)
        return 1
    for outcome in named:
        letter = outcome.letter
        print(f"{letter.id}  {letter.message_type:18}  {letter.message_id}  {letter.reason[:80]}")
    if not args.yes:
        if not sys.stdin.isatty():
            raise SystemExit("pacer: purging needs --yes when not run interactively")
        if input(f"Delete these {len(named)} dead letter(s) for good? [y/N] ").strip().lower() != "y":
            return 1
    chosen = {o.letter.id for o in named}
    purged = operators.purge_dead_letters(journal(), get_settings(), chosen, getpass.getuser())
    print(f"{len(purged)} dead letter(s) purged")
    return 0


def _record(outcomes: list[deadletters.Outcome], action: str) -> None:
    """Operators' actions go in the journal, with who did them."""
    store = journal()
    for outcome in outcomes:
        if outcome.action == "replayed":
            store.record_action(getpass.getuser(), action, outcome.letter.message_id, {"dead_letter": outcome.letter.id})
