"""The ``pacer`` command: run bridges and the sweeper, publish messages, read the journal,
manage dead letters, load reference data, try it all in a demo."""

from __future__ import annotations

import argparse
import logging
import sys

from kombu import Connection
from kombu.exceptions import OperationalError
from sqlalchemy.exc import SQLAlchemyError

from pacer_celery.bridges.broker import describe_failure
from pacer_celery.cli import dashboard, dlq, messages, run
from pacer_celery.errors import ConfigurationError
from pacer_celery.journal.search import SearchError
from pacer_celery.settings import get_settings


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
    except (ConfigurationError, SearchError) as exc:
        print(f"pacer: {exc}", file=sys.stderr)
        return 2
    except (OperationalError, OSError) as exc:
        print(f"pacer: the broker: {describe_failure(Connection(get_settings().broker()), exc)}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(f"pacer: the journal: {(str(exc).strip().splitlines() or ['?'])[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pacer",
        description="PACER: keeps ICAT in step with the User Office System and the DAQ. "
        "Configuration comes from PACER_* and ICAT_* environment variables (or .env); "
        "see the README, and `pacer config` for what is in effect.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    run.add(commands)
    messages.add(commands)
    dlq.add(commands)
    dashboard.add(commands)
    return parser
