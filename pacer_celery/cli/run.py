"""``pacer bridge``, ``sweep``, ``publish``, ``demo``, ``config``, ``journal``, ``icat``."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from pacer_celery import bridges, heap
from pacer_celery.cli import output
from pacer_celery.errors import ConfigurationError, LoginRefused, PermanentError, TransientError
from pacer_celery.journal import journal, migrate
from pacer_celery.journal.database import engine_for
from pacer_celery.settings import get_settings

logger = logging.getLogger("pacer")


def add(commands) -> None:
    bridge = commands.add_parser(
        "bridge",
        help="run the bridges (consume, validate, journal, dispatch) and the sweeper",
        description="Consumes every registered message type's queue (or --only some), "
        "journals each message, dispatches its chain and acks it once the broker confirmed "
        "the chain. Stops gracefully on SIGTERM or Ctrl-C.",
    )
    bridge.add_argument("--only", metavar="TYPE,...", help="run only these message types (e.g. dataset-ingestion)")
    bridge.add_argument("--no-sweep", action="store_true", help="do not run the sweeper in this process")
    bridge.set_defaults(run=_bridge)

    sweep = commands.add_parser(
        "sweep",
        help="re-dispatch stalled messages from the journal (the sweeper, on its own)",
        description="Every PACER_SWEEP_INTERVAL_SECONDS, messages that should be moving but "
        "showed no sign of it for PACER_STALLED_AFTER_SECONDS are dispatched again from the "
        "journal, at most PACER_MAX_REDISPATCH times, then dead-lettered. Safe to run several.",
    )
    sweep.add_argument("--once", action="store_true", help="one round, then exit")
    sweep.set_defaults(run=_sweep)

    publish = commands.add_parser("publish", help="publish message files, as a producer would")
    publish.add_argument("--type", required=True, dest="message_type", help="message type, e.g. user-update")
    publish.add_argument("--xml", action="store_true", help="the files are legacy XML (default: by suffix)")
    publish.add_argument("--source", default="pacer-cli", help="the 'source' header (default: pacer-cli)")
    publish.add_argument("files", nargs="+", type=Path, metavar="FILE")
    publish.set_defaults(run=_publish)

    demo = commands.add_parser(
        "demo",
        help="run the whole pipeline on embedded defaults with the bundled example messages",
        description="Runs bridges, a worker and an ICAT testbox in this process (no RabbitMQ, "
        "Redis or ICAT needed), sends the example messages and shows what landed in ICAT.",
    )
    demo.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the messages")
    demo.set_defaults(run=_demo)

    config = commands.add_parser(
        "config",
        help="show the effective configuration (secrets masked)",
        description="Each setting under its environment variable, its value (secrets masked) and "
        "where it came from (environment, .env, default); the broker and journal URLs in effect; "
        "warnings of missing essentials and of PACER_* variables that match no setting.",
    )
    config.add_argument("--json", action="store_true", help="one JSON document for scripts")
    config.set_defaults(run=_config)

    journal_command = commands.add_parser("journal", help="the message journal's database")
    journal_actions = journal_command.add_subparsers(title="journal commands", metavar="ACTION", required=True)
    upgrade = journal_actions.add_parser(
        "upgrade", help="create or migrate the journal's schema (PACER_JOURNAL_URL) to this PACER's"
    )
    upgrade.set_defaults(run=_journal_upgrade)

    icat = commands.add_parser("icat", help="ICAT administration")
    icat_commands = icat.add_subparsers(title="ICAT commands", metavar="ACTION", required=True)
    init_reference = icat_commands.add_parser(
        "init-reference",
        help="load reference data (facility, instruments, types, formats, parameter types) "
        "from a YAML file; running it again changes nothing",
    )
    init_reference.add_argument("file", type=Path, metavar="FILE.yaml")
    init_reference.set_defaults(run=_icat_init_reference)


def _bridge(args: argparse.Namespace) -> int:
    from pacer_celery.bridges.runner import BridgeRunner, connect

    settings = get_settings()
    registry = bridges.load()
    wanted = args.only.split(",") if args.only else list(registry)
    unknown = [t for t in wanted if t not in registry]
    if unknown or not wanted:
        raise ConfigurationError(
            f"unknown message type(s) {unknown}; registered: {sorted(registry) or 'none'}"
        )
    with connect(settings) as connection:
        runner = BridgeRunner(
            connection, [registry[t]() for t in wanted], settings, journal(), sweep=not args.no_sweep
        )

        def stop(signum, frame):
            # Finish the message in hand; unacked prefetched ones go back to the queue.
            logger.info("signal %s: stopping after the current message", signum)
            runner.should_stop = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        heap.freeze_startup_objects()
        runner.run()
    logger.info("bridges stopped")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from pacer_celery.sweeper import Sweeper

    settings = get_settings()
    bridges.load()
    sweeper = Sweeper(settings, journal())
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    while True:
        result = sweeper.sweep()
        print(
            f"sweep: {len(result.redispatched)} re-dispatched, {len(result.dead_lettered)} dead-lettered",
            flush=True,
        )
        if args.once or stopping:
            return 0
        deadline = time.monotonic() + settings.sweep_interval_seconds
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.5)
        if stopping:
            return 0


def _publish(args: argparse.Namespace) -> int:
    from pacer_celery.producer import PacerProducer

    bridges.bridge_for(args.message_type)  # an unknown type fails before anything is sent
    failed = 0
    with PacerProducer(source=args.source) as producer:
        for number, path in enumerate(args.files, 1):
            xml = args.xml or path.suffix.lower() == ".xml"
            try:
                message_id = producer.publish(
                    args.message_type,
                    path.read_bytes(),
                    content_type="application/xml" if xml else "application/json",
                )
            except Exception as exc:  # noqa: BLE001 - report each file, go on with the rest
                failed += 1
                print(f"[{number}/{len(args.files)}] {path}: NOT published: {exc}", file=sys.stderr)
            else:
                print(f"[{number}/{len(args.files)}] {path}: published as {message_id}")
    return 1 if failed else 0


def _demo(args: argparse.Namespace) -> int:
    from pacer_celery import demo

    return demo.run(args.timeout, args.verbose)


def _config(args: argparse.Namespace) -> int:
    shown = get_settings().redacted()
    if args.json:
        print(json.dumps(shown, indent=2))
        return 0
    output.table(
        ["VARIABLE", "FROM", "VALUE"],
        [[name, entry["from"], json.dumps(entry["value"])] for name, entry in shown["settings"].items()],
    )
    print(f"\nbroker:  {shown['broker_url']}\njournal: {shown['journal_url']}")
    for warning in shown["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _journal_upgrade(args: argparse.Namespace) -> int:
    url = get_settings().journal()
    shown = make_url(url).render_as_string(hide_password=True)
    before, after = migrate.upgrade(engine_for(url))
    if before == after:
        print(f"journal {shown}: schema already at revision {after}")
    else:
        print(f"journal {shown}: schema upgraded from {before or 'empty'} to revision {after}")
    return 0


def _icat_init_reference(args: argparse.Namespace) -> int:
    from pacer_celery.icat import session
    from pacer_celery.icat.errors import classify
    from pacer_celery.tasks.reference import ReferenceFileError, load_reference, read_reference_file

    try:
        data = read_reference_file(args.file)
    except ReferenceFileError as exc:
        print(f"pacer: {exc}", file=sys.stderr)
        return 1
    print(f"loading reference data of facility {data.facility.name!r} from {args.file}", flush=True)
    try:
        results = load_reference(session.client(), data, lambda line: print(f"  {line}", flush=True))
    except LoginRefused as exc:
        print(f"pacer: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one readable line instead of a traceback
        problem = classify(exc)
        if not isinstance(problem, (PermanentError, TransientError)):
            raise
        print(f"pacer: reference data not (fully) loaded: {problem}", file=sys.stderr)
        return 1
    finally:
        session.close()
    changed = sum(r.created + r.updated for r in results)
    print("done: " + (f"{changed} change(s)" if changed else "ICAT already held this reference data"))
    return 0
