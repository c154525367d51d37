"""How fast PACER ingests a large dataset, beside a direct python-icat script doing the same.

    python bench/ingest.py [--datafiles 5000] [--one-by-one 300]

Each side gets an ICAT testbox of its own (``icat-testbox icat``, SQLite in a temporary
directory), loaded with the same reference data and the same investigation:

- PACER: one ``dataset-ingestion`` message with N datafiles, published to a throwaway
  RabbitMQ virtual host, through the bridges (in this process) and a
  ``celery -A pacer_celery worker`` (its own process, as in production) to ICAT. Timed from
  the publish until ICAT has the dataset's file count (the chain's last change): validation,
  the dataset, its datafiles in ``PACER_ICAT_CHUNK_SIZE`` chunks, the counts.
- direct: the minimum python-icat calls for the same result, written the ordinary way
  (``client.new`` for every bean): search the investigation, create the dataset (with its
  counts) and its DatasetInstrument, ``createMany`` the datafiles in the same chunks.
- one by one: ``client.new(...).create()`` for each of a few hundred datafiles,
  extrapolated to datafiles per second.

It prints datafiles per second for each, PACER's ratio to the direct script (aim: 0.8 or
more) and to one by one (aim: 10 or more), and exits 1 if the message did not land in time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VHOST = f"pacer-bench-{uuid.uuid4().hex[:6]}"
ACCOUNT = ("pacer", "bench-only")
ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "pacer_celery" / "examples" / "reference.yaml"
PROPOSAL = ROOT / "pacer_celery" / "examples" / "proposal.json"
DATASET = "bench_0001"
#: The search for the dataset's files returns them all; ICAT's maxEntities must allow it.
MAX_ENTITIES = 1_000_000


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True)


def progress(text: str) -> None:
    print(text, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datafiles", type=int, default=5000, help="datafiles in the message (default 5000)")
    parser.add_argument("--one-by-one", type=int, default=300,
                        help="datafiles created one by one for that rate (default 300)")
    args = parser.parse_args()
    rabbitmqctl("add_vhost", VHOST)
    rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    os.environ["PACER_RMQ_VIRTUAL_HOST"] = VHOST
    try:
        with tempfile.TemporaryDirectory(prefix="pacer-bench-") as workdir:
            sys.exit(run(Path(workdir), args.datafiles, args.one_by_one))
    finally:
        rabbitmqctl("delete_vhost", VHOST)


@contextmanager
def testbox(db: Path) -> Iterator[str]:
    """``icat-testbox icat`` in its own process, on SQLite; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "testbox.cli", "icat", "--port", "0", "--db", str(db),
         "--root", f"{ACCOUNT[0]}:{ACCOUNT[1]}", "--max-entities", str(MAX_ENTITIES)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
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


def run(workdir: Path, count: int, one_by_one: int) -> int:
    with testbox(workdir / "pacer.sqlite") as pacer_url, testbox(workdir / "direct.sqlite") as direct_url:
        os.environ.update({
            "ICAT_SERVER_URL": pacer_url,
            "ICAT_AUTH_PLUGIN": "db",
            "ICAT_AUTH_USERNAME": ACCOUNT[0],
            "ICAT_AUTH_PASSWORD": ACCOUNT[1],
            "PACER_ICAT_FACILITY": "PACER",
        })
        # Imported once the environment is set: settings are read once.
        from pacer_celery.settings import get_settings

        chunk_size = get_settings().icat_chunk_size
        message = dataset_message(count)
        progress(f"{count} datafiles, chunks of {chunk_size}; PACER on {pacer_url}, direct on {direct_url}")

        pacer_client, direct_client = prepare(pacer_url), prepare(direct_url)
        direct = time_direct(direct_client, message, chunk_size)
        single = time_one_by_one(direct_client, one_by_one)
        pacer = time_pacer(message, pacer_client, workdir)
        for client in (pacer_client, direct_client):
            client.logout()

    if pacer is None:
        return 1
    pacer_rate, direct_rate, single_rate = count / pacer, count / direct, one_by_one / single
    print()
    print(f"direct python-icat : {direct_rate:8.0f} datafiles/s  ({direct:.1f} s)")
    print(f"PACER              : {pacer_rate:8.0f} datafiles/s  ({pacer:.1f} s)")
    print(f"one by one         : {single_rate:8.0f} datafiles/s  "
          f"({one_by_one} files in {single:.1f} s, extrapolated)")
    print(f"PACER / direct     : {pacer_rate / direct_rate:8.2f}  (aim: >= 0.8)")
    print(f"PACER / one by one : {pacer_rate / single_rate:8.1f}  (aim: >= 10)")
    return 0


def dataset_message(count: int) -> dict[str, Any]:
    return {
        "instrument": "ID01",
        "proposal": "20261234",
        "visit": "1",
        "dataset": DATASET,
        "type": "raw",
        "location": f"/data/ID01/20261234/{DATASET}",
        "start_date": "2026-12-01T10:00:00+01:00",
        "end_date": "2026-12-01T10:20:00+01:00",
        "datafiles": [
            {"name": f"scan_{i:05d}.h5", "location": f"/data/ID01/20261234/{DATASET}/scan_{i:05d}.h5",
             "size": 1_048_576 + i, "checksum": "adler32:0a1b2c3d", "format": "HDF5",
             "created": "2026-12-01T10:00:05+01:00", "modified": "2026-12-01T10:19:58+01:00"}
            for i in range(count)
        ],
    }


def prepare(url: str):
    """A logged-in client to the testbox at ``url``, with the reference data and the visit."""
    import icat

    from pacer_celery.icat.session import service_url
    from pacer_celery.models.proposals import ProposalMessage
    from pacer_celery.tasks.proposals import upsert_investigation
    from pacer_celery.tasks.reference import load_reference, read_reference_file

    client = icat.Client(service_url(url))
    client.login("db", {"username": ACCOUNT[0], "password": ACCOUNT[1]})
    load_reference(client, read_reference_file(REFERENCE))
    upsert_investigation(ProposalMessage.model_validate(json.loads(PROPOSAL.read_text())), icat=client)
    return client


def datafiles_in_icat(client, dataset: str) -> int:
    (count,) = client.search(
        f"SELECT COUNT(df) FROM Datafile df JOIN df.dataset ds WHERE ds.name = '{dataset}'"
    )
    return int(count)


def wait_for_log(process: subprocess.Popen, logfile: Path, line: str, what: str) -> None:
    """Wait until ``process`` has written ``line`` to its log (a minute at most)."""
    deadline = time.monotonic() + 60
    while line not in logfile.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start; see its log:\n{logfile.read_text()[-3000:]}")
        time.sleep(0.2)


@contextmanager
def celery_worker(logfile: Path, concurrency: int = 1) -> Iterator[subprocess.Popen]:
    """``celery -A pacer_celery worker`` (prefork, ``concurrency`` children) in its own process,
    as run in production; yields the process once it is ready (its children log in to ICAT as
    they start)."""
    with open(logfile, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "pacer_celery", "worker", "--pool=prefork",
             f"--concurrency={concurrency}", "--loglevel=INFO", "--without-heartbeat", "--without-mingle",
             "--without-gossip", "-n", f"bench-{VHOST}@%h"],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        )
    try:
        wait_for_log(process, logfile, " ready.", "the Celery worker")
        yield process
    finally:
        process.terminate()
        process.wait(timeout=60)


def time_pacer(message: dict[str, Any], checker, workdir: Path) -> float | None:
    """Seconds from publishing the message until ICAT has the dataset with all its files
    counted (the chain's last ICAT change); None if that does not happen in time."""
    from pacer_celery.bridges import REGISTRY
    from pacer_celery.bridges.runner import BridgeRunner, connect
    from pacer_celery.producer import PacerProducer
    from pacer_celery.settings import get_settings

    settings = get_settings()
    count = len(message["datafiles"])
    # Generous, so that only a message that is stuck or dead-lettered ends the wait.
    deadline_seconds = 60 + count / 20
    logfile = workdir / "worker.log"
    with celery_worker(logfile), connect(settings) as connection:
        runner = BridgeRunner(connection, [bridge() for bridge in REGISTRY.values()], settings)
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        runner.ready.wait(30)
        started = time.perf_counter()
        with PacerProducer(settings, source="bench") as producer:
            producer.publish("dataset-ingestion", message)
        shown = started
        while (counted := dataset_file_count(checker, DATASET)) != count:
            elapsed = time.perf_counter() - started
            if elapsed > deadline_seconds:
                break
            if elapsed - (shown - started) >= 2:
                progress(f"  PACER: {datafiles_in_icat(checker, DATASET)} datafiles in ICAT after {elapsed:.0f} s")
                shown = time.perf_counter()
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
        runner.should_stop = True
        thread.join(timeout=10)
    if counted != count:
        print(f"PACER did not ingest the message in {deadline_seconds:.0f} s; worker log:\n"
              f"{logfile.read_text()[-3000:]}", file=sys.stderr)
        return None
    progress(f"  PACER: done, {count} datafiles in {elapsed:.1f} s")
    return elapsed


def dataset_file_count(client, dataset: str) -> int | None:
    """The dataset's fileCount, as PACER's last step sets it (None before that)."""
    rows = client.search(f"SELECT ds.fileCount FROM Dataset ds WHERE ds.name = '{dataset}'")
    return rows[0] if rows else None


def time_direct(client, message: dict[str, Any], chunk_size: int) -> float:
    """The same dataset by hand: the fewest python-icat calls that give the same ICAT content."""
    from datetime import datetime

    files = message["datafiles"]
    started = time.perf_counter()
    (investigation,) = client.search(
        "SELECT i FROM Investigation i JOIN i.facility f "
        f"WHERE f.name = 'PACER' AND i.name = '{message['proposal']}' AND i.visitId = '{message['visit']}'"
    )
    (dataset_type,) = client.search("SELECT t FROM DatasetType t WHERE t.name = 'raw'")
    (instrument,) = client.search(f"SELECT i FROM Instrument i WHERE i.name = '{message['instrument']}'")
    (file_format,) = client.search("SELECT f FROM DatafileFormat f WHERE f.name = 'HDF5'")
    dataset = client.new(
        "Dataset", investigation=investigation, type=dataset_type, name=message["dataset"],
        location=message["location"], complete=True,
        startDate=datetime.fromisoformat(message["start_date"]),
        endDate=datetime.fromisoformat(message["end_date"]),
        fileCount=len(files), fileSize=sum(f["size"] for f in files),
    )
    dataset.create()
    client.new("DatasetInstrument", dataset=dataset, instrument=instrument).create()
    # Related objects by id only, as a python-icat user who knows suds would write it.
    in_dataset = client.new("Dataset", id=dataset.id)
    in_format = client.new("DatafileFormat", id=file_format.id)
    for start in range(0, len(files), chunk_size):
        client.createMany([
            client.new(
                "Datafile", dataset=in_dataset, name=f["name"], location=f["location"],
                fileSize=f["size"], checksum=f["checksum"], datafileFormat=in_format,
                datafileCreateTime=datetime.fromisoformat(f["created"]),
                datafileModTime=datetime.fromisoformat(f["modified"]),
            )
            for f in files[start : start + chunk_size]
        ])
        done = min(start + chunk_size, len(files))
        progress(f"  direct: {done} datafiles after {time.perf_counter() - started:.0f} s")
    return time.perf_counter() - started


def time_one_by_one(client, count: int) -> float:
    """Seconds to create ``count`` datafiles with one ``create()`` call each."""
    (investigation,) = client.search("SELECT i FROM Investigation i WHERE i.name = '20261234'")
    (dataset_type,) = client.search("SELECT t FROM DatasetType t WHERE t.name = 'raw'")
    dataset = client.new("Dataset", investigation=investigation, type=dataset_type, name="one_by_one",
                         complete=True)
    dataset.create()
    in_dataset = client.new("Dataset", id=dataset.id)
    started = time.perf_counter()
    for i in range(count):
        client.new("Datafile", dataset=in_dataset, name=f"single_{i:05d}.h5",
                   location=f"/data/single_{i:05d}.h5", fileSize=1024 + i).create()
    elapsed = time.perf_counter() - started
    progress(f"  one by one: {count} datafiles in {elapsed:.1f} s")
    return elapsed


if __name__ == "__main__":
    main()
