"""A fault run: publish the load while the schedule breaks things, wait until every
message has met its fate, then check ICAT and ``pacer.dlq`` against the plan.

Shared by the CI test (``tests/faults/test_faults.py``) and the soak (``bench/faults.py``).
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from pacer_celery import topology
from pacer_celery.journal import FINAL
from pacer_celery.journal.database import engine_for
from pacer_celery.journal.schema import messages
from pacer_celery.journal.search import stats, timeline
from pacer_celery.settings import Settings
from tests.faults import checker
from tests.faults.checker import EXAMPLES
from tests.faults.schedule import Fault, Injected, Injector
from tests.faults.stack import Stack, Tuning, running_stack
from tests.faults.supervisor import Crash, Supervisor
from tests.support.load import Plan, Published, plan, publish

#: The queues that must be empty once everything settled (the DLQ keeps its letters).
WORK_QUEUES = ("pacer.users", "pacer.proposals", "pacer.datasets", "pacer.datafiles",
               topology.TASK_QUEUE, topology.REJECTED_TASK_QUEUE)
PROGRESS_SECONDS = 15.0
#: Journal timelines shown per kind of problem.
TIMELINES = 5


@dataclass
class Result:
    plan: Plan
    published: Published
    injected: list[Injected]
    findings: checker.Findings
    #: Services that died without being killed (restarted, as a supervisor would).
    crashes: list[Crash]
    #: When waiting ended: message id → its state, if not final ("not journaled" if not
    #: in the journal at all), and the work queues that still held messages.
    unsettled: dict[str, str]
    leftovers: dict[str, int]
    statuses: dict[str, dict[str, int]]
    settle_seconds: float
    check_seconds: float
    timelines: list[str] = field(default_factory=list)

    @property
    def figures(self) -> dict[str, int]:
        return {**self.findings.figures, "unsettled": len(self.unsettled) + sum(self.leftovers.values()),
                "crashes": len(self.crashes)}

    def summary(self) -> str:
        f = self.findings.figures
        counts = ", ".join(f"{kind} {n}" for kind, n in sorted(self.plan.counts().items()))
        notes = ", ".join(f"{note} {n}" for note, n in sorted(Counter(m.note for m in self.plan.messages if m.note).items()))
        lines = [
            f"faults: {len(self.plan.messages)} messages, lost={f['lost']} duplicated={f['duplicated']} "
            f"wrongly_dead_lettered={f['wrongly_dead_lettered']}",
            f"  also: wrong={f['wrong']} unsettled={len(self.unsettled)} left in queues={self.leftovers} "
            f"crashes={len(self.crashes)}; "
            f"{len(self.plan.invalid_ids)} invalid messages sent, {len(self.findings.letters)} dead letters",
            f"  messages: {counts}; {notes}",
            f"  objects checked: {', '.join(f'{k} {n}' for k, n in sorted(self.findings.checked.items()))}",
            f"  journal: {self.statuses}",
            f"  load: {self.published.count} published in {self.published.seconds:.0f}s "
            f"({self.published.count / max(self.published.seconds, 1e-9):.1f}/s), "
            f"{self.published.retries} publishes sent again; settled {self.settle_seconds:.0f}s after "
            f"the last publish; checked in {self.check_seconds:.0f}s",
            f"  faults injected: {len(self.injected)}",
            *(f"    {i.describe()}" for i in self.injected),
            *(f"  crash: {c.service} ({'hung' if c.exit_code is None else f'exit code {c.exit_code}'}) "
              f"at {c.at:.0f}s" for c in self.crashes),
        ]
        return "\n".join(lines)

    def details(self) -> str:
        """What a failed run shows: examples of each problem, and message timelines."""
        unsettled = [f"  {m}: {state}" for m, state in list(self.unsettled.items())[:EXAMPLES]]
        crashes = [c.describe() for c in self.crashes[:EXAMPLES]]
        return "\n".join([self.findings.examples(), f"unsettled: {len(self.unsettled)}", *unsettled,
                          f"crashes: {len(self.crashes)}", *crashes, *self.timelines])


def run(stack: Stack, load: Plan, faults: list[Fault], *, rate: float, settle_timeout: float) -> Result:
    started = time.monotonic()
    supervisor = Supervisor(stack.services)
    supervisor.start()
    injector = Injector(stack, faults, started)
    injector.start()
    try:
        published = publish(load.messages, producer_settings(stack), rate)
        # Faults due after the last publish still happen: the backlog is processed under them.
        injector.join()
        if injector.error is not None:
            raise injector.error
        unsettled, leftovers = settle(stack, load, settle_timeout)
    finally:
        injector.stopping.set()
        injector.join()
        supervisor.stop()
    settled = time.monotonic()
    client = stack.icat.client()
    try:
        findings = checker.check(client, load, checker.dead_letters(stack.node.url))
    finally:
        client.logout()
    with engine_for(stack.journal_url).connect() as connection:
        statuses = stats(connection)
    result = Result(load, published, injector.injected, findings, supervisor.crashes, unsettled, leftovers, statuses,
                    settled - started - published.seconds, time.monotonic() - settled)
    dead = sorted(load.valid_ids & {letter.message_id for letter in findings.letters})
    result.timelines = timelines(stack, [*list(unsettled)[:TIMELINES], *dead[:TIMELINES]])
    return result


def producer_settings(stack: Stack) -> Settings:
    """The load generator's settings: the private node, whatever this process's
    environment says (the test suite points it at the shared broker)."""
    return Settings(rmq_host="127.0.0.1", rmq_port=stack.node.port, rmq_virtual_host="/",
                    broker_url=None, producer_disabled=False)


def settle(stack: Stack, load: Plan, timeout: float) -> tuple[dict[str, str], dict[str, int]]:
    """Wait until every message is journaled in a final state and the work queues are
    empty; what is still not settled after ``timeout`` seconds (see Result)."""
    ids = {m.message_id for m in load.messages}
    deadline = time.monotonic() + timeout
    next_report = time.monotonic() + PROGRESS_SECONDS
    while True:
        with engine_for(stack.journal_url).connect() as connection:
            status = dict(connection.execute(select(messages.c.message_id, messages.c.status)).all())
        depths = {q: n for q, n in stack.node.queue_depths().items() if q in WORK_QUEUES and n}
        unsettled = {m: "not journaled" for m in sorted(ids - status.keys())}
        unsettled.update((m, s) for m, s in sorted(status.items()) if m in ids and s not in FINAL)
        if (not unsettled and not depths) or time.monotonic() > deadline:
            return unsettled, depths
        if time.monotonic() > next_report:
            next_report = time.monotonic() + PROGRESS_SECONDS
            print(f"settling: {len(unsettled)} messages not final, queues {depths}", flush=True)
        time.sleep(1)


def timelines(stack: Stack, message_ids: list[str]) -> list[str]:
    """Each message's journal record and steps, as an operator would read them."""
    shown = []
    with engine_for(stack.journal_url).connect() as connection:
        for message_id in message_ids:
            found = timeline(connection, message_id)
            if found is None:
                shown.append(f"timeline {message_id}: not in the journal")
                continue
            m = found.message
            shown.append(f"timeline {message_id} ({m['message_type']}, {m['status']}, dispatch {m['dispatch']}, "
                         f"redispatches {m['redispatches']}, deliveries {m['deliveries']}): {m['error'] or ''}")
            shown += [f"  {s.started_at:%H:%M:%S.%f} {s.step} d{s.dispatch} a{s.attempt} {s.status} "
                      f"losses={s.losses} {s.error or ''}" for s in found.steps]
            shown += [f"  {a.at:%H:%M:%S} {a.actor} {a.action} {a.detail or ''}" for a in found.actions]
    return shown


def fault_run(
    messages: int, faults: list[Fault], *, rate: float, settle_timeout: float, seed: int = 7, tuning: Tuning | None = None
) -> Result:
    """A whole run in a temporary directory removed at the end. The services' logs are
    printed when anything goes wrong, before they are removed with it."""
    with tempfile.TemporaryDirectory(prefix="pacer-faults-") as directory:
        with running_stack(Path(directory), tuning) as stack:
            try:
                result = run(stack, plan(messages, seed), faults, rate=rate, settle_timeout=settle_timeout)
            except BaseException:
                print(stack.logs(), flush=True)
                raise
            if any(result.figures.values()):
                print(stack.logs(), flush=True)
        return result
