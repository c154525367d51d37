"""PACER against a hand-written direct consumer, side by side on the same testbox (issue #14).

    python bench/speed.py [--messages 1000] [--rounds 3] [--mix dataset|proposal|both]
                          [--concurrency 2] [--latency-seconds 60] [--skip-latency] [--skip-scaling]

Every run gets a fresh stack (tests/faults/stack.py without its faults: a private
RabbitMQ node, an ICAT testbox on a file, a PostgreSQL journal), so every run starts from
the same empty ICAT with the same reference data. PACER is ``pacer bridge`` plus ``celery
-A pacer_celery worker -c CONCURRENCY``; the direct consumer is bench/direct.py with
CONCURRENCY processes (one per core), on a stack without PACER's processes.

The mixes, each of distinct, deterministic names (both systems write the same objects):

- ``dataset``, the issue's: per proposal-update nine dataset-ingestions into it, each with
  10 datafiles, 3 parameters and a sample (bench/messages.py);
- ``proposal``, proposal-heavy: a proposal-update then one dataset-ingestion into it,
  so half of the messages are proposal-updates (a team of two, one instrument).

1. Throughput: the whole mix is published while the consumers are stopped (PACER's bridge
   and worker, the direct processes), then they are started; from the moment they are
   ready until the last message is done (PACER: its journal's ``finished_at``; direct:
   its "done" lines) gives messages per second. Measured over the same span: the CPU of
   the consumers' own processes (PACER: bridge and worker trees; direct: its processes),
   of the testbox and of the broker, per message, and the ICAT requests per message (the
   testbox's ``/testbox/requests`` counter). PACER and direct alternate, round after
   round; the medians and the ratios PACER ÷ direct come at the end, and a check that
   every run of a mix left ICAT with the same contents (every entity PACER writes and
   the reference data, as sets of attribute tuples, ids and create/mod fields left out).
   Not counted: PostgreSQL's CPU (PACER's journal; its server processes are the
   machine's, not the stack's) and Redis' (PACER's result backend, barely used).
2. Latency: everything running, the dataset mix published at a steady 10 messages a
   second for --latency-seconds; publish → done, median and 95th percentile, each system.
   Then, on the same stack, the probe: a proposal-update, a first and a second
   dataset-ingestion into it, one at a time, each one's ICAT requests counted alone (the
   issue's "8 for the mix's dataset message"). --skip-latency skips both.
3. Scaling: PACER's throughput on the dataset mix with ``-c 1`` against ``-c 2``.

Needs ``rabbitmq-server`` (a private node is started), Redis and PostgreSQL, as the test
suite does. The default run takes about 25 minutes on two cores (longer while PACER is
slow: most of it is PACER's throughput runs); --messages 100 --rounds 1
--latency-seconds 20 checks it all in about 6.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402 - after the path is set

import direct  # noqa: E402
from messages import dataset  # noqa: E402
from pacer_celery.journal import FINAL  # noqa: E402
from pacer_celery.journal.database import engine_for  # noqa: E402
from pacer_celery.journal.schema import messages, steps  # noqa: E402
from pacer_celery.producer import PacerProducer  # noqa: E402
from pipeline import SETTLE_TIMEOUT, count_statuses, cpu_seconds, publish  # noqa: E402
from tests.faults.harness import producer_settings  # noqa: E402
from tests.faults.stack import Stack, Tuning, running_stack  # noqa: E402
from tests.flows.conftest import proposal_message  # noqa: E402
from tests.support.processes import Service  # noqa: E402

#: Production-like patience, as bench/pipeline.py has it: nothing is broken here, so
#: nothing should be swept or leased away.
TUNING = Tuning(step_lease_seconds=120, stalled_after_seconds=600, sweep_interval_seconds=30)
#: PACER's own settings for its stacks (--links).
PACER_ENV: dict[str, str] = {}
DIRECT = Path(__file__).with_name("direct.py")
LATENCY_RATE = 10.0
#: The probe's messages, one at a time: a proposal-update, the first dataset-ingestion
#: into it (it creates the sample) and a second one (the mix's usual dataset message).
PROBE = {
    "proposal-update": ("proposal-update", proposal_message("PROBE")),
    "first dataset-ingestion": ("dataset-ingestion", dataset("PROBE", "probe_0001")),
    "dataset-ingestion": ("dataset-ingestion", dataset("PROBE", "probe_0002")),
}
#: What the contents check dumps, in an order where every relation points backwards.
DUMPED = (
    "Facility", "Instrument", "InvestigationType", "DatasetType", "DatafileFormat", "ParameterType",
    "User", "Grouping", "UserGroup", "Rule", "PublicStep",
    "Investigation", "InvestigationInstrument", "InvestigationUser", "InvestigationGroup",
    "Sample", "Dataset", "DatasetInstrument", "Datafile", "DatasetParameter",
)
#: Set by ICAT, different in every run.
VOLATILE = {"id", "createId", "createTime", "modId", "modTime"}
Batch = list[tuple[str, dict]]
Contents = dict[str, frozenset[tuple]]


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# ====================================================================== the mixes


def mix(kind: str, size: int) -> Batch:
    """``size`` messages of the mix: a proposal-update every 10th (dataset) or every 2nd
    (proposal) message, the dataset-ingestions after it going into it."""
    every = 10 if kind == "dataset" else 2
    batch: Batch = []
    for i in range(size):
        proposal = f"S{i // every:05d}"
        if i % every == 0:
            batch.append(("proposal-update", proposal_message(proposal)))
        else:
            batch.append(("dataset-ingestion", dataset(proposal, f"scan_{i:05d}")))
    return batch


# ====================================================================== measuring


@dataclass(frozen=True)
class Reading:
    """The counters a run is measured by, at one moment."""

    at: float
    own_cpu: float
    icat_cpu: float
    broker_cpu: float
    requests: dict[str, int]


def made(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """ICAT requests by operation between two readings of the counter."""
    return {op: after[op] - before[op] for op in after}


def icat_requests(stack: Stack) -> dict[str, int]:
    """The testbox's count of the SOAP requests it handled, by operation."""
    with urllib.request.urlopen(f"{stack.icat.url}/testbox/requests", timeout=30) as answer:
        return json.load(answer)


def read(stack: Stack, own: Sequence[Service]) -> Reading:
    """The counters now; ``own``: the consumer's services (CPU of their process trees)."""
    return Reading(
        at=time.time(),
        own_cpu=sum(cpu_seconds(service) for service in own),
        icat_cpu=cpu_seconds(stack.icat.service),
        broker_cpu=cpu_seconds(stack.node.service),
        requests=icat_requests(stack),
    )


@dataclass
class Run:
    """One throughput run: its span, and what was spent over it."""

    system: str
    mix: str
    messages: int
    seconds: float
    own_cpu: float
    icat_cpu: float
    broker_cpu: float
    requests: dict[str, int]
    #: Tries put off for later (PACER: step attempts retried; direct: messages sent to wait),
    #: mostly datasets that came before their investigation was written.
    retries: int
    contents: Contents | None = None

    @classmethod
    def between(
        cls, system: str, kind: str, messages: int, start: Reading, end: Reading, last_done: float, retries: int
    ) -> Run:
        return cls(
            system, kind, messages, last_done - start.at,
            own_cpu=end.own_cpu - start.own_cpu,
            icat_cpu=end.icat_cpu - start.icat_cpu,
            broker_cpu=end.broker_cpu - start.broker_cpu,
            requests=made(start.requests, end.requests),
            retries=retries,
        )

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def per_message(self, seconds: float) -> float:
        """Milliseconds per message."""
        return 1000 * seconds / self.messages

    def requests_per_message(self, operation: str | None = None) -> float:
        total = self.requests[operation] if operation else sum(self.requests.values())
        return total / self.messages

    def line(self) -> str:
        writes = {op: n for op, n in sorted(self.requests.items()) if n and op != "search"}
        others = ", ".join(f"{op} {n / self.messages:.2f}" for op, n in writes.items())
        return (
            f"{self.messages} msgs in {self.seconds:6.1f} s = {self.rate:6.1f} msg/s; CPU ms/msg: "
            f"own {self.per_message(self.own_cpu):6.1f}, testbox {self.per_message(self.icat_cpu):5.1f}, "
            f"broker {self.per_message(self.broker_cpu):5.1f}; ICAT requests/msg "
            f"{self.requests_per_message():5.2f} (search {self.requests_per_message('search'):.2f}, {others}); "
            f"retries {self.retries}"
        )


@contextmanager
def fresh_stack(**kwargs: Any) -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="pacer-speed-") as directory, running_stack(
        Path(directory), TUNING, **kwargs
    ) as stack:
        yield stack


def pacer_throughput(kind: str, size: int, concurrency: int, *, dump: bool = True) -> Run:
    with fresh_stack(bridges=1, workers=1, concurrency=concurrency, **PACER_ENV) as stack:
        (bridge,), (worker,) = stack.bridges, stack.workers
        # Started once by the stack, so that the bridge has declared its queues.
        bridge.stop()
        worker.stop()
        ids = publish(stack, mix(kind, size))
        # The worker first: it has nothing to do until the bridge dispatches, and its
        # start (the longer one) is not PACER's throughput.
        worker.start()
        bridge.start()
        start = read(stack, [bridge, worker])
        settle(stack, ids)
        end = read(stack, [bridge, worker])
        run = Run.between("PACER", kind, len(ids), start, end, max(finished_at(stack, ids).values()),
                          retried_steps(stack, ids))
        run.contents = icat_contents(stack) if dump else None
        return run


def direct_throughput(kind: str, size: int, processes: int) -> Run:
    with fresh_stack(bridges=0, workers=0) as stack:
        direct.declare(producer_settings(stack))
        ids = publish(stack, mix(kind, size))
        with running_direct(stack, processes) as consumer:
            start = read(stack, [consumer])
            done = wait_done(consumer, ids)
            end = read(stack, [consumer])
        run = Run.between("direct", kind, len(ids), start, end, max(done.values()), len(events(consumer, "retry")))
        run.contents = icat_contents(stack)
        return run


@contextmanager
def running_direct(stack: Stack, processes: int) -> Iterator[Service]:
    consumer = Service(
        "direct", [sys.executable, str(DIRECT), "--processes", str(processes)], env=stack.env,
        cwd=stack.directory, log=stack.directory / "direct.log", ready=direct.READY, reaper=stack.reaper,
    )
    consumer.start()
    try:
        yield consumer
    finally:
        consumer.stop()


def settle(stack: Stack, ids: Sequence[str]) -> None:
    """Until PACER's journal has every message final; SystemExit unless all are done.

    It asks the journal about ``ids`` themselves (a thousand of them an IN list the
    database and SQLAlchemy spend milliseconds on) only once no message at all is left
    unfinished: a poll must not take CPU from the PACER it measures.
    """
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while unfinished(stack) or not _all_final(count_statuses(stack, ids), ids):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for every message to be final: {count_statuses(stack, ids)}")
        time.sleep(0.2)
    statuses = count_statuses(stack, ids)
    if statuses != {"done": len(ids)}:
        raise SystemExit(f"not every message was done: {statuses}\n{stack.logs()}")


def _all_final(statuses: dict[str, int], ids: Sequence[str]) -> bool:
    return sum(n for s, n in statuses.items() if s in FINAL) == len(ids)


def unfinished(stack: Stack) -> int:
    """Messages in the journal not yet final (any message: a cheap question)."""
    with engine_for(stack.journal_url).connect() as connection:
        return connection.execute(select(func.count()).where(messages.c.status.not_in(FINAL))).scalar_one()


def events(consumer: Service, kind: str) -> list[tuple[str, float]]:
    """(message id, unix time) of the direct consumer's output lines of one kind (done, retry, dead)."""
    found = []
    for line in consumer.log.read_text(errors="replace").splitlines():
        event, message_id, moment, *_ = (line.split(" ", 3) + ["", ""])[:4]
        if event == kind:
            found.append((message_id, float(moment)))
    return found


def wait_done(consumer: Service, ids: Sequence[str]) -> dict[str, float]:
    """Message id → when the direct consumer finished it, once it finished them all."""
    wanted = set(ids)
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        if dead := events(consumer, "dead"):
            raise SystemExit(f"the direct consumer gave up on {len(dead)} messages\n{consumer.tail()}")
        done = dict(events(consumer, "done"))
        if wanted <= done.keys():
            return {message_id: done[message_id] for message_id in ids}
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {len(wanted - done.keys())} messages not done\n{consumer.tail()}")
        time.sleep(0.2)


def retried_steps(stack: Stack, ids: Sequence[str]) -> int:
    """How many step attempts of these messages PACER's journal records as retried."""
    with engine_for(stack.journal_url).connect() as connection:
        return connection.execute(
            select(func.count()).where(steps.c.message_id.in_(ids), steps.c.status == "retrying")
        ).scalar_one()


def finished_at(stack: Stack, ids: Sequence[str]) -> dict[str, float]:
    """Message id → when PACER's journal says it finished (unix time)."""
    with engine_for(stack.journal_url).connect() as connection:
        rows = connection.execute(
            select(messages.c.message_id, messages.c.finished_at).where(messages.c.message_id.in_(ids))
        ).all()
    return {message_id: moment.timestamp() for message_id, moment in rows}


# ====================================================================== latency


def publish_steadily(stack: Stack, batch: Batch, rate: float) -> dict[str, float]:
    """Message id → when its publish began, ``rate`` messages a second."""
    sent = {}
    producer = PacerProducer(producer_settings(stack), source="bench")
    try:
        begin = time.monotonic()
        for i, (message_type, payload) in enumerate(batch):
            time.sleep(max(0.0, begin + i / rate - time.monotonic()))
            moment = time.time()
            sent[producer.publish(message_type, payload)] = moment
    finally:
        producer.close()
    return sent


@dataclass
class Steady:
    """What a system did with everything running: latencies, then the probe's requests."""

    latencies: list[float]
    #: PROBE label → ICAT requests by operation (those made only)
    requests: dict[str, dict[str, int]]
    contents: Contents


def pacer_steady(batch: Batch, concurrency: int) -> Steady:
    with fresh_stack(bridges=1, workers=1, concurrency=concurrency, **PACER_ENV) as stack:
        sent = publish_steadily(stack, batch, LATENCY_RATE)
        ids = list(sent)
        settle(stack, ids)
        finished = finished_at(stack, ids)
        requests = probe(stack, lambda message_id: settle(stack, [message_id]))
        return Steady([finished[i] - sent[i] for i in ids], requests, icat_contents(stack))


def direct_steady(batch: Batch, processes: int) -> Steady:
    with fresh_stack(bridges=0, workers=0) as stack:
        with running_direct(stack, processes) as consumer:
            sent = publish_steadily(stack, batch, LATENCY_RATE)
            done = wait_done(consumer, list(sent))
            requests = probe(stack, lambda message_id: wait_done(consumer, [message_id]))
        return Steady([done[i] - sent[i] for i in sent], requests, icat_contents(stack))


def probe(stack: Stack, finish: Callable[[str], object]) -> dict[str, dict[str, int]]:
    """Each PROBE message's own ICAT requests: published once the one before is done,
    after the steady run (so reference data is cached and sessions are open)."""
    found = {}
    producer = PacerProducer(producer_settings(stack), source="bench")
    try:
        for label, (message_type, payload) in PROBE.items():
            before = icat_requests(stack)
            finish(producer.publish(message_type, payload))
            found[label] = {op: n for op, n in made(before, icat_requests(stack)).items() if n}
    finally:
        producer.close()
    return found


def describe_requests(requests: dict[str, int]) -> str:
    return f"{sum(requests.values())} ({', '.join(f'{op} {n}' for op, n in sorted(requests.items()))})"


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# ====================================================================== ICAT contents


def icat_contents(stack: Stack) -> Contents:
    """Every DUMPED entity as a set of tuples of its attributes and its ONE relations,
    the related objects named by their uniqueness key (so ids never count).

    Selected as columns, not as objects: suds parses a row of values about three times
    faster than an object with the objects it includes, and a mix's ICAT holds thousands.
    """
    client = stack.icat.client()
    try:
        keys: dict[str, dict[int, tuple]] = {}
        contents: Contents = {}
        for entity in DUMPED:
            cls = client.getEntityClass(entity)
            attributes = sorted(cls.InstAttr - VOLATILE)
            targets = {f.name: f.type for f in client.getEntityInfo(entity).fields if f.relType == "ONE"}
            relations = sorted(targets)
            columns = ", ".join(["o.id", *(f"o.{a}" for a in attributes), *(f"r{i}.id" for i in range(len(relations)))])
            joins = "".join(f" LEFT JOIN o.{name} r{i}" for i, name in enumerate(relations))
            rows, keys[entity] = set(), {}
            for found in client.searchChunked(f"SELECT {columns} FROM {entity} o{joins} ORDER BY o.id", chunksize=5000):
                object_id, *values = found
                named = dict(zip(attributes, values[: len(attributes)], strict=True))
                for name, related in zip(relations, values[len(attributes) :], strict=True):
                    named[name] = None if related is None else keys[targets[name]][related]
                row = tuple(named[name] for name in sorted(named))
                rows.add(row)
                unique = [name for name in cls.Constraint if name != "id"]
                keys[entity][object_id] = tuple(named[name] for name in unique) if unique else row
            contents[entity] = frozenset(rows)
        return contents
    finally:
        client.logout()


def differences(expected: Contents, found: Contents, most: int = 3) -> list[str]:
    lines = []
    for entity in DUMPED:
        missing, extra = expected[entity] - found[entity], found[entity] - expected[entity]
        if missing or extra:
            lines.append(f"  {entity}: {len(missing)} missing, {len(extra)} extra "
                         f"(of {len(expected[entity])}); e.g. missing {sorted(missing, key=str)[:most]}, "
                         f"extra {sorted(extra, key=str)[:most]}")
    return lines


# ====================================================================== the report


def medians(runs: Sequence[Run]) -> dict[str, float]:
    """The summary's figures: medians over the runs, per message where it says so."""
    figures: dict[str, Callable[[Run], float]] = {
        "msg/s": lambda r: r.rate,
        "own CPU ms/msg": lambda r: r.per_message(r.own_cpu),
        "testbox CPU ms/msg": lambda r: r.per_message(r.icat_cpu),
        "broker CPU ms/msg": lambda r: r.per_message(r.broker_cpu),
        "ICAT requests/msg": Run.requests_per_message,
        "searches/msg": lambda r: r.requests_per_message("search"),
    }
    return {name: statistics.median(figure(run) for run in runs) for name, figure in figures.items()}


def summarize(runs: list[Run]) -> None:
    for kind in dict.fromkeys(run.mix for run in runs):
        found = {
            system: medians([r for r in runs if r.mix == kind and r.system == system]) for system in ("PACER", "direct")
        }
        log(f"{kind} mix, medians of {sum(1 for r in runs if r.mix == kind) // 2} runs each:")
        for system, figures in found.items():
            log(f"  {system:6}: " + ", ".join(f"{value:.2f} {name}" for name, value in figures.items()))
        ratios = {name: found["PACER"][name] / found["direct"][name] for name in found["PACER"]}
        log(f"  PACER ÷ direct: throughput {ratios['msg/s']:.2f} (aim >= 0.8); CPU per message: own "
            f"{ratios['own CPU ms/msg']:.2f}, testbox {ratios['testbox CPU ms/msg']:.2f}, broker "
            f"{ratios['broker CPU ms/msg']:.2f}; ICAT requests {ratios['ICAT requests/msg']:.2f}")


def check_contents(groups: dict[str, list[tuple[str, Contents]]]) -> bool:
    """Whether every run of each group left the same ICAT contents; prints the verdict."""
    equal = True
    for group, dumps in groups.items():
        (first_name, first), *others = dumps
        for name, found in others:
            lines = differences(first, found)
            if lines:
                equal = False
                log(f"ICAT contents differ, {group}: {first_name} against {name}:\n" + "\n".join(lines))
    sizes = {group: sum(len(rows) for rows in dumps[0][1].values()) for group, dumps in groups.items()}
    log(f"ICAT contents equal: {'yes' if equal else 'NO'} "
        f"({', '.join(f'{group}: {len(groups[group])} runs of {n} objects' for group, n in sizes.items())})")
    return equal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000, help="messages per throughput run (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="PACER/direct pairs per mix, alternated (default 3)")
    parser.add_argument("--mix", choices=("dataset", "proposal", "both"), default="both",
                        help="the mixes measured for throughput (default both)")
    parser.add_argument("--concurrency", type=int, default=2,
                        help="PACER's worker -c and the direct consumer's processes (default 2, one per core)")
    parser.add_argument("--latency-seconds", type=float, default=60,
                        help=f"how long the latency runs publish at {LATENCY_RATE:g} msg/s (default 60)")
    parser.add_argument("--skip-latency", action="store_true", help="no latency runs")
    parser.add_argument("--skip-scaling", action="store_true", help="no -c 1 run")
    parser.add_argument("--links", choices=("inline", "published"), default="inline",
                        help="PACER's workers run a chain's next link in the same task (PACER_INLINE_LINKS, "
                             "the default) or publish every link as a task message of its own")
    args = parser.parse_args()
    PACER_ENV["PACER_INLINE_LINKS"] = "true" if args.links == "inline" else "false"
    kinds = ("dataset", "proposal") if args.mix == "both" else (args.mix,)

    runs: list[Run] = []
    dumps: dict[str, list[tuple[str, Contents]]] = {}
    for round_ in range(1, args.rounds + 1):
        for kind in kinds:
            for system in ("PACER", "direct"):
                if system == "PACER":
                    run = pacer_throughput(kind, args.messages, args.concurrency)
                else:
                    run = direct_throughput(kind, args.messages, args.concurrency)
                runs.append(run)
                dumps.setdefault(f"{kind} mix", []).append((f"{system} round {round_}", run.contents))
                log(f"round {round_} {kind:8} {system:6}: {run.line()}")
    if runs:
        summarize(runs)

    if not args.skip_latency:
        batch = mix("dataset", round(args.latency_seconds * LATENCY_RATE))
        probed = {}
        for system, measure in (("PACER", pacer_steady), ("direct", direct_steady)):
            steady = measure(batch, args.concurrency)
            dumps.setdefault("latency", []).append((system, steady.contents))
            probed[system] = steady.requests
            latencies = steady.latencies
            log(f"latency {system:6} at {LATENCY_RATE:g} msg/s, {len(latencies)} msgs: median "
                f"{statistics.median(latencies):.3f} s, p95 {percentile(latencies, 0.95):.3f} s, "
                f"max {max(latencies):.3f} s (aim: under 2 s)")
            for label, requests in steady.requests.items():
                log(f"  ICAT requests of one {label}, alone: {describe_requests(requests)}")
        pacer, own = (sum(probed[system]["dataset-ingestion"].values()) for system in ("PACER", "direct"))
        log(f"ICAT requests of the mix's dataset message: PACER {pacer}, direct {own} (aim: PACER at most direct's)")

    if not args.skip_scaling:
        one = pacer_throughput("dataset", args.messages, 1, dump=False)
        log(f"scaling PACER -c 1 dataset: {one.line()}")
        two = [r for r in runs if r.system == "PACER" and r.mix == "dataset"] if args.concurrency == 2 else []
        if not two:
            two = [pacer_throughput("dataset", args.messages, 2, dump=False)]
            log(f"scaling PACER -c 2 dataset: {two[0].line()}")
        rate = statistics.median(run.rate for run in two)
        log(f"scaling PACER -c 1 → -c 2 (dataset mix): {one.rate:.1f} → {rate:.1f} msg/s, "
            f"ratio {rate / one.rate:.2f} (ideal 2.00)")

    if dumps and not check_contents(dumps):
        sys.exit(1)


if __name__ == "__main__":
    main()
