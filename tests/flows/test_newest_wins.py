"""The newest fact wins: versions of the same users, proposals and datasets published back
to back, run by two workers of two processes each, one of them SIGKILLed mid-burst. ICAT
ends with the newest version of every object; every overtaken message is superseded (or had
finished before the newer one began); none is dead-lettered."""

from __future__ import annotations

import os
import signal
import time
from collections import defaultdict

import pytest

from pacer_celery.bridges import REGISTRY
from pacer_celery.bridges.runner import connect
from pacer_celery.journal import journal, search
from pacer_celery.settings import get_settings
from tests.core.conftest import send
from tests.flows.conftest import FLOW_TYPES, dataset_message, datafile, proposal_message, user_message
from tests.support.commands import Command, worker
from tests.support.pipeline import running_bridges
from tests.support.waiting import wait_for

USERS, PROPOSALS, DATASETS = 20, 20, 10
#: user-update versions in the order they are sent: the newest (10:00) is not the last.
USER_VERSIONS = ("10:00", "09:00", "09:30")
TEAMS = (("a", "b"), ("b", "c"), ("c", "d"))
FINAL = ("done", "superseded", "dead-lettered", "invalid")


@pytest.fixture
def workers(reference_data, tmp_path):
    """Two `celery worker -c 2`; a killed worker's locks lapse within 3 s."""
    env = {**os.environ, "PACER_STEP_LEASE_SECONDS": "3", "PACER_MAX_RETRIES": "8"}
    started = [Command(worker(f"order{i}", concurrency=2), env, tmp_path / f"worker{i}.log") for i in (1, 2)]
    for command in started:
        command.wait_for("ready.")
    yield started, env, tmp_path
    for command in started:
        command.stop()


@pytest.fixture
def broker_connection():
    with connect(get_settings()) as connection:
        yield connection


def published(connection, document: dict, routing_key: str) -> None:
    send(connection, document, routing_key=routing_key)


def test_each_object_ends_with_its_newest_version(workers, broker_connection, checker, uid):
    running, env, tmp_path = workers
    settings = get_settings().model_copy(update={"max_message_bytes": 16 * 1024 * 1024})
    with running_bridges([REGISTRY[kind]() for kind in FLOW_TYPES], settings):
        # The visits the datasets belong to, first.
        for d in range(DATASETS):
            published(broker_connection, proposal_message(f"NWD{uid}{d}"), "uos.proposals")
        wait_for(lambda: statuses(uid, "NWD") == {"done": DATASETS}, timeout=120, what="the datasets' visits")

        bursts = [*user_bursts(uid), *proposal_bursts(uid), *dataset_bursts(uid)]
        for number, burst in enumerate(interleaved(bursts)):
            published(broker_connection, *burst)
            if number == len(bursts) * 3 // 2:
                # One worker, main process and pool, dies in the middle of it all.
                os.killpg(running[0].process.pid, signal.SIGKILL)
                running[0].process.wait()
                running[0] = Command(worker("order1b", concurrency=2), env, tmp_path / "worker1b.log")
        total = USERS * 3 + PROPOSALS * 3 + DATASETS * 3
        wait_for(lambda: settled(uid) == total, timeout=300, what=f"all {total} versions settled")
        running[0].wait_for("ready.")

    assert_icat_holds_the_newest(checker, uid)
    assert_overtaken_ones_were_superseded(uid)


def user_bursts(uid: str):
    for u in range(USERS):
        yield [
            (user_message(f"nw{uid}u{u}", affiliation=f"v{at}", updated_at=f"2026-11-27T{at}:00+01:00"), "uos.users")
            for at in USER_VERSIONS
        ]


def proposal_bursts(uid: str):
    for p in range(PROPOSALS):
        proposal = f"NWP{uid}{p}"
        yield [
            (proposal_message(proposal, title=f"v{v + 1}", team=[
                {"username": f"nw{uid}{name}", "role": "co_investigator"} for name in team
            ]), "uos.proposals")
            for v, team in enumerate(TEAMS)
        ]


def dataset_bursts(uid: str):
    for d in range(DATASETS):
        yield [
            (dataset_message(f"NWD{uid}{d}", dataset="positions", description=f"v{v}",
                             datafiles=[datafile("scan.h5", size=v)]), "daq.datasets")
            for v in (1, 2, 3)
        ]


def interleaved(bursts):
    """Each object's versions back to back, objects of all types one after another."""
    return [message for burst in bursts for message in burst]


def object_searches(uid: str) -> list[str]:
    return [
        *(f"user=nw{uid}u{u}" for u in range(USERS)),
        *(f"proposal=NWP{uid}{p}" for p in range(PROPOSALS)),
        *(f"proposal=NWD{uid}{d} type:dataset-ingestion" for d in range(DATASETS)),
    ]


def versions_of(uid: str) -> dict[str, list[search.Row]]:
    """Each object's messages, by the search that finds them."""
    with journal().engine.connect() as connection:
        return {text: search.search(connection, search.parse(text)) for text in object_searches(uid)}


def statuses(uid: str, prefix: str) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    with journal().engine.connect() as connection:
        for d in range(DATASETS):
            for row in search.search(connection, search.parse(f"proposal={prefix}{uid}{d} type:proposal-update")):
                counts[row.status] += 1
    return dict(counts)


def settled(uid: str) -> int:
    time.sleep(1)  # one look a second: each look is fifty searches
    return sum(r.status in FINAL for rows in versions_of(uid).values() for r in rows)


def assert_icat_holds_the_newest(checker, uid: str) -> None:
    for u in range(USERS):
        (user,) = checker.search(f"SELECT u FROM User u WHERE u.name = 'uos/nw{uid}u{u}'")
        assert user.affiliation == "v10:00", user.name
    for p in range(PROPOSALS):
        (investigation,) = checker.search(
            f"SELECT i FROM Investigation i WHERE i.name = 'NWP{uid}{p}' INCLUDE i.investigationUsers AS iu, iu.user")
        assert investigation.title == "v3"
        assert sorted(iu.user.name for iu in investigation.investigationUsers) == [f"uos/nw{uid}c", f"uos/nw{uid}d"]
        members = checker.search(
            f"SELECT u.name FROM User u JOIN u.userGroups ug JOIN ug.grouping g "
            f"WHERE g.name = 'investigation_NWP{uid}{p}_1'")
        assert sorted(members) == [f"uos/nw{uid}c", f"uos/nw{uid}d"]
    for d in range(DATASETS):
        (dataset,) = checker.search(
            f"SELECT ds FROM Dataset ds WHERE ds.name = 'positions' AND ds.investigation.name = 'NWD{uid}{d}' "
            "INCLUDE ds.datafiles")
        assert dataset.description == "v3"
        assert [(df.name, df.fileSize) for df in dataset.datafiles] == [("scan.h5", 3)]
        assert dataset.fileSize == 3 and dataset.fileCount == 1


def assert_overtaken_ones_were_superseded(uid: str) -> None:
    by_object = versions_of(uid)
    superseded = 0
    with journal().engine.connect() as connection:
        for versions in by_object.values():
            assert len(versions) == 3
            assert not [r for r in versions if r.status in ("dead-lettered", "invalid")]
            timelines = {r.message_id: search.timeline(connection, r.message_id) for r in versions}
            newest = _newest(versions, timelines)
            newest_began = timelines[newest.message_id].steps[0].started_at
            assert newest.status == "done"
            for row in versions:
                if row is newest:
                    continue
                if row.status == "superseded":
                    superseded += 1
                    assert row.superseded_by
                else:  # done: then it had finished before the newest one began
                    assert row.status == "done" and row.finished_at <= newest_began, row
    print(f"newest wins: {len(by_object)} objects, {superseded} messages superseded")


def _newest(versions, timelines):
    if versions[0].message_type == "user-update":
        return max(versions, key=lambda r: timelines[r.message_id].message["version_at"])
    return max(versions, key=lambda r: r.seq)
