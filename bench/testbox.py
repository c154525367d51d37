"""How fast the ICAT testbox creates and searches, through the real python-icat client.

    python bench/testbox.py [--db :memory:|PATH] [--profile]

Starts ``icat-testbox icat`` as a separate process (as tests use it), creates 10 000
datafiles and searches them back. Each python-icat call is split into its parts, so the
testbox's own speed shows apart from the client's:

- ``build``: python-icat's ``client.new(...)`` for every object (suds builds each from the
  schema);
- ``request``: suds serialising the call (``nosend``);
- ``server``: the HTTP round trip of that exact envelope to the testbox: the testbox's
  throughput (the aim: 5 000 created entities per second or more);
- ``answer``: suds parsing the reply (and, for a search, python-icat making entities);
- ``python-icat call``: request + server + answer, what ``client.createMany`` or
  ``client.search`` costs a caller.

Workloads: ``createMany`` of 1 000 datafiles in one call; of 1 000 in two calls of 500;
8 000 more in calls of 1 000; then searches, each as root and as a non-root member of the
investigation's ``participant`` grouping, who may read it through the rules PACER ships
(``pacer_celery/examples/reference.yaml``): ``SELECT o FROM Datafile o INCLUDE o.dataset``
(10 000 rows), the same without INCLUDE, a COUNT, and pages of 100. For each search it
prints the member's throughput as a ratio of root's (the rules' cost; goal: 0.5 or more),
from root's and the member's calls taken in turns.
Datafiles reference their dataset by id only, as PACER does (``pacer_celery.icat.changes``).
``--profile`` runs the server in this process instead, profiles its SOAP handling
(``testbox.soap.handle``) and prints where its time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import io
import pstats
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import icat  # noqa: E402
import yaml  # noqa: E402
from icat.entity import Entity  # noqa: E402

from testbox.server import SERVICE_PATH  # noqa: E402

ROOT = ("root", "root")
MEMBER = ("member", "memberpw")
RULES_FILE = Path(__file__).resolve().parents[1] / "pacer_celery" / "examples" / "reference.yaml"
TOTAL_DATAFILES = 10_000
#: (query, times run, rows each) for the root-versus-member comparison
SEARCHES = (
    ("SELECT o FROM Datafile o INCLUDE o.dataset", 2, TOTAL_DATAFILES),
    ("SELECT o FROM Datafile o", 2, TOTAL_DATAFILES),
    ("SELECT COUNT(o) FROM Datafile o", 200, 1),
    ("SELECT o FROM Datafile o LIMIT 5000, 100", 100, 100),
)
MAX_ENTITIES = 100_000  # the search returns 10 000 datafiles plus their dataset


@contextmanager
def icat_process(db: str) -> Iterator[str]:
    """``icat-testbox icat`` in its own process; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "testbox.cli", "icat", "--port", "0", "--db", db,
         "--root", f"{ROOT[0]}:{ROOT[1]}", "--user", f"{MEMBER[0]}:{MEMBER[1]}",
         "--max-entities", str(MAX_ENTITIES)],
        stdout=subprocess.PIPE, text=True,
    )
    first = process.stdout.readline()
    if not first.startswith("url: "):
        process.kill()
        raise SystemExit(f"icat-testbox did not start: {first!r}")
    try:
        yield first.removeprefix("url: ").strip()
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def icat_in_process(db: str, profile: cProfile.Profile) -> Iterator[str]:
    """The same server in this process, its SOAP handling profiled (requests come one at a time)."""
    from testbox import soap
    from testbox.instance import build_icat_server
    from testbox.service import Config

    handle = soap.handle

    def profiled(*args: Any) -> Any:
        return profile.runcall(handle, *args)

    soap.handle = profiled
    config = Config(users=dict([ROOT, MEMBER]), root_users={ROOT[0]}, max_entities=MAX_ENTITIES)
    server = build_icat_server(config, db)
    server.start_background()
    try:
        yield server.url
    finally:
        server.stop()
        soap.handle = handle


@dataclass
class Parts:
    """Seconds spent in each part of python-icat calls, summed over the calls of a workload."""

    build: float = 0.0
    request: float = 0.0
    server: float = 0.0
    answer: float = 0.0

    def report(self, label: str, count: int) -> None:
        print(f"{label}: {count} entities")
        rows = [("build", self.build), ("request", self.request), ("server", self.server),
                ("answer", self.answer), ("python-icat call", self.request + self.server + self.answer)]
        for part, seconds in rows:
            if seconds:
                print(f"  {part:<18} {seconds:8.3f} s  {count / seconds:9.0f} entities/s")
        print(flush=True)


class Caller:
    """Makes python-icat calls in parts: suds builds the envelope, we post it, suds parses."""

    def __init__(self, client: icat.Client, url: str) -> None:
        self.client = client
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)

    def call(self, parts: Parts, operation: str, *args: Any) -> Any:
        start = time.perf_counter()
        self.client.set_options(nosend=True)
        try:
            context = getattr(self.client.service, operation)(self.client.sessionId, *args)
        finally:
            self.client.set_options(nosend=False)
        sent = time.perf_counter()
        self.connection.request("POST", SERVICE_PATH, body=context.envelope,
                                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
        response = self.connection.getresponse()
        reply = response.read()
        if response.status != 200:
            raise SystemExit(f"{operation}: HTTP {response.status}: {reply[:500]!r}")
        replied = time.perf_counter()
        result = context.process_reply(reply)
        if operation == "search":
            result = [self.client.getEntity(item) for item in result]
        parts.request += sent - start
        parts.server += replied - sent
        parts.answer += time.perf_counter() - replied
        return result

    def create_many(self, parts: Parts, beans: list) -> list[int]:
        return self.call(parts, "createMany", Entity.getInstances(beans))

    def search(self, parts: Parts, query: str) -> list:
        return self.call(parts, "search", query)


def run(url: str) -> None:
    client = icat.Client(url + SERVICE_PATH + "?wsdl")
    client.login("db", {"username": ROOT[0], "password": ROOT[1]})
    facility = client.new("Facility", name="BENCH", fullName="Benchmark facility")
    facility.create()
    inv_type = client.new("InvestigationType", name="experiment", facility=facility)
    inv_type.create()
    investigation = client.new("Investigation", name="B-1", visitId="1", title="Bench",
                               facility=facility, type=inv_type)
    investigation.create()
    ds_type = client.new("DatasetType", name="raw", facility=facility)
    ds_type.create()
    dataset = client.new("Dataset", name="bench", investigation=investigation, type=ds_type)
    dataset.create()
    dataset_ref = client.new("Dataset", id=dataset.id)
    caller = Caller(client, url)
    made = 0

    def datafiles(parts: Parts, count: int) -> list:
        nonlocal made
        start = time.perf_counter()
        beans = [client.new("Datafile", name=f"f{made + i:06d}.h5", location=f"/data/f{made + i:06d}.h5",
                            fileSize=1024 + i, dataset=dataset_ref) for i in range(count)]
        parts.build += time.perf_counter() - start
        made += count
        return beans

    parts = Parts()
    ids = caller.create_many(parts, datafiles(parts, 1000))
    assert len(ids) == 1000
    parts.report("createMany, 1 000 datafiles in one call", 1000)

    parts = Parts()
    for _ in range(2):
        caller.create_many(parts, datafiles(parts, 500))
    parts.report("createMany, 1 000 datafiles in two calls of 500", 1000)

    parts = Parts()
    rest = TOTAL_DATAFILES - made
    for _ in range(rest // 1000):
        caller.create_many(parts, datafiles(parts, 1000))
    parts.report(f"createMany, {rest} more datafiles in calls of 1 000", rest)

    member = icat.Client(url + SERVICE_PATH + "?wsdl")
    member.login("db", {"username": MEMBER[0], "password": MEMBER[1]})
    grant(client, investigation, f"db/{MEMBER[0]}")
    member_caller = Caller(member, url)
    for query, times, expected in SEARCHES:
        # Root's and the member's calls alternate, so both meet the same load on the machine.
        timings = {"root": Parts(), "member": Parts()}
        for _ in range(times):
            for who, searcher in (("root", caller), ("member", member_caller)):
                rows = searcher.search(timings[who], query)
                assert rows == [TOTAL_DATAFILES] if expected == 1 else len(rows) == expected
        for who, parts in timings.items():
            parts.report(f"search as {who}, {query} ({times} times)", times * expected)
        root, other = timings["root"], timings["member"]
        call = (root.request + root.server + root.answer) / (other.request + other.server + other.answer)
        print(f"  member/root throughput: server {root.server / other.server:.2f}, "
              f"python-icat call {call:.2f} (goal: 0.5 or more)\n", flush=True)

    for c in (caller, member_caller):
        c.connection.close()
    member.logout()
    client.logout()


def grant(client: icat.Client, investigation: Any, user_name: str) -> None:
    """PACER's rules, and ``user_name`` in the investigation's participant grouping."""
    rules = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))["rules"]
    client.createMany([client.new("Rule", crudFlags=r["crud_flags"], what=r["what"]) for r in rules])
    user = client.new("User", name=user_name)
    user.create()
    grouping = client.new("Grouping", name="investigation_B-1_1")
    grouping.create()
    client.createMany([client.new("UserGroup", grouping=grouping, user=user),
                       client.new("InvestigationGroup", grouping=grouping, investigation=investigation,
                                  role="participant")])


def print_profile(title: str, profile: cProfile.Profile, lines: int = 25) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(lines)
    print(f"\n=== {title}: functions by own time ===\n{out.getvalue()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=":memory:", help="the server's database (default :memory:)")
    parser.add_argument("--profile", action="store_true",
                        help="run the server in this process and profile its SOAP handling")
    args = parser.parse_args()
    if args.profile:
        profile = cProfile.Profile()
        with icat_in_process(args.db, profile) as url:
            run(url)
        print_profile("server (testbox.soap.handle)", profile, 40)
    else:
        with icat_process(args.db) as url:
            run(url)


if __name__ == "__main__":
    main()
