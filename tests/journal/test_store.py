"""The journal on both of its databases: what bridges, workers, the sweeper and operators
write, and how it is searched. Each test gets a fresh database (PostgreSQL or SQLite)."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from pacer_celery.journal import Arrival, Journal, StepAttempt, StepStart
from pacer_celery.journal import database, migrate, search
from pacer_celery.journal.schema import messages
from pacer_celery.journal.store import _RUNS_ON
from tests.conftest import postgres

LEASE = timedelta(seconds=30)


def arrival(message_id: str | None = None, **fields) -> Arrival:
    values = {
        "message_id": message_id or str(uuid.uuid4()),
        "message_type": "user-update",
        "source": "tests",
        "routing_key": "uos.users",
        "content_type": "application/json",
        "headers": {"source": "tests", "raw": {"$bytes": "/w=="}},
        "body": b'{"username": "jdoe"}',
        "identifiers": {"user": "jdoe"},
        "object_key": "user:jdoe",
        **fields,
    }
    return Arrival(**values)


def run_of(journal: Journal, message_id: str, task: str = "t1", dispatch: int | None = None) -> StepAttempt:
    record = journal.load(message_id)
    return StepAttempt(record, dispatch or record.dispatch, "users.update_user", 1, task)


def started(journal: Journal, message_id: str, task: str = "t1"):
    return journal.begin_step(run_of(journal, message_id, task), LEASE, supersedable=True)


def test_schema_is_created_at_first_use_and_then_current(journal):
    assert migrate.current(journal.engine) == migrate.head()
    assert migrate.upgrade(journal.engine) == (migrate.head(), migrate.head())


def test_a_batch_is_journaled_with_hash_size_and_identifiers(journal):
    first, second = arrival(), arrival(identifiers={"user": "asmith"}, object_key="user:asmith")
    assert journal.record_arrivals([first, second]) == {first.message_id: 1, second.message_id: 1}
    record = journal.load(first.message_id)
    assert record.status == "received" and record.body == first.body and record.dispatch == 1
    assert record.headers == first.headers
    with journal.engine.connect() as connection:
        message = search.timeline(connection, first.message_id).message
    assert message["body_size"] == len(first.body)
    assert message["body_sha256"] == hashlib.sha256(first.body).hexdigest()
    assert message["identifiers"] == {"user": "jdoe"}


def test_a_message_received_again_is_not_dispatched_twice(journal):
    message = arrival()
    journal.record_arrivals([message])
    journal.mark_dispatched([message.message_id])
    # A bridge died after its chain was confirmed but before its ack: the input comes back.
    assert journal.record_arrivals([message]) == {message.message_id: None}
    unconfirmed = arrival()
    journal.record_arrivals([unconfirmed])
    # Never confirmed (the publish was refused): the redelivery is dispatched, anew.
    assert journal.record_arrivals([unconfirmed]) == {unconfirmed.message_id: 2}


def test_an_invalid_message_is_journaled_with_its_reason(journal):
    bad = arrival(body=b"{", identifiers={}, object_key=None, error="malformed JSON: ...", dead_letter_id="abc123")
    journal.record_arrivals([bad])
    with journal.engine.connect() as connection:
        (row,) = search.search(connection, search.parse("status:invalid"))
    assert row.message_id == bad.message_id and row.reason == "malformed JSON: ..."
    assert row.dead_letter_id == "abc123" and row.finished_at is not None


def test_a_step_holds_its_object_until_it_ends(journal):
    older, newer = arrival(), arrival()
    journal.record_arrivals([older, newer])
    assert started(journal, older.message_id, "t1").verdict == "run"
    busy = started(journal, newer.message_id, "t2")
    assert busy.verdict == "busy" and busy.holder == "t1"
    journal.end_step(run_of(journal, older.message_id, "t1"), status="ok", outcome="done")
    assert started(journal, newer.message_id, "t2").verdict == "run"


def test_a_dead_workers_lock_lapses_with_its_lease(journal):
    older, newer = arrival(), arrival()
    journal.record_arrivals([older, newer])
    journal.begin_step(run_of(journal, older.message_id, "dead"), timedelta(seconds=-1), supersedable=True)
    assert started(journal, newer.message_id, "t2").verdict == "run"


def test_an_older_message_is_superseded_by_one_that_started_writing(journal):
    older, newer = arrival(), arrival()
    journal.record_arrivals([older, newer])
    assert started(journal, newer.message_id, "t2").verdict == "run"
    journal.end_step(run_of(journal, newer.message_id, "t2"), status="ok", outcome="done")
    late = started(journal, older.message_id, "t1")
    assert late.verdict == "superseded" and late.superseded_by == newer.message_id
    with journal.engine.connect() as connection:
        message = search.timeline(connection, older.message_id).message
    assert message["status"] == "superseded" and message["superseded_by"] == newer.message_id


def test_a_message_that_only_adds_to_a_new_object_supersedes_nobody(journal):
    older, adding = arrival(), arrival()
    journal.record_arrivals([older, adding])
    # The first claim of the object inserts its row: without recording the adding message's version.
    assert journal.begin_step(run_of(journal, adding.message_id, "t2"), LEASE, supersedable=False).verdict == "run"
    journal.end_step(run_of(journal, adding.message_id, "t2"), status="ok", outcome="done")
    assert started(journal, older.message_id, "t1").verdict == "run"


def test_the_source_time_decides_before_the_order_received(journal):
    at = datetime(2026, 11, 27, 10, tzinfo=UTC)
    ten, nine = arrival(version_at=at), arrival(version_at=at - timedelta(hours=1))
    journal.record_arrivals([ten])
    journal.record_arrivals([nine])  # received later, but older
    assert started(journal, ten.message_id, "t1").verdict == "run"
    journal.end_step(run_of(journal, ten.message_id, "t1"), status="ok", outcome="done")
    assert started(journal, nine.message_id, "t2").verdict == "superseded"


def test_each_claim_of_a_known_object_records_its_version_unless_a_newer_one_began(journal):
    first, second, third, adding = arrival(), arrival(), arrival(), arrival()
    journal.record_arrivals([first])
    journal.record_arrivals([second])
    journal.record_arrivals([third])
    journal.record_arrivals([adding])
    for message, task in ((first, "t1"), (third, "t3")):
        assert started(journal, message.message_id, task).verdict == "run"
        journal.end_step(run_of(journal, message.message_id, task), status="ok", outcome="done")
    # One that only adds takes the lock without recording itself: the third stays the newest.
    assert journal.begin_step(run_of(journal, adding.message_id, "t4"), LEASE, supersedable=False).verdict == "run"
    journal.end_step(run_of(journal, adding.message_id, "t4"), status="ok", outcome="done")
    late = started(journal, second.message_id, "t2")
    assert late.verdict == "superseded" and late.superseded_by == third.message_id
    # Superseded, it let the object go: the next claimant finds it free.
    newest = arrival()
    journal.record_arrivals([newest])
    assert started(journal, newest.message_id, "t5").verdict == "run"


def test_restarting_a_running_attempt_counts_a_lost_worker(journal):
    message = arrival()
    journal.record_arrivals([message])
    assert started(journal, message.message_id, "t1").losses == 0
    journal.release(run_of(journal, message.message_id, "t1"))
    assert started(journal, message.message_id, "t1").losses == 1
    journal.release(run_of(journal, message.message_id, "t1"))
    assert started(journal, message.message_id, "t1").losses == 2


def test_links_of_an_earlier_dispatch_are_stale(journal):
    message = arrival()
    journal.record_arrivals([message])
    record = journal.load(message.message_id)
    assert journal.redispatch(record, replay=False) == 2
    assert journal.redispatch(record, replay=False) is None  # another sweeper was first
    stale = StepAttempt(record, 1, "users.update_user", 1, "t1")
    assert journal.begin_step(stale, LEASE, supersedable=True).verdict == "stale"


def next_step(attempt: StepAttempt, task: str) -> StepAttempt:
    return StepAttempt(attempt.record, attempt.dispatch, "users.notify", 1, task)


def test_a_hand_over_ends_a_step_and_starts_the_next_with_the_lock_kept(journal):
    message, rival = arrival(), arrival()
    journal.record_arrivals([message, rival])
    first = run_of(journal, message.message_id, "t1")
    assert journal.begin_step(first, LEASE, supersedable=True).verdict == "run"
    second = next_step(first, "t2")
    assert journal.hand_over(first, {"user": "jdoe"}, second, LEASE).verdict == "run"
    # The lock went from the one step to the other: the rival still waits, for t2 now.
    busy = started(journal, rival.message_id, "t3")
    assert busy.verdict == "busy" and busy.holder == "t2"
    with journal.engine.connect() as connection:
        timeline = search.timeline(connection, message.message_id)
    steps = [(s.step, s.status, s.task_id, s.result) for s in timeline.steps]
    assert steps == [("users.update_user", "ok", "t1", {"user": "jdoe"}), ("users.notify", "running", "t2", None)]
    assert timeline.message["status"] == "running"
    journal.end_step(second, status="ok", outcome="done")
    assert started(journal, rival.message_id, "t3").verdict != "busy"


def test_no_hand_over_from_a_step_whose_lock_lapsed(journal):
    message, rival = arrival(), arrival()
    journal.record_arrivals([message, rival])
    first = run_of(journal, message.message_id, "t1")
    journal.begin_step(first, timedelta(seconds=-1), supersedable=True)
    assert started(journal, rival.message_id, "t3").verdict == "run"  # took the lapsed lock
    assert journal.hand_over(first, None, next_step(first, "t2"), LEASE) is None
    with journal.engine.connect() as connection:
        timeline = search.timeline(connection, message.message_id)
    # Nothing recorded: the runtime ends the step and begins the next one as usual.
    assert [(s.step, s.status) for s in timeline.steps] == [("users.update_user", "running")]


def test_a_hand_over_in_a_message_replayed_meanwhile_is_stale(journal):
    message = arrival()
    journal.record_arrivals([message])
    first = run_of(journal, message.message_id, "t1")
    journal.begin_step(first, LEASE, supersedable=True)
    assert journal.redispatch(first.record, replay=True) == 2
    assert journal.hand_over(first, None, next_step(first, "t2"), LEASE).verdict == "stale"
    # The step's end is recorded, and the object is free for the new dispatch.
    fresh = StepAttempt(journal.load(message.message_id), 2, "users.update_user", 1, "t3")
    assert journal.begin_step(fresh, LEASE, supersedable=True).verdict == "run"


def test_a_hand_over_of_a_message_without_an_object(journal):
    message = arrival(object_key=None)
    journal.record_arrivals([message])
    first = run_of(journal, message.message_id, "t1")
    journal.begin_step(first, LEASE, supersedable=True)
    second = next_step(first, "t2")
    assert journal.hand_over(first, {"user": "jdoe"}, second, LEASE).verdict == "run"
    with journal.engine.connect() as connection:
        timeline = search.timeline(connection, message.message_id)
    assert [(s.step, s.status, s.result) for s in timeline.steps] == [
        ("users.update_user", "ok", {"user": "jdoe"}), ("users.notify", "running", None),
    ]


def handed_over_in_one_task(journal: Journal) -> tuple[StepAttempt, StepStart | None]:
    """A message's first step, begun and handed over to its second, both in task t1."""
    message = arrival()
    journal.record_arrivals([message])
    first = StepAttempt(journal.load(message.message_id), 1, "users.update_user", 1, "t1", holder="t1")
    journal.begin_step(first, LEASE, supersedable=True)
    second = StepAttempt(first.record, 1, "users.notify", 1, "t2", holder="t1")
    return first, journal.hand_over(first, None, second, LEASE)


def test_a_hand_over_to_a_step_whose_worker_died_counts_the_loss(journal):
    first, start = handed_over_in_one_task(journal)
    assert start.losses == 0
    # The worker died in the second step; the redelivered task runs both links again.
    again = StepAttempt(first.record, 1, "users.update_user", 1, "t3", holder="t1")
    journal.begin_step(again, LEASE, supersedable=True)  # done already: the runtime goes on
    assert journal.hand_over(again, None, StepAttempt(first.record, 1, "users.notify", 1, "t4", holder="t1"),
                             LEASE).losses == 1


def test_a_dead_lettered_end_records_the_fate_and_frees_the_object(journal):
    message, rival = arrival(), arrival()
    journal.record_arrivals([message, rival])
    first = run_of(journal, message.message_id, "t1")
    journal.begin_step(first, LEASE, supersedable=True)
    journal.end_step(first, status="failed", error="ICAT said no", outcome="dead-lettered",
                     reason="users.update_user: ICAT said no", dead_letter_id="d" * 32)
    with journal.engine.connect() as connection:
        timeline = search.timeline(connection, message.message_id)
    assert [(s.status, s.error) for s in timeline.steps] == [("failed", "ICAT said no")]
    assert timeline.message["status"] == "dead-lettered"
    assert timeline.message["error"] == "users.update_user: ICAT said no"
    assert timeline.message["dead_letter_id"] == "d" * 32
    assert started(journal, rival.message_id, "t2").verdict == "run"


def test_a_step_that_ended_well_is_not_started_again_in_its_dispatch(journal):
    message = arrival()
    journal.record_arrivals([message])
    first = run_of(journal, message.message_id, "t1")
    journal.begin_step(first, LEASE, supersedable=True)
    journal.hand_over(first, {"user": "jdoe"}, next_step(first, "t2"), LEASE)
    # Its task message came back (its worker died in the next step): done, with its result.
    again = journal.begin_step(run_of(journal, message.message_id, "t1"), LEASE, supersedable=True)
    assert again.verdict == "done" and again.result == {"user": "jdoe"}


def test_a_lock_held_for_a_task_message_is_taken_back_by_its_redelivery(journal):
    first, _ = handed_over_in_one_task(journal)
    # The worker died in the second step; the message of t1 comes back at once.
    redelivered = StepAttempt(first.record, 1, "users.notify", 1, "t3", holder="t1")
    start = journal.begin_step(redelivered, LEASE, supersedable=True)
    assert start.verdict == "run" and start.losses == 1  # the same attempt: its worker died


def test_stalled_messages_are_found_unless_a_worker_holds_them(journal):
    quiet, held = arrival(object_key=None), arrival(object_key=None)
    journal.record_arrivals([quiet, held])
    started(journal, held.message_id, "t1")
    stalled = {r.message_id for r in journal.stalled(timedelta(seconds=-1))}
    assert quiet.message_id in stalled and held.message_id not in stalled


def test_search_by_identifiers_words_type_status_and_time(journal):
    dataset = arrival(message_type="dataset-ingestion", identifiers={"instrument": "ID01", "dataset": "s'1", "proposal": "20261234"})
    other = arrival(message_type="dataset-ingestion", identifiers={"instrument": "ID02", "dataset": "s'1", "proposal": "7"})
    user = arrival()
    journal.record_arrivals([dataset, other, user])

    def ids(text: str) -> set[str]:
        with journal.engine.connect() as connection:
            return {row.message_id for row in search.search(connection, search.parse(text))}

    assert ids("instrument=ID01 dataset=s'1") == {dataset.message_id}
    assert ids("dataset=s'1") == {dataset.message_id, other.message_id}
    assert ids("20261234") == {dataset.message_id}
    assert ids("type:user-update") == {user.message_id}
    assert ids("status:received type:dataset-ingestion instrument=ID02") == {other.message_id}
    assert ids("since:1h") >= {dataset.message_id, other.message_id, user.message_id}
    assert ids("until:2000-01-01") == set()
    assert ids('"; DROP TABLE messages; --') == set()
    with pytest.raises(search.SearchError, match="unknown status"):
        search.parse("status:lost")


def test_pages_are_newest_first_by_keyset(journal):
    batch = [arrival(identifiers={"run": "paging"}, object_key=None) for _ in range(7)]
    journal.record_arrivals(batch)
    with journal.engine.connect() as connection:
        criteria = search.parse("run=paging")
        first = search.search(connection, criteria, limit=3)
        second = search.search(connection, criteria, limit=3, before=first[-1].seq)
        rest = search.search(connection, criteria, limit=3, before=second[-1].seq)
        assert search.count(connection, criteria) == 7
    seen = [r.message_id for r in [*first, *second, *rest]]
    assert seen == [a.message_id for a in reversed(batch)]


def test_stats_count_per_type_and_status(journal):
    journal.record_arrivals([arrival(object_key=None), arrival(object_key=None, error="bad", dead_letter_id="x")])
    with journal.engine.connect() as connection:
        counts = search.stats(connection, datetime.now(UTC) - timedelta(hours=1))
    assert counts["user-update"] == {"received": 1, "invalid": 1}


def test_prune_deletes_old_messages_and_their_steps_in_batches(journal):
    old = [arrival(object_key=None) for _ in range(5)]
    journal.record_arrivals(old)
    started(journal, old[0].message_id)
    cutoff = datetime.now(UTC) + timedelta(seconds=1)
    assert journal.count_before(cutoff) >= 5
    deleted = 0
    while count := journal.prune(cutoff, batch=2):
        assert count <= 2
        deleted += count
    assert deleted >= 5 and journal.load(old[0].message_id) is None


def test_hostile_text_never_keeps_a_message_out_of_the_journal(journal):
    nasty = "nul\x00 and a lone \ud800 surrogate"
    message = arrival(identifiers={"user": nasty}, source=nasty, error=f"bad: {nasty}", dead_letter_id="x")
    journal.record_arrivals([message])
    with journal.engine.connect() as connection:
        (row,) = search.search(connection, search.parse("status:invalid"))
    assert row.message_id == message.message_id
    assert row.identifiers == {"user": "nul\ufffd and a lone ? surrogate"}
    assert row.error == "bad: nul\ufffd and a lone ? surrogate"


@pytest.mark.parametrize("journal_url", ["postgresql"], indirect=True)
def test_pooled_connections_killed_by_the_database_are_replaced_unnoticed(journal, journal_url, monkeypatch):
    """As after a PostgreSQL restart: the pool's idle connections are dead. A connection
    idle for a while is checked before use, so the next write neither fails nor waits."""
    first, second = arrival(), arrival()
    journal.record_arrivals([first])
    name = journal_url.rsplit("/", 1)[1]
    with postgres() as connection:
        killed = connection.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchone()[0]
    assert killed >= 1
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
    journal.record_arrivals([second])
    assert journal.load(second.message_id) is not None


def test_a_running_step_keeps_its_object_past_its_first_lease(journal):
    """The worker's lease renewer (one thread per process) extends a running step's hold:
    another task cannot take the object while the step runs, and can once it ended."""
    from pacer_celery.worker.runtime import Leases

    lease = timedelta(seconds=1.0)
    message, rival = arrival(), arrival()
    journal.record_arrivals([message, rival])
    attempt = run_of(journal, message.message_id, "t1")
    assert journal.begin_step(attempt, lease, supersedable=True).verdict == "run"
    leases = Leases()
    with leases.held(journal, run_of(journal, message.message_id, "t0"), timedelta(minutes=10)):
        time.sleep(0.2)  # the renewer now waits for minutes: the shorter lease must wake it
    with leases.held(journal, attempt, lease):
        time.sleep(3.5)  # more than three leases
        assert journal.begin_step(run_of(journal, rival.message_id, "t2"), lease, supersedable=True).verdict == "busy"
    time.sleep(1.5)  # its last renewal runs out
    assert journal.begin_step(run_of(journal, rival.message_id, "t2"), lease, supersedable=True).verdict != "busy"


@pytest.mark.parametrize("journal_url", ["postgresql"], indirect=True)  # plan caching is PostgreSQL's
def test_a_bridges_batches_are_never_run_on_a_plan_made_for_an_empty_journal(journal):
    """A bridge's batch statements look their rows up by a list of ids. Once psycopg has
    prepared them, PostgreSQL would switch to one generic plan, made while the journal
    was nearly empty (a sequential scan over ``messages``) and kept as it grows; each
    run is planned for its own values instead."""
    for _ in range(20):  # psycopg prepares a statement from its fifth run on
        arrivals = [arrival() for _ in range(50)]
        journal.record_arrivals(arrivals)
        journal.mark_dispatched([a.message_id for a in arrivals])
    # The journal's one pooled connection: the session its statements were prepared in.
    with journal.engine.connect() as connection:
        plans = connection.exec_driver_sql(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE 'SELECT messages.message_id%%' OR statement LIKE 'UPDATE messages SET%%'"
        ).all()
    assert len(plans) == 2 and all(generic == 0 and custom > 0 for generic, custom in plans), plans


def test_a_hand_over_changes_no_indexed_column_so_postgresql_updates_the_row_in_place(journal):
    """At each link the message row is updated; an update that changes no indexed column
    is a HOT update in PostgreSQL (no new entry in each of the table's indexes). The
    hand-over's status is the "running" it finds, so only its other columns count."""
    sql = str(_RUNS_ON.compile(dialect=postgresql.dialect()))
    written = set(re.findall(r"(?:SET |, )(\w+)=", sql))
    indexed = {c.name for index in messages.indexes for c in index.columns} | {
        c.name for c in messages.primary_key
    } | {c.name for c in messages.columns if c.unique}
    assert "held_until" in written and "status" in written, sql
    assert written & indexed == {"status"}, sql

    first, _ = handed_over_in_one_task(journal)
    with journal.engine.connect() as connection:
        (began,) = connection.execute(
            select(messages.c.activity_at).where(messages.c.message_id == first.message_id)
        ).one()
    second = StepAttempt(first.record, 1, "users.notify", 1, "t2", holder="t1")
    third = StepAttempt(first.record, 1, "users.audit", 1, "t3", holder="t1")
    assert journal.hand_over(second, None, third, LEASE).verdict == "run"
    with journal.engine.connect() as connection:
        row = connection.execute(
            select(messages.c.activity_at, messages.c.held_until, messages.c.status)
            .where(messages.c.message_id == first.message_id)
        ).one()
    # The sweeper's clock stays at the first link's start; the lease says it is in hand.
    assert row.activity_at == began and row.held_until > began and row.status == "running"
    assert journal.stalled(timedelta(0)) == []


def disk_flushes(journal: Journal) -> int:
    """How often PostgreSQL has flushed its WAL to disk so far (``pg_stat_wal``), once the
    journal's connections have reported their counts."""
    for engine in (journal.engine, journal.autocommit, journal.progress):
        with engine.connect() as connection:  # the pool's one connection, as the test runs alone
            connection.exec_driver_sql("SELECT pg_stat_force_next_flush()")
    with postgres() as connection:
        return connection.execute("SELECT wal_sync FROM pg_stat_wal").fetchone()[0]


@pytest.mark.parametrize("journal_url", ["postgresql"], indirect=True)  # SQLite has one kind of commit
def test_a_workers_progress_does_not_wait_for_the_disk_a_fate_and_an_arrival_do(journal):
    """A commit that waits for the disk flushes the WAL itself: one flush per commit when
    they come one after the other. Commits that do not wait leave it to the WAL writer,
    which flushes at most five times a second."""
    count = 20
    arrivals = [arrival(object_key=f"user:{n}") for n in range(count)]
    before = disk_flushes(journal)
    for one in arrivals:
        journal.record_arrivals([one])
    journaled = disk_flushes(journal)
    ends = []
    for one in arrivals:
        first = run_of(journal, one.message_id, "t1")
        second = next_step(first, "t2")
        assert journal.begin_step(first, LEASE, supersedable=True).verdict == "run"
        assert journal.hand_over(first, None, second, LEASE).verdict == "run"
        ends.append(second)
    progressed = disk_flushes(journal)
    for second in ends:
        journal.end_step(second, status="ok", outcome="done")
    fated = disk_flushes(journal)

    assert journaled - before >= count
    assert progressed - journaled < count, "begin_step and hand_over waited for the disk"
    assert fated - progressed >= count
    with journal.engine.connect() as connection:
        assert {search.timeline(connection, a.message_id).message["status"] for a in arrivals} == {"done"}


@pytest.mark.parametrize("journal_url", ["postgresql"], indirect=True)
def test_a_message_superseded_as_its_step_begins_has_its_fate_wait_for_the_disk(journal):
    older, newer = arrival(object_key="user:ann"), arrival(object_key="user:ann")
    journal.record_arrivals([older, newer])
    assert started(journal, newer.message_id, "t1").verdict == "run"
    journal.end_step(run_of(journal, newer.message_id, "t1"), status="ok", outcome="done")
    before = disk_flushes(journal)
    assert started(journal, older.message_id, "t2").verdict == "superseded"
    assert disk_flushes(journal) - before >= 1
