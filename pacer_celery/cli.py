"""The ``pacer`` command: run bridges, publish messages, manage dead letters."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from pacer_celery import deadletters
from pacer_celery.errors import ConfigurationError, InvalidMessage
from pacer_celery.settings import get_settings

logger = logging.getLogger("pacer")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except ConfigurationError as exc:
        print(f"pacer: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pacer",
        description="PACER: keeps ICAT in step with the User Office System and the DAQ. "
        "Configuration comes from PACER_* and ICAT_* environment variables (or .env); "
        "see the README.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    bridge = commands.add_parser("bridge", help="run the bridges (consume, validate, dispatch)")
    bridge.add_argument(
        "--only", metavar="TYPE,...", help="run only these message types (e.g. dataset-ingestion)"
    )
    bridge.set_defaults(run=_bridge)

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

    config = commands.add_parser("config", help="show the effective configuration (secrets masked)")
    config.set_defaults(run=_config)

    icat = commands.add_parser("icat", help="ICAT administration")
    icat_commands = icat.add_subparsers(title="ICAT commands", metavar="ACTION", required=True)
    init_reference = icat_commands.add_parser(
        "init-reference",
        help="load reference data (facility, instruments, types, formats, parameter types) "
        "from a YAML file; running it again changes nothing",
    )
    init_reference.add_argument("file", type=Path, metavar="FILE.yaml")
    init_reference.set_defaults(run=_icat_init_reference)

    dlq = commands.add_parser("dlq", help="list, show, replay or purge dead letters")
    dlq_commands = dlq.add_subparsers(title="dead-letter commands", metavar="ACTION", required=True)
    listing = dlq_commands.add_parser("list", help="a table of the dead letters")
    listing.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    listing.set_defaults(run=_dlq_list)
    show = dlq_commands.add_parser("show", help="one dead letter in full")
    show.add_argument("id", help="dead-letter id (or a unique prefix), or the message id")
    show.set_defaults(run=_dlq_show)
    replay = dlq_commands.add_parser(
        "replay", help="re-validate and republish dead letters to their original routing key"
    )
    _selection(replay)
    replay.add_argument("--dry-run", action="store_true", help="say what would happen, change nothing")
    replay.set_defaults(run=_dlq_replay)
    purge = dlq_commands.add_parser("purge", help="delete dead letters for good")
    _selection(purge)
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    purge.set_defaults(run=_dlq_purge)
    return parser


def _selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID", help="dead-letter ids (or message ids)")
    parser.add_argument("--all", action="store_true", help="every dead letter")


def _selector(args: argparse.Namespace):
    if args.all:
        return lambda letter: True
    if not args.ids:
        raise SystemExit("pacer: name dead-letter ids, or --all")
    wanted = set(args.ids)
    return lambda letter: letter.id in wanted or letter.message_id in wanted


def _connection():
    from pacer_celery.bridges.runner import connect

    return connect(get_settings())


def _bridge(args: argparse.Namespace) -> int:
    import importlib

    from pacer_celery.bridges import REGISTRY
    from pacer_celery.bridges.runner import BridgeRunner

    settings = get_settings()
    for module in filter(None, (m.strip() for m in settings.bridge_modules.split(","))):
        importlib.import_module(module)
    wanted = args.only.split(",") if args.only else list(REGISTRY)
    unknown = [t for t in wanted if t not in REGISTRY]
    if unknown or not wanted:
        raise ConfigurationError(
            f"unknown message type(s) {unknown}; registered: {sorted(REGISTRY) or 'none'}"
        )
    with _connection() as connection:
        runner = BridgeRunner(connection, [REGISTRY[t]() for t in wanted], settings)

        def stop(signum, frame):
            # Finish the message in hand; unacked prefetched ones go back to the queue.
            logger.info("signal %s: stopping after the current message", signum)
            runner.should_stop = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        runner.run()
    logger.info("bridges stopped")
    return 0


def _publish(args: argparse.Namespace) -> int:
    from pacer_celery.producer import PacerProducer

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
    print(json.dumps(get_settings().redacted(), indent=2))
    return 0


def _icat_init_reference(args: argparse.Namespace) -> int:
    from pacer_celery.errors import PermanentError, TransientError
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


def _dlq_list(args: argparse.Namespace) -> int:
    with _connection() as connection, deadletters.held(connection) as held:
        letters = [letter for letter, _ in held]
    if args.json:
        print(json.dumps([letter.summary() for letter in letters], indent=2))
        return 0
    if not letters:
        print("no dead letters")
        return 0
    print(f"{'ID':12}  {'WHEN':25}  {'TYPE':18}  {'IDENTIFIERS':30}  {'STEP':22}  REASON")
    for letter in letters:
        ids = ",".join(f"{k}={v}" for k, v in letter.identifiers.items()) or "-"
        steps = ",".join(letter.failed_steps) or "-"
        print(
            f"{letter.id:12}  {letter.dead_lettered_at:25}  {letter.message_type:18}  "
            f"{ids[:30]:30}  {steps[:22]:22}  {letter.reason[:100]}"
        )
    print(f"{len(letters)} dead letter(s)")
    return 0


def _dlq_show(args: argparse.Namespace) -> int:
    with _connection() as connection, deadletters.held(connection) as held:
        matches = [
            letter for letter, _ in held
            if letter.id.startswith(args.id) or letter.message_id == args.id
        ]
    if len(matches) != 1:
        print(f"pacer: {len(matches)} dead letters match {args.id!r}", file=sys.stderr)
        return 1
    letter = matches[0]
    print(json.dumps({**letter.summary(), "headers": letter.headers}, indent=2, default=str))
    print("--- body ---")
    print(letter.body.decode("utf-8", errors="replace"))
    return 0


def _validator(letter: deadletters.DeadLetter) -> str | None:
    from pacer_celery.bridges import REGISTRY
    from pacer_celery.envelope import Envelope

    bridge = REGISTRY.get(letter.message_type)
    if bridge is None:
        return f"no bridge for message type {letter.message_type!r}"
    try:
        envelope = Envelope.receive(
            message_type=letter.message_type,
            routing_key=letter.routing_key,
            body=letter.body,
            content_type=letter.content_type,
            headers=letter.headers,
            message_id=letter.message_id,
            max_bytes=get_settings().max_message_bytes,
        )
        envelope.parse(bridge.model)
    except InvalidMessage as exc:
        return str(exc)
    return None


def _dlq_replay(args: argparse.Namespace) -> int:
    with _connection() as connection:
        outcomes = deadletters.replay(
            connection, get_settings().rmq_exchange, _selector(args), _validator, dry_run=args.dry_run
        )
    for outcome in outcomes:
        print(f"{outcome.letter.id}  {outcome.letter.message_type:18}  {outcome.action}: {outcome.detail}")
    print(f"{sum(o.action != 'still invalid' for o in outcomes)} of {len(outcomes)} selected dead letter(s) "
          f"{'would be ' if args.dry_run else ''}replayed")
    return 1 if any(o.action == "still invalid" for o in outcomes) else 0


def _dlq_purge(args: argparse.Namespace) -> int:
    select = _selector(args)
    if not args.yes:
        if not sys.stdin.isatty():
            raise SystemExit("pacer: purging needs --yes when not run interactively")
        if input("Delete the selected dead letters for good? [y/N] ").strip().lower() != "y":
            return 1
    with _connection() as connection:
        outcomes = deadletters.purge(connection, select)
    print(f"{len(outcomes)} dead letter(s) purged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
