"""What operators do with the flows: find a message's tasks in Flower by the objects it
concerns, and replay a dead letter once its cause is fixed (converging, with no duplicate)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from icat.dump_queries import getAuthQueries, getInvestigationQueries, getStaticQueries
from icat.dumpfile import open_dumpfile
import icat.dumpfile_yaml  # noqa: F401 - registers the YAML format

from pacer_celery.cli import main
from pacer_celery.icat import session
from pacer_celery.tasks.reference import load_reference, read_reference_file
from tests.core.conftest import dead_letters, send, wait_for
from tests.core.test_broker_refuses import queued
from tests.flows.conftest import REFERENCE_FILE, dataset_message, proposal_message, user_message
from tests.support.flower import running_flower, search

USERS, PROPOSALS, DATASETS = "uos.users", "uos.proposals", "daq.datasets"
QUEUES = ("pacer.users", "pacer.proposals", "pacer.datasets", "pacer.datafiles", "pacer.tasks")


@pytest.fixture(scope="module")
def flower():
    with running_flower() as url:
        yield url


def test_flower_finds_each_flow_by_its_identifiers(flower, broker, checker, uid):
    send(broker, user_message(f"fl{uid}"), routing_key=USERS)
    send(broker, proposal_message(f"FL{uid}"), routing_key=PROPOSALS)
    send(broker, dataset_message(f"FL{uid}", dataset=f"ds{uid}"), routing_key=DATASETS)

    user_tasks = wait_for(lambda: search(flower, f"kwargs:user=fl{uid}"), what="user-update tasks")
    assert {t["name"] for t in user_tasks.values()} >= {"pacer.users.update_user"}

    names = {"pacer.proposals.upsert_investigation", "pacer.proposals.sync_instruments",
             "pacer.proposals.sync_team", "pacer.proposals.sync_access"}
    wait_for(lambda: {t["name"] for t in search(flower, f"kwargs:proposal=FL{uid}").values()} >= names,
             what="the proposal's four steps")

    # The dataset may wait for its proposal: its first step is then retried, and the retry
    # must stay findable too.
    names = {"pacer.datasets.create_dataset", "pacer.datasets.register_datafiles",
             "pacer.datasets.upsert_parameters", "pacer.datasets.finalize"}
    found = wait_for(
        lambda: (t := search(flower, f"kwargs:instrument=ID01 kwargs:dataset=ds{uid}"))
        and {x["name"] for x in t.values()} >= names and t,
        what="the dataset's steps",
    )
    for task in found.values():
        assert "envelope" not in task["kwargs"] and "datafiles" not in task["kwargs"]
    assert search(flower, f"kwargs:message_type=dataset-ingestion kwargs:dataset=ds{uid}")


def icat_dump(client, proposal: str, target: Path) -> str:
    """The proposal's objects, users, groupings and reference data, as python-icat's
    icatdump writes them (header aside): its own dump queries, limited to one investigation
    because the suite's ICAT also holds other tests' large datasets."""
    (investigation,) = client.search(f"SELECT i.id FROM Investigation i WHERE i.name = '{proposal}'")
    with open_dumpfile(client, str(target), "YAML", "w") as dump:
        dump.writedata(getAuthQueries(client))
        dump.writedata(getStaticQueries(client))
        dump.writedata(getInvestigationQueries(client, investigation), chunksize=5)
    return "\n".join(line for line in target.read_text().splitlines() if not line.startswith("#"))


def settled() -> bool:
    """Nothing left in PACER's queues, ready or in progress."""
    return all(queued(name) == 0 for name in QUEUES)


def test_replay_after_the_cause_is_fixed_converges(broker, checker, icat_server, uid, tmp_path, capsys):
    instrument = f"NEW{uid}"
    proposal = proposal_message(f"RP{uid}", instruments=[instrument])
    send(broker, proposal, routing_key=PROPOSALS)
    (letter,) = wait_for(lambda: dead_letters(broker, lambda x: f"RP{uid}".encode() in x.body),
                         what="the proposal dead-lettered")
    assert instrument in letter.reason and letter.failed_steps == ["proposals.upsert_investigation"]

    # The cause is fixed: the operator adds the instrument to the reference file and loads it.
    reference = yaml.safe_load(REFERENCE_FILE.read_text())
    reference["instruments"].append({"name": instrument, "full_name": "New beamline", "type": "beamline"})
    fixed = tmp_path / "reference.yaml"
    fixed.write_text(yaml.safe_dump(reference))
    load_reference(session.client(), read_reference_file(fixed))

    assert main(["dlq", "replay", letter.id]) == 0
    assert "replayed" in capsys.readouterr().out
    wait_for(lambda: checker.search(
        f"SELECT ii FROM InvestigationInstrument ii JOIN ii.investigation i JOIN ii.instrument n "
        f"WHERE i.name = 'RP{uid}' AND n.name = '{instrument}'"), what="the replayed proposal")
    send(broker, dataset_message(f"RP{uid}", instrument=instrument), routing_key=DATASETS)
    wait_for(lambda: checker.search(
        f"SELECT ds FROM Dataset ds JOIN ds.investigation i WHERE i.name = 'RP{uid}' AND ds.fileCount = 3"),
        what="the dataset")
    wait_for(settled, what="PACER's queues to empty")
    first = icat_dump(checker, f"RP{uid}", tmp_path / "first.yaml")

    # Everything again, as a redelivery or a second replay would: ICAT ends up the same.
    send(broker, proposal, routing_key=PROPOSALS)
    send(broker, dataset_message(f"RP{uid}", instrument=instrument), routing_key=DATASETS)
    wait_for(lambda: queued("pacer.proposals") + queued("pacer.datasets") == 0, what="dispatch")
    wait_for(settled, what="PACER's queues to empty")
    assert icat_dump(checker, f"RP{uid}", tmp_path / "second.yaml") == first
    assert dead_letters(broker, lambda x: f"RP{uid}".encode() in x.body) == []
