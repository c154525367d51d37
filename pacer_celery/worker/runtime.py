"""Running one link of a message's chain: the worker runtime.

For each link a worker receives, in this order:

1. read the message from the journal (the claim check; cached per process);
2. get the process's ICAT client if the step wants one: ICAT refusing PACER's own login
   puts the task back without counting an attempt (no message is burnt on it);
3. start the step in the journal, which checks that the link is still current (a newer
   dispatch makes it stale), claims the object the message updates (one step at a time
   per object; an older message than the newest one is superseded) and counts workers
   that died in this very attempt (a poison message is dead-lettered, not looped);
4. run the step, renewing the journal's lease while it runs;
5. classify a failure: transient ones are retried with backoff and jitter, permanent
   ones (and transient ones past the limit) dead-lettered, before the task is acked;
6. record the outcome, then hand the message to its next link or, at the end, record
   the message done. Whatever cannot be recorded or published puts the task back.

The next link runs straight away in the same task when this worker has its step
(``PACER_INLINE_LINKS``, the default): the task message of the first link stays unacked
until the last link run here has ended, so a worker dying anywhere in between gives the
whole run back to the broker, and the steps, idempotent, converge. Each link keeps its own
journal record and its own row in Flower (``worker.events``). A link that must wait (a
retry, a busy object) or whose step this worker lacks becomes a task message again,
published and confirmed before the task is acked.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, NoReturn

import icat.exception as icat_exc
from celery import Task, signature
from celery.canvas import Signature
from celery.exceptions import Reject, Retry
from celery.utils import uuid
from sqlalchemy.exc import SQLAlchemyError

from pacer_celery import deadletters
from pacer_celery.chains import Link
from pacer_celery.deadletters import DeadLetter, StepError
from pacer_celery.envelope import Envelope, Raw
from pacer_celery.errors import (
    ConfigurationError,
    DeadLettered,
    LoginRefused,
    TransientError,
    describe,
    is_transient,
)
from pacer_celery.icat import session
from pacer_celery.icat.errors import classify
from pacer_celery.journal import Journal, Record, StepAttempt, StepStart, journal
from pacer_celery.journal.sql import now
from pacer_celery.models.base import PacerModel
from pacer_celery.report import Report, failures, new_report, with_failure, with_success
from pacer_celery.settings import Settings, get_settings
from pacer_celery.worker.events import link_events

logger = logging.getLogger("pacer_celery.worker")

#: How long a step waits in the process for an object another task holds, before it
#: goes back to the queue for a while.
WAIT_FOR_OBJECT_SECONDS = 5.0
#: Pauses before a task is put back because the journal, the broker or ICAT's login
#: failed: they grow while the trouble lasts (per process).
PAUSES = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
#: Longest result text on the dashboard (the journal keeps the whole result).
MAX_SUMMARY_CHARS = 300


def run(step: Any, task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """Run ``step`` for the link ``task`` was given, then the links that follow it that
    this worker can run; the first link's one-line summary for Flower."""
    link = Link.from_kwargs(kwargs)
    report: Report = args[0] if args else new_report(link.message_id)
    settings = get_settings()
    try:
        first = _guarded(lambda: LinkRun(step, task, Place.of_task(task), link, report, settings), task, link)
        onward = first.onward
        while onward is not None:
            onward = _run_inline(task, onward, settings)
    finally:
        link_events.flush()
    return first.summary


@dataclass(frozen=True)
class Place:
    """Where in its chain a link runs: its task id, and the links after it (Celery's
    ``request.chain``: the next link last). ``this``: the link's own signature when it
    runs inside an earlier link's task, which a retry publishes."""

    task_id: str
    root_id: str
    following: tuple[dict[str, Any], ...]
    this: Signature | None = None

    @classmethod
    def of_task(cls, task: Task) -> Place:
        request = task.request
        return cls(request.id, request.root_id or request.id, tuple(request.chain or ()))

    @property
    def inline(self) -> bool:
        return self.this is not None


@dataclass(frozen=True)
class Onward:
    """The next link, to be run in this task."""

    step: Any
    place: Place
    link: Link
    report: Report
    #: The task id of the link before it.
    parent_id: str
    #: Its start, when the journal recorded it with the end of the link before it.
    start: StepStart | None = None


def _guarded(make: Callable[[], LinkRun], task: Task, link: Link) -> LinkRun:
    """The link run ``make`` makes, carried out; how its failures end the task."""
    try:
        run = make()
        run.run()
        return run
    except (Reject, Retry, DeadLettered, Republished):
        raise  # how a link ends: Celery's to carry out
    except SQLAlchemyError as exc:
        raise _requeue(f"{link.describe()}: journal unreachable ({_first_line(exc)})") from exc
    except Exception as exc:
        # A bug here, not in the step (the step's failures are classified): the task goes
        # back rather than being acked as failed, and the message waits for the fix.
        logger.exception("%s: the worker runtime failed", link.describe())
        raise _requeue(f"{link.describe()}: runtime error {type(exc).__name__}: {exc}") from exc
    finally:
        task.request.chain = None  # the runtime hands on every link itself


def _run_inline(task: Task, onward: Onward, settings: Settings) -> Onward | None:
    """Run the link ``onward`` in this task, with its own events for Flower; the link
    after it, if that one runs here too."""
    place, app, hostname = onward.place, task.app, task.request.hostname
    started = time.monotonic()
    link_events.received(
        app, hostname, place.task_id, name=onward.step.task.name, args=(onward.report,),
        kwargsrepr=repr(onward.link.dashboard()), root_id=place.root_id, parent_id=onward.parent_id,
    )
    try:
        run = _guarded(
            lambda: LinkRun(onward.step, task, place, onward.link, onward.report, settings, start=onward.start),
            task, onward.link,
        )
    except DeadLettered as exc:
        link_events.failed(app, hostname, place.task_id, exception=f"DeadLettered({str(exc)!r})")
        return None
    except Republished as exc:
        link_events.retried(app, hostname, place.task_id, exception=str(exc))
        return None
    link_events.succeeded(app, hostname, place.task_id, result=run.summary, started=started)
    return run.onward


class Republished(Exception):
    """A link run inside an earlier link's task was published as a task message of its
    own (to run later): the task that ran it ends well."""


class LinkRun:
    def __init__(
        self, step: Any, task: Task, place: Place, link: Link, report: Report, settings: Settings,
        *, start: StepStart | None = None,
    ) -> None:
        self.step = step
        self.start = start
        self.task = task
        self.place = place
        self.link = link
        self.report = report
        self.settings = settings
        self.label = link.describe()
        self.failing_since = link.failing_since
        self.lease = timedelta(seconds=settings.step_lease_seconds)
        self.journal: Journal = journal()
        self.record: Record = self._record()
        self.attempt = _attempt(self.record, step, link, place, task)
        #: What the link did, in a line; set when ``run`` returns.
        self.summary = ""
        #: The next link, when it is to run in this task too.
        self.onward: Onward | None = None

    def run(self) -> None:
        self.summary = self._run()

    def _run(self) -> str:
        try:
            client = self._client() if self.step.wants_client else None
        except TransientError as exc:  # ICAT unreachable: an attempt, retried as any other
            return self._failed(exc)
        start = self._begin()
        if start is None:
            return "stale: this link's dispatch is over"
        if start.verdict == "done":
            # Its task message came back after the step had ended well (its worker died
            # later: in a link run after it in the same task, or before the next link was
            # published): what was done stays done, and the chain goes on from there.
            logger.info("%s: %s already done in this dispatch; the chain goes on", self.label, self.step.name)
            self.report = with_success(self.report, self.step.name, start.result)
            self._next()
            return _summary(start.result)
        if start.verdict == "superseded":
            logger.info("%s: superseded by newer message %s; stops before %s", self.label, start.superseded_by, self.step.name)
            self._stop_chain()
            return f"superseded by {start.superseded_by}"
        if start.losses >= self.settings.max_worker_losses:
            error = f"killed its worker {start.losses} times (PACER_MAX_WORKER_LOSSES)"
            return self._failed_for_good(error, self.link.attempt)
        with _leases.held(self.journal, self.attempt, self.lease):
            try:
                result = self._call(client)
            except Exception as exc:  # noqa: BLE001 - every failure is classified below
                return self._failed(self._classified(exc, client))
        return self._succeeded(result)

    # -- before the step -----------------------------------------------------------------

    def _record(self) -> Record:
        record = _records.get(self.link.message_id)
        if record is None:
            record = self.journal.load(self.link.message_id)
            if record is None:
                logger.error("%s: not in the journal; rejected (it becomes a dead letter)", self.label)
                raise Reject(f"message {self.link.message_id} not in the journal", requeue=False)
            _records.put(self.link.message_id, record)
        return record

    def _client(self):
        try:
            client = session.client()
        except (LoginRefused, ConfigurationError) as exc:
            logger.error("%s: %s; not counted as an attempt, the task goes back to the queue", self.label, exc)
            raise _requeue(str(exc)) from exc
        _pauses.reset()
        return client

    def _begin(self):
        """The step's start in the journal; None for a stale link (the chain stops)."""
        waited = 0.0
        while True:
            start = self.start or self.journal.begin_step(self.attempt, self.lease, supersedable=self.link.supersedable)
            self.start = None
            if start.verdict == "missing":
                raise Reject(f"message {self.link.message_id} not in the journal", requeue=False)
            if start.verdict == "stale":
                logger.info("%s: link of an earlier dispatch, or the message met its fate; dropped", self.label)
                self._stop_chain()
                return None
            if start.verdict != "busy":
                return start
            if waited >= WAIT_FOR_OBJECT_SECONDS:
                logger.info("%s: object busy (held by task %s); %s waits its turn", self.label, start.holder, self.step.name)
                self._retry(random.uniform(0.5, 2.0), count=False)
            pause = random.uniform(0.05, 0.25)
            time.sleep(pause)
            waited += pause

    # -- the step ------------------------------------------------------------------------

    def _call(self, client) -> Any:
        message = _parsed(self.record, self.step.model)
        extra: dict[str, Any] = {}
        if self.step.wants_client:
            extra["client"] = client
        if self.step.wants_earlier:
            extra["earlier"] = {s["step"]: s.get("result") for s in self.report["steps"] if s["status"] == "ok"}
        return self.step.func(message, **self.link.params, **extra)

    def _classified(self, exc: Exception, client) -> Exception:
        if not self.step.wants_client:
            return exc
        if isinstance(exc, icat_exc.ICATSessionError):
            # Expired, or gone with an ICAT restart: the next attempt logs in again.
            session.discard(client)
        classified = classify(exc)
        return classified if isinstance(classified, Exception) else exc

    # -- after the step ------------------------------------------------------------------

    def _succeeded(self, result: Any) -> str:
        # What a step returns goes into the journal and the next link: plain JSON only.
        result = json.loads(json.dumps(result, default=str))
        self.report = with_success(self.report, self.step.name, result)
        last = not self.place.following
        if last and failures(self.report):
            return self._dead_letter_all(status="ok", result=result)
        if not last and self._hand_over(result):
            return _summary(result)
        self.journal.end_step(self.attempt, status="ok", result=result, outcome="done" if last else None)
        logger.info("%s: %s done%s", self.label, self.step.name, ", message done" if last else "")
        self._next()
        return _summary(result)

    def _hand_over(self, result: Any) -> bool:
        """When the next link runs here: this step's end and its start recorded at once."""
        onward = self._onward()
        if onward is None:
            return False
        following = _attempt(self.record, onward.step, onward.link, onward.place, self.task)
        start = self.journal.hand_over(self.attempt, result, following, self.lease)
        if start is None:
            return False
        logger.info("%s: %s done", self.label, self.step.name)
        self.onward = replace(onward, start=start)
        return True

    def _failed(self, exc: Exception) -> str:
        attempts = self.link.attempt
        if is_transient(exc):
            self.failing_since = self.link.failing_since or time.time()
            wait = retry_delay(exc, self.failing_since, attempts, self.settings)
            if wait is not None:
                logger.warning(
                    "%s: %s attempt %d failed (%s), retrying in %.1fs",
                    self.label, self.step.name, attempts, describe(exc), wait,
                )
                self.journal.end_step(
                    self.attempt, status="retrying", error=describe(exc), retry_at=now() + timedelta(seconds=wait)
                )
                self._retry(wait, count=True)
            error = f"gave up after {attempts} attempts: {describe(exc)}"
        else:
            error = describe(exc)
        return self._failed_for_good(error, attempts)

    def _failed_for_good(self, error: str, attempts: int) -> str:
        logger.error("%s: %s failed: %s", self.label, self.step.name, error)
        self.report = with_failure(self.report, self.step.name, error, attempts)
        if self.link.fail_fast or not self.place.following:
            return self._dead_letter_all(status="failed", error=error)
        self.journal.end_step(self.attempt, status="failed", error=error)
        self._next()
        return f"failed: {error}"

    def _dead_letter_all(self, *, status: str, result: Any = None, error: str | None = None) -> str:
        """Dead-letter the message with every failure of its report; ends the chain."""
        errors = tuple(StepError(f["step"], f["error"], f["attempts"]) for f in failures(self.report))
        letter = DeadLetter.of_record(self.record, errors)
        try:
            with self.task.app.producer_or_acquire() as producer:
                deadletters.publish(producer, letter)
        except Exception as exc:  # noqa: BLE001
            # Not in the dead letters, so the task message must not be acked: it comes back
            # and the step runs again (steps are idempotent).
            self.journal.release(self.attempt)
            raise _requeue(f"{self.label}: could not dead-letter ({exc})") from exc
        self.journal.end_step(
            self.attempt, status=status, result=result, error=error, outcome="dead-lettered",
            reason=letter.reason, dead_letter_id=letter.id,
        )
        logger.error("%s: dead letter %s: %s", self.label, letter.id, letter.reason)
        self._stop_chain()
        # from None: Flower's task page shows the reason, not a chain of tracebacks.
        raise DeadLettered(letter.reason) from None

    def _next(self) -> None:
        """Hand the message to its next link: to run in this task (``onward``) when this
        worker has its step, else published, confirmed, before this task is acked."""
        if not self.place.following:
            return
        self.onward = self._onward()
        if self.onward is None:
            *rest, following = self.place.following
            self._publish("next link", signature(following, app=self.task.app), args=(self.report,), chain=rest)

    def _onward(self) -> Onward | None:
        """The next link, if it is to run in this task."""
        if not (self.settings.inline_links and self.place.following):
            return None
        *rest, following = self.place.following
        following = signature(following, app=self.task.app)
        step = _local_step(self.task.app, following.task)
        if step is None:
            return None
        place = Place(uuid(), self.place.root_id, tuple(rest), this=following)
        return Onward(step, place, Link.from_kwargs(following.kwargs), self.report, self.place.task_id)

    def _publish(self, what: str, link: Signature, **options: Any) -> None:
        """Publish ``link`` as a task message, confirmed; else the task goes back."""
        try:
            with self.task.app.producer_or_acquire() as producer:
                link.apply_async(
                    producer=producer, retry=False, parent_id=self.place.task_id, root_id=self.place.root_id,
                    **options,
                )
        except Exception as exc:  # noqa: BLE001
            # The task goes back: a step recorded done does not run again, only this
            # publish does (a step recorded for a retry runs again, as it would have).
            raise _requeue(f"{self.label}: {what} not published ({exc})") from exc

    def _retry(self, countdown: float, *, count: bool) -> NoReturn:
        """Send this link again in ``countdown`` seconds (raises Celery's Retry, or
        Republished in an earlier link's task); ``count``: as the next attempt, or
        (waiting for a busy object) as the same one."""
        link = self.link.retried(self.failing_since) if count else self.link
        # The retry is a new task message: it keeps the dashboard's view of the kwargs
        # (ids, no payload), which Celery would otherwise rebuild from all kwargs.
        kwargsrepr = repr(link.dashboard())
        if self.place.inline:
            self._publish(
                "retry", self.place.this, args=(self.report,), kwargs=link.kwargs(), countdown=countdown,
                chain=list(self.place.following), task_id=self.place.task_id, kwargsrepr=kwargsrepr,
            )
            raise Republished(f"{self.step.name} runs again in {countdown:.1f}s")
        try:
            self.task.retry(
                args=(self.report,), kwargs=link.kwargs(), countdown=countdown, max_retries=None,
                kwargsrepr=kwargsrepr,
            )
        except Reject as exc:
            # Celery drops the task when the retry's own publish fails: put it back instead.
            raise _requeue(f"{self.label}: retry not published ({exc.reason})") from exc

    def _stop_chain(self) -> None:
        self.onward = None


def _attempt(record: Record, step: Any, link: Link, place: Place, task: Task) -> StepAttempt:
    """The journal's view of ``link`` run at ``place``; the object's lock is held in the
    name of the task message ``task`` is running (see StepAttempt)."""
    return StepAttempt(record, link.dispatch, step.name, link.attempt, place.task_id, holder=task.request.id)


def _local_step(app: Any, name: str) -> Any:
    """The step registered as the task ``name`` in this worker, if any."""
    return getattr(app.tasks.get(name), "pacer_step", None)


class Leases:
    """Renews the journal's hold on each running step's message (and its object's lock),
    so that a killed worker blocks its object for one lease at most.

    One thread per process renews every step that runs in it, each a third of its lease
    after its start or last renewal; a thread started and joined per step would cost
    more than the step's own journal writes.
    """

    def __init__(self) -> None:
        #: id(attempt) → [next renewal (monotonic), attempt, journal, lease]
        self._due: dict[int, list[Any]] = {}
        self._changed = threading.Condition()
        self._pid: int | None = None
        #: When the renewer, waiting, wakes up next (-inf while it is not waiting): a
        #: step due later needs no wake-up call, and most are (every lease is as long).
        self._wakes_at = float("-inf")

    @contextmanager
    def held(self, journal: Journal, attempt: StepAttempt, lease: timedelta) -> Iterator[None]:
        due = time.monotonic() + lease.total_seconds() / 3
        with self._changed:
            self._start()
            self._due[id(attempt)] = [due, attempt, journal, lease]
            if due < self._wakes_at:
                self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                self._due.pop(id(attempt), None)

    def _start(self) -> None:
        # Threads do not survive a fork: each pool process starts its own.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._wakes_at = float("-inf")
            threading.Thread(target=self._renew_forever, daemon=True, name="pacer-leases").start()

    def _renew_forever(self) -> None:
        while True:
            with self._changed:
                moment = time.monotonic()
                due = [entry[1:] for entry in self._due.values() if entry[0] <= moment]
                if not due:
                    self._wakes_at = min((entry[0] for entry in self._due.values()), default=moment + 60)
                    self._changed.wait(self._wakes_at - moment)
                    self._wakes_at = float("-inf")
                    continue
                for entry in self._due.values():
                    if entry[0] <= moment:
                        entry[0] = moment + entry[3].total_seconds() / 3
            for attempt, held_in, lease in due:
                try:
                    held_in.renew(attempt, lease)
                except SQLAlchemyError as exc:
                    logger.warning("message %s: lease not renewed (%s)", attempt.message_id, _first_line(exc))


_leases = Leases()


def retry_delay(exc: Exception, failing_since: float, attempts: int, settings: Settings) -> float | None:
    """Seconds until the next attempt (exponential, with jitter), or None to give up.

    A fault with its own patience (``give_up_after``) counts it from ``failing_since``, the
    step's first failure: time spent waiting in a backlog does not use it up."""
    give_up_after = getattr(exc, "give_up_after", None)
    delay = min(settings.retry_backoff_max_seconds, settings.retry_backoff_seconds * 2 ** (attempts - 1))
    # Jitter spreads retries of many messages hitting the same outage.
    delay *= random.uniform(0.5, 1.0)
    if give_up_after is None:
        return delay if attempts <= settings.max_retries else None
    remaining = give_up_after - (time.time() - failing_since)
    if remaining <= 0:
        return None
    return min(delay, remaining)


class _Pauses:
    """The growing pause before a task goes back to the queue (per process)."""

    def __init__(self) -> None:
        self.count = 0

    def next(self) -> float:
        pause = PAUSES[min(self.count, len(PAUSES) - 1)]
        self.count += 1
        return pause

    def reset(self) -> None:
        self.count = 0


_pauses = _Pauses()


def _requeue(reason: str) -> Reject:
    """Put the task message back, as it is, after a pause: nothing was wrong with it.

    (Celery's own Reject: a prefork pool sends it back to the main process pickled.)
    """
    pause = _pauses.next()
    logger.warning("%s; the task goes back to the queue in %.0fs", reason, pause)
    time.sleep(pause)
    return Reject(reason, requeue=True)


class _Cache:
    """A few recent items per process: the links of one chain usually run one after the
    other in the same process, and a dataset of 10 000 files need not be read and
    validated again at each step."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            return self.items.get(key)

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_records = _Cache(16)
_messages = _Cache(8)


def _parsed(record: Record, model: type[PacerModel]) -> PacerModel:
    """The record's message, validated by ``model`` (models are frozen: safe to share)."""
    key = (record.message_id, model)
    message = _messages.get(key)
    if message is None:
        raw = Raw(
            body=record.body,
            content_type=record.content_type,
            headers={},
            message_id=record.message_id,
            routing_key=record.routing_key or "",
        )
        message = Envelope.receive(raw, record.message_type, len(record.body) + 1).parse(model)
        _messages.put(key, message)
    return message


def _summary(result: Any) -> str:
    text = json.dumps(result, default=str, ensure_ascii=False)
    return text if len(text) <= MAX_SUMMARY_CHARS else text[: MAX_SUMMARY_CHARS - 3] + "..."


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
