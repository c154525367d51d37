"""`pacer demo`: the README's first command, on embedded defaults only."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_processes_the_examples_and_reports_what_landed(tmp_path):
    # No broker, backend or ICAT settings from the test session may leak into the demo.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PACER_", "ICAT_"))}
    result = subprocess.run(
        [sys.executable, "-m", "pacer_celery.cli", "demo"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        stdin=subprocess.DEVNULL,  # not a terminal: the demo ends instead of serving its dashboard
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "[6/6]" in out
    for example in ("user.json", "proposal.json", "dataset.json", "dataset-legacy.xml", "datafiles.json"):
        assert f"{example}: landed in ICAT" in out
    assert "invalid-dataset.json: dead-lettered as invalid: invalid message: start_date" in out
    assert "user uos/jdoe: Jane Doe <jane.doe@example.org> orcid 0000-0002-1825-0097" in out
    assert "user uos/asmith: no profile yet" in out
    assert "investigation 20261234 visit 1 [experiment]: Strain in Ni thin films" in out
    assert "dataset sample1_0001 of 20261234 [raw]: 2 files, 3145728 bytes" in out
    assert "dataset sample1_0003 of 20261234 [raw]: 1 files, 1048576 bytes" in out
    assert "energy=8.5 keV" in out
    assert "Run `pacer demo` in a terminal and it leaves the dashboard open" in out
