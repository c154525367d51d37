"""Assemble one ICAT instance: store, accounts, optional fixtures, HTTP server.

Used by ``icat-testbox icat`` and by anything that provisions instances in-process.
"""

from __future__ import annotations

from testbox.fixtures import load_fixtures
from testbox.server import IcatHTTPServer
from testbox.service import Config, IcatService
from testbox.store import Store


def build_icat_server(
    config: Config,
    db: str = ":memory:",
    fixtures: bool = False,
    host: str = "127.0.0.1",
    port: int = 0,
) -> IcatHTTPServer:
    """A ready, not yet serving, ICAT server; ``port`` 0 picks a free port.

    Call ``start_background()`` or ``serve_forever()`` on it, and ``stop()`` when done.
    Fixtures are attributed to the first root user (in name order).
    """
    store = Store(db)
    try:
        if fixtures:
            load_fixtures(store, config.root_user_names[0] if config.root_user_names else "db/root")
        return IcatHTTPServer(IcatService(store, config), host, port)
    except BaseException:
        store.close()
        raise
