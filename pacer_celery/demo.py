"""``pacer demo``: the whole pipeline on embedded defaults, in one process.

An in-memory broker and result backend, the registered bridges in a thread, an in-process
Celery worker and an embedded ICAT testbox on SQLite. It loads the example reference data,
publishes the example messages that ship with the package, shows each message's fate as it
happens, and ends with what landed in ICAT and what was dead-lettered, and why. Run from a
terminal, it then leaves the dashboard open on the demo's journal until Ctrl-C.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

#: Everything the demo needs and nothing outside this process.
EMBEDDED = {
    "PACER_BROKER_URL": "memory://localhost/",
    "PACER_RESULT_BACKEND": "cache+memory://",
    "PACER_RETRY_BACKOFF_SECONDS": "0.5",
    "PACER_RETRY_BACKOFF_MAX_SECONDS": "2",
    "PACER_MISSING_INVESTIGATION_TIMEOUT": "30",
    "ICAT_AUTH_PLUGIN": "db",
    "ICAT_AUTH_USERNAME": "pacer",
    "ICAT_AUTH_PASSWORD": "demo-only",
    # The dashboard the demo leaves open: on this machine only, so no login.
    "PACER_DASHBOARD_AUTH": "none",
    "PACER_DASHBOARD_HOST": "127.0.0.1",
}
#: The bundled examples, in the order they are sent: what a facility's day looks like.
EXAMPLES = (
    ("user.json", "user-update"),
    ("proposal.json", "proposal-update"),
    ("dataset.json", "dataset-ingestion"),
    ("dataset-legacy.xml", "dataset-ingestion"),
    ("datafiles.json", "datafile-ingestion"),
    ("invalid-dataset.json", "dataset-ingestion"),
)


@dataclass
class Example:
    path: Path
    message_type: str
    message_id: str = ""
    outcome: str = ""

    @property
    def content_type(self) -> str:
        return "application/xml" if self.path.suffix == ".xml" else "application/json"


def run(timeout: float = 120.0, verbose: bool = False) -> int:
    # The progress lines below tell the story; logs only for what goes wrong, unless asked.
    logging.getLogger().setLevel(logging.DEBUG if verbose else logging.ERROR)
    os.environ.update(EMBEDDED)
    with tempfile.TemporaryDirectory(prefix="pacer-demo-") as workdir, _testbox(Path(workdir)) as url:
        os.environ["ICAT_SERVER_URL"] = url
        os.environ["PACER_JOURNAL_URL"] = f"sqlite:///{Path(workdir) / 'journal.sqlite'}"
        from pacer_celery.settings import get_settings

        get_settings.cache_clear()
        return _pipeline(timeout)


@contextmanager
def _testbox(workdir: Path) -> Iterator[str]:
    from testbox.instance import build_icat_server
    from testbox.service import Config

    account = EMBEDDED["ICAT_AUTH_USERNAME"]
    config = Config(users={account: EMBEDDED["ICAT_AUTH_PASSWORD"]}, root_users={account})
    server = build_icat_server(config, str(workdir / "icat.sqlite"))
    server.start_background()
    print(f"ICAT testbox on {server.url} (SQLite in {workdir})")
    try:
        yield server.url
    finally:
        server.stop()


def _pipeline(timeout: float) -> int:
    from celery.contrib.testing.worker import start_worker

    from pacer_celery import bridges
    from pacer_celery.app import app
    from pacer_celery.bridges.runner import BridgeRunner, connect
    from pacer_celery.icat import session
    from pacer_celery.icat.session import client
    from pacer_celery.journal import journal
    from pacer_celery.producer import PacerProducer
    from pacer_celery.settings import get_settings
    from pacer_celery.tasks.reference import load_reference, read_reference_file

    settings = get_settings()
    package = resources.files("pacer_celery") / "examples"
    reference = read_reference_file(Path(str(package / "reference.yaml")))
    load_reference(client(), reference)
    print("reference data loaded (facility, instruments, types)")

    todo = [Example(Path(str(package / name)), kind) for name, kind in EXAMPLES]
    quiet = "DEBUG" if logging.getLogger().level <= logging.DEBUG else "ERROR"
    with start_worker(app, pool="solo", perform_ping_check=False, loglevel=quiet), connect(settings) as connection:
        runner = BridgeRunner(connection, [bridge() for bridge in bridges.load().values()], settings, journal())
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        runner.ready.wait(30)
        with PacerProducer(settings, source="pacer-demo") as producer:
            for example in todo:
                example.message_id = producer.publish(
                    example.message_type, example.path.read_bytes(), content_type=example.content_type
                )
                print(f"sent {example.path.name} as {example.message_type} message {example.message_id[:8]}")
        _follow(todo, journal(), timeout)
        runner.should_stop = True
        thread.join(timeout=10)
        _summary(client(), todo)
        _dashboard(settings)  # the worker still runs: a replay from the dashboard works
    session.close()
    return 0 if all(e.outcome for e in todo) else 1


def _follow(todo: list[Example], journal, timeout: float) -> None:
    """Print each message's fate, as the journal records it, when it is known."""
    from pacer_celery.journal import FINAL

    deadline = time.monotonic() + timeout
    shown = 0
    while shown < len(todo) and time.monotonic() < deadline:
        for example in todo:
            record = None if example.outcome else journal.load(example.message_id)
            if record is None or record.status not in FINAL:
                continue
            example.outcome = _fate(journal, example.message_id, record.status)
            shown += 1
            print(f"[{shown}/{len(todo)}] {example.path.name}: {example.outcome}")
        time.sleep(0.2)
    for example in todo:
        if not example.outcome:
            print(f"{example.path.name}: still in progress after {timeout:.0f}s")


def _fate(journal, message_id: str, status: str) -> str:
    from pacer_celery.journal import search

    with journal.engine.connect() as connection:
        message = search.timeline(connection, message_id).message
    if status == "done":
        return "landed in ICAT"
    if status == "superseded":
        return f"superseded by the newer message {message['superseded_by'][:8]} about the same object"
    if status == "invalid":
        return f"dead-lettered as invalid: {message['error']}"
    return f"{status}: {message['error']}"


def _summary(icat, todo) -> None:
    print("\n== What landed in ICAT ==")
    for user in icat.search("SELECT u FROM User u WHERE u.name LIKE 'uos/%' ORDER BY u.name"):
        profile = " ".join(filter(None, (
            user.fullName, f"<{user.email}>" if user.email else None,
            f"orcid {user.orcidId}" if user.orcidId else None,
        )))
        print(f"user {user.name}: {profile or 'no profile yet (created from a proposal team)'}")
    investigations = icat.search(
        "SELECT i FROM Investigation i ORDER BY i.name, i.visitId INCLUDE i.type, "
        "i.investigationInstruments AS ii, ii.instrument, i.investigationUsers AS iu, iu.user"
    )
    for inv in investigations:
        instruments = ", ".join(sorted(ii.instrument.name for ii in inv.investigationInstruments))
        team = ", ".join(sorted(f"{iu.user.name} ({iu.role})" for iu in inv.investigationUsers))
        print(f"investigation {inv.name} visit {inv.visitId} [{inv.type.name}]: {inv.title}")
        print(f"    instruments: {instruments or '-'}; team: {team or '-'}")
    datasets = icat.search(
        "SELECT ds FROM Dataset ds ORDER BY ds.name INCLUDE ds.investigation, ds.type, ds.sample, "
        "ds.parameters AS p, p.type"
    )
    for ds in datasets:
        params = ", ".join(
            f"{p.type.name}={p.numericValue if p.numericValue is not None else p.stringValue} {p.type.units}"
            for p in ds.parameters
        )
        sample = ds.sample.name if ds.sample else "-"
        print(
            f"dataset {ds.name} of {ds.investigation.name} [{ds.type.name}]: {ds.fileCount} files, "
            f"{ds.fileSize} bytes, sample {sample}, complete={ds.complete}"
        )
        print(f"    parameters: {params or '-'}")
    print("\n== Dead letters ==")
    letters = [e for e in todo if e.outcome.startswith("dead-lettered")]
    for example in letters:
        print(f"{example.path.name}: {example.outcome.split(': ', 1)[-1]}")
    if not letters:
        print("none")


def _dashboard(settings) -> None:
    """Leave the dashboard open on the demo's journal for a person at a terminal; a script
    (no terminal on stdin) gets a line saying so, and the demo ends."""
    if not sys.stdin.isatty():
        print("\n(Run `pacer demo` in a terminal and it leaves the dashboard open on these messages.)")
        return
    from pacer_celery.cli.dashboard import serve

    port = settings.dashboard_port
    with socket.socket() as probe:
        try:
            probe.bind((settings.dashboard_host, port))
        except OSError:  # taken: any free port will do for a demo
            probe.bind((settings.dashboard_host, 0))
            port = probe.getsockname()[1]
    print("\n== The dashboard ==\nSearch these messages, follow each one's steps, replay or purge the dead letter:")
    serve(settings.model_copy(update={"dashboard_port": port}))
