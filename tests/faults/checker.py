"""What ICAT and ``pacer.dlq`` hold at the end of a run, against the load's plan.

- lost: an expected object missing from ICAT although none of its source messages is
  in ``pacer.dlq``; and an invalid message that is not in ``pacer.dlq`` either (every
  message ends in ICAT or in the dead letters);
- duplicated: an ICAT row (user, investigation, its instruments, team and access rows,
  dataset, its instrument link, datafile, parameter) present more than once, and a
  message dead-lettered more than once;
- wrongly dead-lettered: a valid message in ``pacer.dlq``;
- wrong: an object present once but with other values than its message's, a dataset
  whose fileCount/fileSize is not the sum over its datafiles, and rows nobody sent.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import icat
from kombu import Connection

from pacer_celery import deadletters
from tests.support.load import Plan

#: kind → (how many leading columns are the key, the query for every row of that kind).
QUERIES: dict[str, tuple[int, str]] = {
    "user": (1, "SELECT u.name, u.fullName, u.email, u.affiliation FROM User u WHERE u.name LIKE 'uos/%'"),
    "investigation": (1, "SELECT i.name, i.title FROM Investigation i"),
    "instrument": (2, "SELECT ii.investigation.name, ii.instrument.name FROM InvestigationInstrument ii"),
    "team": (3, "SELECT iu.investigation.name, iu.user.name, iu.role FROM InvestigationUser iu"),
    "member": (2, "SELECT ug.grouping.name, ug.user.name FROM UserGroup ug"),
    "dataset": (2, "SELECT ds.investigation.name, ds.name, ds.complete, ds.description, ds.location, "
                   "ds.fileCount, ds.fileSize FROM Dataset ds"),
    "dataset-instrument": (3, "SELECT di.dataset.investigation.name, di.dataset.name, di.instrument.name "
                              "FROM DatasetInstrument di"),
    "datafile": (3, "SELECT df.dataset.investigation.name, df.dataset.name, df.name, df.fileSize FROM Datafile df"),
    "parameter": (4, "SELECT p.dataset.investigation.name, p.dataset.name, p.type.name, p.type.units, "
                     "p.numericValue, p.stringValue FROM DatasetParameter p"),
}
#: The attribute columns of each kind's query, after its key.
COLUMNS = {
    "user": ("fullName", "email", "affiliation"),
    "investigation": ("title",),
    "dataset": ("complete", "description", "location", "fileCount", "fileSize"),
    "datafile": ("fileSize",),
    "parameter": ("numericValue", "stringValue"),
}
#: Examples kept per figure: enough to see the pattern.
EXAMPLES = 20


@dataclass(frozen=True)
class Letter:
    message_id: str
    reason: str


@dataclass
class Findings:
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    wrongly_dead_lettered: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    #: Objects checked, by kind; dead letters read.
    checked: Counter = field(default_factory=Counter)
    letters: list[Letter] = field(default_factory=list)

    @property
    def figures(self) -> dict[str, int]:
        return {"lost": len(self.lost), "duplicated": len(self.duplicated),
                "wrongly_dead_lettered": len(self.wrongly_dead_lettered), "wrong": len(self.wrong)}

    def examples(self) -> str:
        lines = []
        for name in ("lost", "duplicated", "wrongly_dead_lettered", "wrong"):
            found = getattr(self, name)
            lines += [f"{name}: {len(found)}", *(f"  {item}" for item in found[:EXAMPLES])]
        return "\n".join(lines)


def dead_letters(broker_url: str) -> list[Letter]:
    """Every letter in ``pacer.dlq``, left there (read without acking)."""
    with Connection(broker_url) as connection, deadletters.held(connection) as held:
        return [Letter(letter.message_id, letter.reason) for letter, _ in held]


def check(client: icat.Client, plan: Plan, letters: list[Letter]) -> Findings:
    findings = Findings(letters=letters)
    dead = Counter(letter.message_id for letter in letters)
    reasons: dict[str, list[str]] = defaultdict(list)
    for letter in letters:
        reasons[letter.message_id].append(letter.reason)
    findings.duplicated += [
        f"message {m} is in pacer.dlq {n} times: {' | '.join(reasons[m])}" for m, n in dead.items() if n > 1
    ]
    findings.wrongly_dead_lettered += [f"{m}: {reasons[m][0]}" for m in sorted(plan.valid_ids & dead.keys())]
    findings.lost += [f"invalid message {m} is not in pacer.dlq" for m in sorted(plan.invalid_ids - dead.keys())]

    rows = {kind: _rows(client, kind) for kind in QUERIES}
    # A dataset whose message (or a datafile message of it) was dead-lettered part-way
    # may lack its counts: that is the dead letter's story, told above.
    writers = _writers_of_datasets(plan)
    settled_datasets = {key for key in rows["dataset"] if not writers[key] & dead.keys()}
    # Before the comparison below takes rows away.
    findings.wrong += _file_totals({k: v for k, v in rows["dataset"].items() if k in settled_datasets},
                                   dict(rows["datafile"]))
    for (kind, key), expected in plan.objects.items():
        findings.checked[kind] += 1
        present = rows[kind].pop(key, [])
        label = f"{kind} {'/'.join(key)}"
        if not present:
            if not expected.sources & dead.keys():
                findings.lost.append(f"{label} (from {', '.join(sorted(expected.sources))})")
            continue
        if len(present) > 1:
            findings.duplicated.append(f"{label} is in ICAT {len(present)} times")
        findings.wrong += [f"{label}: {problem}" for problem in _differences(kind, expected.attributes, present[0])]
    for kind, left in rows.items():
        findings.wrong += [f"{kind} {'/'.join(key)} is in ICAT but no message asked for it" for key in left]
    return findings


def _writers_of_datasets(plan: Plan) -> defaultdict[tuple[str, ...], set[str]]:
    """(proposal, dataset) → the messages that write the dataset or its datafiles."""
    writers: defaultdict[tuple[str, ...], set[str]] = defaultdict(set)
    for (kind, key), expected in plan.objects.items():
        if kind in ("dataset", "datafile"):
            writers[key[:2]] |= expected.sources
    return writers


def _rows(client: icat.Client, kind: str) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """key → the rows with that key (more than one: a duplicate), attributes by name."""
    keys, query = QUERIES[kind]
    found: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in client.searchChunked(query, chunksize=2000):
        values = list(row)
        found[tuple(str(v) for v in values[:keys])].append(dict(zip(COLUMNS.get(kind, ()), values[keys:])))
    return found


def _differences(kind: str, wanted: dict[str, Any], row: dict[str, Any]) -> Iterable[str]:
    if kind == "parameter":
        yield from _parameter_difference(wanted["value"], row)
        return
    for name, value in wanted.items():
        if row.get(name) != value:
            yield f"{name} is {row.get(name)!r}, the message says {value!r}"


def _parameter_difference(value: Any, row: dict[str, Any]) -> Iterable[str]:
    if isinstance(value, (int, float)):
        if row["numericValue"] is None or abs(float(row["numericValue"]) - value) > 1e-9 * max(1, abs(value)):
            yield f"numericValue is {row['numericValue']!r}, the message says {value!r}"
    elif row["stringValue"] != value:
        yield f"stringValue is {row['stringValue']!r}, the message says {value!r}"


def _file_totals(datasets: dict, datafiles: dict) -> list[str]:
    """finalize's promise: a dataset's fileCount/fileSize are those of its datafiles in ICAT."""
    totals: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])
    for (proposal, dataset, _), rows in datafiles.items():
        for row in rows:
            totals[(proposal, dataset)][0] += 1
            totals[(proposal, dataset)][1] += int(row["fileSize"] or 0)
    problems = []
    for key, rows in datasets.items():
        count, size = totals.get(key, [0, 0])
        row = rows[0]
        if (row["fileCount"], row["fileSize"]) != (count, size):
            problems.append(f"dataset {'/'.join(key)}: fileCount/fileSize {row['fileCount']}/{row['fileSize']}, "
                            f"its datafiles {count}/{size}")
    return problems
