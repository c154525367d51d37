"""A facility's own message type, loaded only through PACER_BRIDGE_MODULES: the module the
README prints under "Adding a new consumer", run exactly as printed, end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from pacer_celery import deadletters
from pacer_celery.bridges.runner import connect
from pacer_celery.journal import journal, search
from pacer_celery.settings import get_settings
from tests.flows.conftest import proposal_message
from tests.support.commands import ROOT, pacer, running, worker
from tests.support.waiting import wait_for


def readme_module() -> str:
    """The first Python block of the README's "Adding a new consumer" section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Adding a new consumer", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def facility(tmp_path_factory, icat_server, reference_data):
    """The environment every PACER process of the facility gets: its module on the path."""
    root = tmp_path_factory.mktemp("facility-site")
    package = root / "facility"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "samples.py").write_text(readme_module())
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), str(ROOT)]),
        "PACER_BRIDGE_MODULES": "facility.samples",
        # The suite's small limit is for the core's size tests.
        "PACER_MAX_MESSAGE_BYTES": str(16 * 1024 * 1024),
    }
    with running(pacer("bridge", "--no-sweep"), env, root / "bridge.log", "bridges consuming from"), \
            running(worker("facility"), env, root / "worker.log", "ready."):
        yield env, root


def publish(env, root, message_type: str, document: dict, name: str) -> str:
    path = root / f"{name}.json"
    path.write_text(json.dumps(document))
    result = subprocess.run(pacer("publish", "--type", message_type, str(path)), env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.rsplit("published as ", 1)[1].strip()


def fate(message_id: str) -> str:
    record = journal().load(message_id)
    return record.status if record else "not journaled"


def samples(checker, proposal: str) -> list[str]:
    return sorted(s.name for s in checker.search(
        f"SELECT s FROM Sample s WHERE s.investigation.name = '{proposal}'"))


def test_the_readme_module_registers_a_type_every_process_knows(facility, checker, uid):
    env, root = facility
    proposal = f"SMP{uid}"
    first = publish(env, root, "proposal-update", proposal_message(proposal), "proposal")
    wait_for(lambda: fate(first) == "done", timeout=60, what="the proposal")
    sample = publish(env, root, "sample-update", {"proposal": proposal, "name": "crystal A"}, "sample")
    wait_for(lambda: fate(sample) == "done", timeout=60, what="the sample message")
    assert samples(checker, proposal) == ["crystal A"]
    with journal().engine.connect() as connection:
        steps = search.timeline(connection, sample).steps
        assert [(s.step, s.status) for s in steps] == [("samples.register_sample", "ok")]
        found = search.search(connection, search.parse(f"sample=crystal type:sample-update proposal={proposal}"))
        assert found == []  # identifiers match whole values
        found = search.search(connection, search.parse(f"proposal={proposal} type:sample-update"))
        assert [row.message_id for row in found] == [sample]


def test_an_invalid_message_of_the_type_is_dead_lettered(facility, uid):
    env, root = facility
    bad = publish(env, root, "sample-update", {"proposal": f"SMP{uid}"}, "bad")
    wait_for(lambda: fate(bad) == "invalid", timeout=60, what="the invalid sample")
    with connect(get_settings()) as connection, deadletters.held(connection) as letters:
        (letter,) = [letter for letter, _ in letters if letter.message_id == bad]
    assert letter.message_type == "sample-update" and "name: Field required" in letter.reason


def test_a_failed_message_of_the_type_is_replayed_once_its_cause_is_fixed(facility, checker, uid):
    env, root = facility
    proposal = f"LATE{uid}"
    early = publish(env, root, "sample-update", {"proposal": proposal, "name": "s1"}, "early")
    wait_for(lambda: fate(early) == "dead-lettered", timeout=60, what="the sample without its visit")
    later = publish(env, root, "proposal-update", proposal_message(proposal), "later")
    wait_for(lambda: fate(later) == "done", timeout=60, what="the proposal")
    replay = subprocess.run(pacer("messages", "replay", early), env=env, capture_output=True, text=True, timeout=60)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert f"{early}  replayed" in replay.stdout
    wait_for(lambda: fate(early) == "done", timeout=60, what="the replayed sample")
    assert samples(checker, proposal) == ["s1"]
