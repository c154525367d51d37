"""python-icat 1.7.0's own test suite against an ICAT testbox: how much of it passes.

    python bench/python_icat_suite.py [--sdist FILE] [--keep DIR] [-k EXPR] [pytest args...]

python-icat's tests (in its sdist, not in the wheel) run against a real ICAT configured in
``tests/data/icat.cfg``: a root user ``simple/root``, the system users ``simple/useroffice``,
``simple/idsreader``, ``simple/dataingest`` (section ``ingest``) and ``simple/pubreader``,
and the example users ``db/acord``, ``ahau``, ``jbotu``, ``jdoe``, ``nbour``, ``rbeck``.
This script prepares the sdist as python-icat's ``setup.py build_test`` does (example
scripts to ``tests/scripts``, example data to ``tests/data``), starts ``icat-testbox icat``
with exactly those accounts, writes the configuration (no ``idsurl``: the testbox has no
IDS, so the tests that need one skip) and runs pytest on the tests. The suite's own
fixtures wipe the ICAT and ingest python-icat's reference dump, rules included, so the
non-root users see what the rules grant them, as on a real ICAT.

It prints pytest's summary and, last, one line ``P passed, F failed, S skipped`` (errors
count as failed; ``E errors`` is added when there were any) and how many skips were for
want of an IDS. ``-k EXPR`` and further pytest arguments select a subset; the exit status
is 0 when nothing failed. The sdist comes from ``--sdist``, ``$PYTHON_ICAT_SDIST``, or
``pip download`` (the package index the environment is configured for).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SDIST = "python-icat==1.7.0"
PASSWORD = "secret"
ROOT = "simple/root"
#: config section -> ICAT account, as python-icat's tests expect them
ACCOUNTS = {
    "root": ROOT,
    "useroffice": "simple/useroffice",
    "idsreader": "simple/idsreader",
    "ingest": "simple/dataingest",
    "pubreader": "simple/pubreader",
    **{name: f"db/{name}" for name in ("acord", "ahau", "jbotu", "jdoe", "nbour", "rbeck")},
}
#: what python-icat's build_test copies from doc/examples and etc into tests/data
_DATA_FILES = ("example_data.yaml", "ingest-datafiles.xml", "ingest-ds-params.xml", "ingest-sample-ds.xml")
_ETC_FILES = ("ingest-10.xsd", "ingest-11.xsd", "ingest.xslt")
#: The time zone of the server python-icat's reference data were made on: the example data's
#: dates without an offset are read in the server's zone (e.g. 2007-01-01 is 2006-12-31T23:00Z).
TIMEZONE = "Europe/Berlin"
_SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected)")
_IDS_SKIP = re.compile(r"^SKIPPED \[(\d+)\].*(idsurl|IDS|ids\.server|ids server)", re.IGNORECASE)


@dataclass
class Outcome:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    skipped_for_ids: int = 0

    def line(self) -> str:
        text = f"{self.passed} passed, {self.failed + self.errors} failed, {self.skipped} skipped"
        if self.errors:
            text += f" ({self.errors} errors)"
        return text


def fetch_sdist(destination: Path) -> Path:
    """The sdist: ``$PYTHON_ICAT_SDIST`` if set, else downloaded into ``destination``."""
    given = os.environ.get("PYTHON_ICAT_SDIST")
    if given:
        return Path(given)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
         "--dest", str(destination), SDIST],
        check=True, capture_output=True, timeout=300,
    )
    (archive,) = destination.glob("python*icat-1.7.0.tar.gz")
    return archive


def prepare_tests(sdist: Path, workdir: Path) -> Path:
    """Unpack the sdist and lay out its tests as ``setup.py build_test`` does; return the tree."""
    with tarfile.open(sdist) as tar:
        tar.extractall(workdir, filter="data")
    (tree,) = [p for p in workdir.iterdir() if p.is_dir() and (p / "tests" / "conftest.py").is_file()]
    scripts = tree / "tests" / "scripts"
    scripts.mkdir(exist_ok=True)
    for script in [*(tree / "doc" / "examples").glob("*.py"), *(tree / "src" / "scripts").glob("*.py")]:
        shutil.copy(script, scripts / script.name)
    data = tree / "tests" / "data"
    examples = tree / "doc" / "examples"
    files = [examples / name for name in _DATA_FILES]
    files += [examples / f"icatdump-{v}.{e}" for v in ("4.4", "4.7", "4.10", "5.0", "6.2") for e in ("xml", "yaml")]
    files += [*(tree / "doc").glob("icatdata-*.xsd"), *examples.glob("metadata-*.xml")]
    files += [tree / "etc" / name for name in _ETC_FILES]
    for f in files:
        shutil.copy(f, data / f.name)
    return tree


@contextmanager
def testbox(db: Path) -> Iterator[str]:
    """``icat-testbox icat`` with python-icat's test accounts; yields the WSDL URL."""
    command = [sys.executable, "-m", "testbox.cli", "icat", "--port", "0", "--db", str(db),
               "--timezone", TIMEZONE, "--root", f"{ROOT}:{PASSWORD}"]
    for account in ACCOUNTS.values():
        if account != ROOT:
            command += ["--user", f"{account}:{PASSWORD}"]
    repo = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=repo,
                               env=os.environ | {"PYTHONPATH": str(repo)})
    try:
        first = process.stdout.readline()
        if not first.startswith("url: "):
            raise SystemExit(f"icat-testbox did not start: {first!r}")
        yield first.removeprefix("url: ").strip() + "/ICATService/ICAT?wsdl"
    finally:
        process.terminate()
        process.wait(timeout=30)


def write_config(path: Path, wsdl: str) -> None:
    sections = []
    for section, account in ACCOUNTS.items():
        plugin, name = account.split("/", 1)
        sections.append(f"[{section}]\nurl = {wsdl}\nauth = {plugin}\nusername = {name}\n"
                        f"password = {PASSWORD}\n")
    path.write_text("\n".join(sections), encoding="utf-8")


def locale_environment(workdir: Path) -> dict[str, str]:
    """python-icat's conftest sets the locale ``en_US.UTF-8``; compile it privately
    (``LOCPATH``) where the system lacks it, instead of changing the system."""
    probe = [sys.executable, "-c", "import locale; locale.setlocale(locale.LC_CTYPE, 'en_US.UTF-8')"]
    if subprocess.run(probe, capture_output=True).returncode == 0:
        return {}
    locales = workdir / "locales"
    locales.mkdir(exist_ok=True)
    subprocess.run(["localedef", "-i", "en_US", "-f", "UTF-8", str(locales / "en_US.UTF-8")],
                   check=True, capture_output=True)
    return {"LOCPATH": str(locales)}


def run_suite(tree: Path, pytest_args: Sequence[str], env: dict[str, str]) -> tuple[int, str]:
    """Run python-icat's tests in ``tree``; return pytest's status and its output."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfEs",
               "-o", "addopts=", "-o", "timeout=600", *pytest_args]
    result = subprocess.run(command, cwd=tree / "tests", capture_output=True, text=True,
                            env=os.environ | env | {"PYTHONDONTWRITEBYTECODE": "1"})
    return result.returncode, result.stdout + result.stderr


def outcome(output: str) -> Outcome:
    """The counts from pytest's final summary line and its skip reasons."""
    found = Outcome()
    last = next((line for line in reversed(output.splitlines()) if _SUMMARY.search(line)), "")
    for number, word in _SUMMARY.findall(last):
        if word == "passed":
            found.passed = int(number)
        elif word == "failed":
            found.failed = int(number)
        elif word.startswith("error"):
            found.errors = int(number)
        elif word == "skipped":
            found.skipped = int(number)
    for line in output.splitlines():
        m = _IDS_SKIP.match(line)
        if m:
            found.skipped_for_ids += int(m.group(1))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdist", type=Path, help="python-icat 1.7.0 sdist (default: download it)")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (default: a temporary one)")
    parser.add_argument("--output", action="store_true", help="print pytest's whole output")
    args, pytest_args = parser.parse_known_args(argv)

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="python-icat-suite-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        sdist = args.sdist or fetch_sdist(workdir)
        tree = prepare_tests(sdist, workdir)
        env = locale_environment(workdir)
        with testbox(workdir / "icat.db") as wsdl:
            write_config(tree / "tests" / "data" / "icat.cfg", wsdl)
            status, output = run_suite(tree, pytest_args, env)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    lines = output.splitlines()
    shown = lines if args.output else [l for l in lines if re.match(r"^(FAILED|ERROR) ", l)] + lines[-1:]
    print("\n".join(shown))
    result = outcome(output)
    print(f"skipped for want of an IDS: {result.skipped_for_ids}")
    print(result.line())
    return 0 if status in (0, 5) and not (result.failed or result.errors) else 1


if __name__ == "__main__":
    sys.exit(main())
