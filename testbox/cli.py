"""``icat-testbox``: run a testbox ICAT (``icat``) or the provisioning API (``serve``).

Each subcommand is registered by an ``add_<name>_command(subparsers)`` function, listed in
``COMMANDS``, that sets ``func`` on its parser; ``main`` only parses and dispatches. (The
``serve`` subcommand, the provisioning API, plugs in the same way.)

``icat-testbox icat`` accounts: ``--root NAME:PASSWORD`` (repeatable) are root users,
``--user NAME:PASSWORD`` (repeatable) ordinary users. NAME is a ``db`` plugin account (ICAT
user name ``db/NAME``) or ``PLUGIN/NAME`` for another authenticator mnemonic. Without
``--root`` there is one root account ``root`` with password ``root``. ``--root-name
PLUGIN/NAME`` (repeatable) adds a name to ICAT's ``rootUserNames`` without an account
(making a ``--user`` account root, say). The first lines
printed are ``key: value`` pairs (``url``, ``wsdl``, ``auth_plugin`` (the first root's),
``root``, ``user``, ``db``) so scripts can read them.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from testbox.instance import build_icat_server
from testbox.provisioning import add_serve_command
from testbox.server import SERVICE_PATH, IcatHTTPServer
from testbox.service import DEFAULT_MAX_ENTITIES, Config, icat_user_name
from testbox.sessions import DEFAULT_LIFETIME_MINUTES

DEFAULT_ROOT = ("root", "root")


def _account(text: str) -> tuple[str, str]:
    name, sep, password = text.partition(":")
    if not sep or not name or not password:
        raise argparse.ArgumentTypeError(f"expected NAME:PASSWORD, got {text!r}")
    return name, password


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(f"unknown time zone {name!r}") from None
    return name


def add_icat_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("icat", help="run one ICAT 6.2 server (SOAP API for python-icat)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default 0: pick a free one)")
    parser.add_argument("--db", default=":memory:", help="SQLite database file, or :memory: (default)")
    parser.add_argument("--fixtures", action="store_true", help="load the fixture facility (testbox/fixtures)")
    parser.add_argument("--root", type=_account, action="append", default=[], metavar="[PLUGIN/]NAME:PASSWORD",
                        help="a root account (repeatable; default root:root, plugin db)")
    parser.add_argument("--user", type=_account, action="append", default=[], metavar="[PLUGIN/]NAME:PASSWORD",
                        help="a non-root account (repeatable)")
    parser.add_argument("--root-name", action="append", default=[], metavar="PLUGIN/NAME",
                        help="one more of ICAT's rootUserNames, account or not (repeatable)")
    parser.add_argument("--session-minutes", type=float, default=DEFAULT_LIFETIME_MINUTES,
                        help=f"session lifetime (default {DEFAULT_LIFETIME_MINUTES})")
    parser.add_argument("--max-entities", type=int, default=DEFAULT_MAX_ENTITIES,
                        help=f"ICAT's maxEntities (default {DEFAULT_MAX_ENTITIES})")
    parser.add_argument("--timezone", type=_timezone, default="UTC",
                        help="the server's time zone, for dates sent without an offset (default UTC)")
    parser.set_defaults(func=run_icat)


def run_icat(args: argparse.Namespace) -> int:
    roots = args.root or [DEFAULT_ROOT]
    config = Config(
        users=dict(args.user) | dict(roots),
        root_users={name for name, _ in roots} | set(args.root_name),
        session_minutes=args.session_minutes,
        max_entities=args.max_entities,
        timezone=args.timezone,
    )
    server = build_icat_server(config, args.db, args.fixtures, args.host, args.port)

    print(f"url: {server.url}")
    print(f"wsdl: {server.url}{SERVICE_PATH}?wsdl")
    print(f"auth_plugin: {icat_user_name(roots[0][0]).split('/', 1)[0]}")
    for name, password in roots:
        print(f"root: {name}:{password}")
    for name, password in args.user:
        print(f"user: {name}:{password}")
    print(f"db: {args.db}", flush=True)

    serve_until_signalled(server)
    return 0


def serve_until_signalled(server: IcatHTTPServer) -> None:
    """Serve until SIGTERM or SIGINT, then shut the server down cleanly."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server.start_background()
    while not stop.wait(0.5):  # a timed wait keeps the main thread responsive to signals
        pass
    server.stop()


#: One registration function per subcommand, in help order.
COMMANDS = (add_icat_command, add_serve_command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="icat-testbox", description="A light ICAT 6.2 for tests.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add_command in COMMANDS:
        add_command(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
