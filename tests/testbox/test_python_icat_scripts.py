"""python-icat's own scripts against a testbox process: icatingest, icatdump, wipeicat.

The reference dumps are python-icat's example data for ICAT 6.2 (``doc/examples`` in the
python-icat 1.7.0 sdist, the ``python_icat_sdist`` fixture), or those in the directory
``PYTHON_ICAT_EXAMPLES`` names.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from testbox_support import ROOT, make_client

SCRIPTS = Path(sys.executable).parent


@pytest.fixture(scope="session")
def examples(tmp_path_factory, python_icat_sdist) -> Path:
    given = os.environ.get("PYTHON_ICAT_EXAMPLES")
    if given:
        return Path(given)
    target = tmp_path_factory.mktemp("python-icat-examples")
    with tarfile.open(python_icat_sdist) as tar:
        members = [m for m in tar.getmembers() if "/doc/examples/icatdump-6.2." in m.name]
        tar.extractall(target, members=members, filter="data")
    (found,) = {m.parent for m in target.rglob("icatdump-6.2.yaml")}
    return found


def _run(script: str, url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPTS / script), "-w", url + "/ICATService/ICAT?wsdl",
               "-a", "db", "-u", ROOT[0], "-p", ROOT[1], *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"{script} failed:\n{result.stderr}")
    return result


def _without_header(path: Path, fmt: str) -> str:
    text = path.read_text(encoding="utf-8")
    if fmt == "YAML":
        return "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    return re.sub(r"<head>.*?</head>", "", text, flags=re.DOTALL)


@pytest.mark.parametrize("fmt, suffix", [("YAML", "yaml"), ("XML", "xml")])
def test_ingest_then_dump_reproduces_the_reference(testbox_process, examples, tmp_path, fmt, suffix):
    reference = examples / f"icatdump-6.2.{suffix}"
    _run("icatingest.py", testbox_process.url, "-i", str(reference), "-f", fmt)
    dumped = tmp_path / f"dump.{suffix}"
    _run("icatdump.py", testbox_process.url, "-o", str(dumped), "-f", fmt)
    assert _without_header(dumped, fmt) == _without_header(reference, fmt)

    _run("wipeicat.py", testbox_process.url)
    empty = tmp_path / f"empty.{suffix}"
    _run("icatdump.py", testbox_process.url, "-o", str(empty), "-f", fmt)
    client = make_client(testbox_process.url)
    for name in client.getEntityNames():
        assert client.search(f"SELECT COUNT(o) FROM {name} o") == [0], name
    client.logout()


_SMALL = """\
%YAML 1.1
---
user:
  User_name-db=2Fjdoe:
    fullName: John Doe
    name: db/jdoe
facility:
  Facility_name-F:
    fullName: {fullName}
    name: F
instrument:
  Instrument_facility-(name-F)_name-I:
    facility: Facility_name-F
    fullName: Instrument I
    name: I
    startDate: '2020-01-02T03:04:05+00:00'
"""


def _small(tmp_path: Path, full_name: str) -> Path:
    path = tmp_path / f"small-{full_name.replace(' ', '_')}.yaml"
    path.write_text(_SMALL.format(fullName=full_name), encoding="utf-8")
    return path


def _facility_full_name(url: str) -> str:
    client = make_client(url)
    (name,) = client.search("SELECT f.fullName FROM Facility f WHERE f.name = 'F'")
    client.logout()
    return name


def test_duplicate_modes_behave_as_on_icat(testbox_process, tmp_path):
    url = testbox_process.url
    original, changed = _small(tmp_path, "Original"), _small(tmp_path, "Changed")
    _run("icatingest.py", url, "-i", str(original))

    throw = _run("icatingest.py", url, "-i", str(original), check=False)
    assert throw.returncode != 0 and "ICATObjectExistsError" in throw.stderr

    _run("icatingest.py", url, "-i", str(changed), "--duplicate", "IGNORE")
    assert _facility_full_name(url) == "Original"

    _run("icatingest.py", url, "-i", str(original), "--duplicate", "CHECK")
    check = _run("icatingest.py", url, "-i", str(changed), "--duplicate", "CHECK", check=False)
    assert check.returncode != 0 and "ICATObjectExistsError" in check.stderr

    _run("icatingest.py", url, "-i", str(changed), "--duplicate", "OVERWRITE")
    assert _facility_full_name(url) == "Changed"
