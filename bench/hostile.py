"""How much memory a bridge and a worker need for the hostile corpus (tests/hostile/corpus.py).

    python bench/hostile.py

A bridge (``python -m pacer_celery.cli bridge``) and a worker (``celery -A pacer_celery
worker``, prefork, WORKER_CHILDREN children) run as processes of their own against a throwaway RabbitMQ
virtual host and an ``icat-testbox icat`` process, with the tests' 64 KiB body limit and
reference data. The corpus goes as the pipeline test sends it: the valid cases in one burst,
the invalid ones one by one (a burst of invalid messages stalls today's bridge), without the
cases known bugs still break. It prints each process's resident memory after start and at
its peak (the kernel's ``VmHWM`` in /proc), and how many cases reached their outcome.

First it times validation alone (envelope and model, in this process) of the largest
messages a bridge must take or refuse: 10 000 datafiles, 1 000 parameters, and 100 000
parameters (refused at the list limit).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ingest import ACCOUNT, ROOT, VHOST, celery_worker, progress, rabbitmqctl, testbox, wait_for_log  # noqa: E402

REFERENCE = ROOT / "tests" / "flows" / "reference.yaml"
BODY_LIMIT = "65536"
WORKER_CHILDREN = 2
#: Seconds the valid cases may take, in all (a few hundred chains, some waiting on retries).
BURST_TIMEOUT = 1200


def memory(pid: int) -> dict[str, int]:
    """Resident memory now and at its peak (kibibytes), from /proc/<pid>/status."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


@contextmanager
def bridge(logfile: Path) -> Iterator[subprocess.Popen]:
    """``pacer bridge`` in its own process; yields it once it consumes."""
    with open(logfile, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "pacer_celery.cli", "bridge"], stdout=log,
                                   stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_for_log(process, logfile, "bridges consuming from", "the bridge")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            progress(f"the bridge did not stop on SIGTERM in 30 s; killed. Its log's end:\n"
                     f"{logfile.read_text()[-2000:]}")
            process.kill()
            process.wait()


def validation_times() -> None:
    import json

    from pacer_celery.envelope import Envelope
    from pacer_celery.errors import InvalidMessage
    from pacer_celery.models.datasets import DatasetMessage

    base = {"instrument": "ID01", "proposal": "1", "dataset": "d", "start_date": "2026-12-01T10:00:00Z"}
    messages = {
        "10 000 datafiles": {**base, "datafiles": [{"name": f"f{i:05d}.h5", "size": i, "location": f"/d/f{i}",
                                                     "created": "2026-12-01T10:00:05Z"} for i in range(10_000)]},
        "1 000 parameters": {**base, "parameters": [{"name": f"p{i}", "value": i} for i in range(1_000)]},
        "100 000 parameters": {**base, "parameters": [{"name": f"p{i}", "value": i} for i in range(100_000)]},
    }
    for label, document in messages.items():
        body = json.dumps(document)
        started = time.perf_counter()
        try:
            Envelope(message_type="dataset-ingestion", routing_key="", content_type="application/json",
                     body=body.encode()).parse(DatasetMessage)
            verdict = "valid"
        except InvalidMessage as exc:
            verdict = f"invalid ({str(exc)[:60]}...)"
        elapsed = time.perf_counter() - started
        print(f"validation, {label:18} ({len(body) / 1e6:4.1f} MB): {elapsed * 1000:7.1f} ms, {verdict}")


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    validation_times()
    rabbitmqctl("add_vhost", VHOST)
    rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    os.environ["PACER_RMQ_VIRTUAL_HOST"] = VHOST
    try:
        with tempfile.TemporaryDirectory(prefix="pacer-bench-") as workdir:
            sys.exit(run(Path(workdir)))
    finally:
        rabbitmqctl("delete_vhost", VHOST)


def run(workdir: Path) -> int:
    with testbox(workdir / "icat.sqlite") as url:
        os.environ.update({
            "ICAT_SERVER_URL": url, "ICAT_AUTH_PLUGIN": "db", "ICAT_AUTH_USERNAME": ACCOUNT[0],
            "ICAT_AUTH_PASSWORD": ACCOUNT[1], "PACER_ICAT_FACILITY": "PACER",
            "PACER_MAX_MESSAGE_BYTES": BODY_LIMIT, "PACER_MISSING_INVESTIGATION_TIMEOUT": "5",
            # As in the tests: a retried step waits fractions of a second, not minutes.
            "PACER_RETRY_BACKOFF_SECONDS": "0.2", "PACER_RETRY_BACKOFF_MAX_SECONDS": "1",
        })
        # Imported once the environment is set: settings are read once.
        import icat

        from pacer_celery.bridges.runner import connect
        from pacer_celery.icat import soap_text
        from pacer_celery.icat.session import service_url
        from pacer_celery.settings import get_settings
        from pacer_celery.tasks.reference import load_reference, read_reference_file
        from tests.hostile.corpus import build
        from tests.hostile.delivery import Outcomes, publish

        # The checker's queries name objects by the corpus' text: it must reach ICAT exactly.
        soap_text.install()
        checker = icat.Client(service_url(url))
        checker.login("db", {"username": ACCOUNT[0], "password": ACCOUNT[1]})
        load_reference(checker, read_reference_file(REFERENCE))
        corpus = build(VHOST.rsplit("-", 1)[-1])
        cases = [c for c in corpus.cases if not (c.known_bridge_issue or c.known_envelope_issue)]
        burst = [c for c in cases if not c.invalid]
        one_by_one = [c for c in cases if c.invalid]
        outcomes = Outcomes(corpus.run)
        with celery_worker(workdir / "worker.log", WORKER_CHILDREN) as worker, bridge(workdir / "bridge.log") as bridge_process, \
                connect(get_settings()) as connection:
            roles = {"bridge": bridge_process.pid, "worker": worker.pid}
            roles.update({f"worker child {i}": pid for i, pid in enumerate(children(worker.pid), 1)})
            at_start = {role: memory(pid)["VmRSS"] for role, pid in roles.items()}

            def send(batch):
                for case in batch:
                    publish(connection, get_settings(), corpus.run, case)

            started = time.perf_counter()
            send(corpus.setup())
            outcomes.wait(connection, checker, corpus.setup(), 30)
            progress(f"{len(burst)} valid cases in a burst, {len(one_by_one)} invalid ones one by one ...")
            send(burst)
            outcomes.wait(connection, checker, burst, BURST_TIMEOUT)
            progress(f"  burst settled after {time.perf_counter() - started:.0f} s")
            for case in one_by_one:
                send([case])
                outcomes.wait(connection, checker, [case], 20, poll=0.02)
            elapsed = time.perf_counter() - started
            peaks = {role: memory(pid)["VmHWM"] for role, pid in roles.items()}
        checker.logout()
    settled = sum(outcomes.settled(case) for case in cases)
    print()
    print(f"{settled} of {len(cases)} cases reached an outcome in {elapsed:.0f} s")
    for role in roles:
        print(f"{role:14}: {at_start[role] / 1024:6.1f} MiB after start, peak {peaks[role] / 1024:6.1f} MiB")
    return 0 if settled == len(cases) else 1


if __name__ == "__main__":
    main()
