"""The hostile corpus: what producers (or anyone who may publish to the broker) might send,
each message with the outcome PACER owes it.

``build(run)`` makes one run's cases: every name carries ``run``, so that a run's objects
are its own in a shared ICAT. The cases rely on ``Corpus.setup``: the proposal their datasets
belong to and the dataset their datafiles join.

A case's outcome is one of:

- ``invalid``: the bridge dead-letters it; the reason contains this fragment, which names
  the field and the problem;
- ``refused``: valid, but a step dead-letters it for good (unknown reference data); the
  reason contains this fragment;
- ``stored``: ICAT then holds, for each ``Read``, exactly one object with these values.

A rejected case lists in ``absent`` the objects it would have created. ``wire_only`` cases
exist only as AMQP bytes that py-amqp cannot hand to PACER as values (so they have no
envelope-level form).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

JSON, XML = "application/json", "application/xml"
USERS, PROPOSALS, DATASETS, DATAFILES = "user-update", "proposal-update", "dataset-ingestion", "datafile-ingestion"
MESSAGE_TYPES = (USERS, PROPOSALS, DATASETS, DATAFILES)
#: The body limit the tests run with (PACER_MAX_MESSAGE_BYTES in tests/conftest.py).
MAX_BYTES = 65536
#: Header every case carries (besides its own), so its dead letter can be told apart.
CASE_HEADER = "hostile-case"
#: Reference data of tests/flows/reference.yaml the cases use.
FACILITY, INSTRUMENT = "PACER", "ID01"

EMOJI = "\U0001F600"  # two UTF-16 code units
INJECTIONS = ("' OR 1=1 --", "100%", "_%_", "back\\slash", 'say "hi"', "'; DELETE FROM Dataset; --",
              "*?[glob]", "a' AND 'b'='b", "O'Brien")
ENTITIES = ("R&amp;D", "&lt;b&gt;", "&#38;", "&quot;&apos;", "&nbsp;", "<b>&</b>")
INVISIBLE = ("zero\u200bwidth", "\u200f\u202eRTL override", "inner\ufeffBOM", "e\u0301 combining",
             "line\u2028separator", "\u061c\u2066isolates\u2069")
LINE_ENDS = ("tab\there", "new\nline", "cr\rhere", "crlf\r\nhere", "del\x7fc1\x85\x9f")
ASTRAL = (f"{EMOJI} emoji", "\U0001D518\U0001D52B\U0001D526 fraktur")
#: Characters ICAT cannot receive, with the code the reason names.
UNSTORABLE = {"\x00": "U+0000", "\x01": "U+0001", "\x1b[31m": "U+001B", "\x0b": "U+000B", "\x0c": "U+000C",
              "\x1f": "U+001F", "\ud800": "U+D800", "\udfff": "U+DFFF", "\ufffe": "U+FFFE", "\uffff": "U+FFFF"}



def _too_long(limit: int) -> str:
    return f"String should have at most {limit} characters as ICAT counts them (UTF-16 code units), not {limit + 1}"


@dataclass(frozen=True)
class Read:
    """One object ICAT must hold (or, in ``absent``, must not): the entity, attribute paths
    to find it by, and the values it must have."""

    entity: str
    where: dict[str, str]
    expect: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    name: str
    message_type: str
    body: bytes
    content_type: str | None = JSON
    headers: dict[Any, Any] = field(default_factory=dict)
    message_id: str | bytes | None = None
    content_encoding: str | None = None
    invalid: str | None = None
    refused: str | None = None
    stored: tuple[Read, ...] = ()
    absent: tuple[Read, ...] = ()
    wire_only: bool = False

    @property
    def outcome(self) -> str:
        return "invalid" if self.invalid else "refused" if self.refused else "stored"

    @property
    def reason(self) -> str | None:
        return self.invalid or self.refused


def json_body(document: Any) -> bytes:
    """The document as UTF-8 JSON; lone surrogates (no UTF-8 form) as \\u escapes."""
    text = json.dumps(document, ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(document).encode("utf-8")


def _padded(text: str, units: int) -> str:
    """``text`` made ``units`` UTF-16 code units long (with x's)."""
    return text + "x" * (units - len(text.encode("utf-16-le")) // 2)


def _sized(body: bytes, size: int) -> bytes:
    """A JSON object body padded (with an unknown field) to exactly ``size`` bytes."""
    head = body[:-1] + b', "pad": "'
    return head + b"p" * (size - len(head) - 2) + b'"}'


def _astral(text: str, units: int) -> str:
    """``text`` made ``units`` UTF-16 code units long, mostly with emoji."""
    pairs, odd = divmod(units - len(text), 2)
    return text + EMOJI * pairs + "x" * odd


class Corpus:
    """The cases of one run, built group by group."""

    def __init__(self, run: str, user_prefix: str = "uos") -> None:
        self.run = run
        self.user_prefix = user_prefix
        self.cases: list[Case] = []
        self._serial = 0
        self.proposal = f"H{run}"
        self.base_dataset = f"base-{run}"

    # ------------------------------------------------------------------ documents

    def key(self) -> str:
        """A marker unique to one case of this run."""
        self._serial += 1
        return f"{self.run}x{self._serial}"

    def user(self, key: str, **fields: Any) -> dict[str, Any]:
        return {"username": f"h{key}", "first_name": "Jane", "last_name": "Doe", "email": "jane@example.org",
                "updated_at": "2026-11-27T10:15:00+01:00", **fields}

    def proposal_doc(self, key: str, **fields: Any) -> dict[str, Any]:
        return {"proposal": f"P{key}", "visit": "1", "title": "Hostile", "type": "experiment",
                "instruments": [INSTRUMENT], "start_date": "2026-12-01T08:00:00+01:00",
                "end_date": "2026-12-04T08:00:00+01:00",
                "team": [{"username": f"t{key}", "role": "principal_investigator"}], **fields}

    def dataset(self, key: str, **fields: Any) -> dict[str, Any]:
        return {"instrument": INSTRUMENT, "proposal": self.proposal, "visit": "1", "dataset": f"d{key}",
                "start_date": "2026-12-01T10:00:00+01:00", "datafiles": [{"name": f"f{key}.h5", "size": 1}],
                **fields}

    def datafiles(self, key: str, **fields: Any) -> dict[str, Any]:
        return {"instrument": INSTRUMENT, "proposal": self.proposal, "visit": "1", "dataset": self.base_dataset,
                "datafiles": [{"name": f"f{key}.h5", "size": 1}], **fields}

    def document(self, message_type: str, key: str, **fields: Any) -> dict[str, Any]:
        builders: dict[str, Callable[..., dict[str, Any]]] = {
            USERS: self.user, PROPOSALS: self.proposal_doc, DATASETS: self.dataset, DATAFILES: self.datafiles,
        }
        return builders[message_type](key, **fields)

    # ------------------------------------------------------------------ what ICAT holds

    def user_read(self, username: str, **expect: Any) -> Read:
        return Read("User", {"name": f"{self.user_prefix}/{username}"}, expect)

    def investigation_read(self, proposal: str, visit: str = "1", **expect: Any) -> Read:
        return Read("Investigation", {"facility.name": FACILITY, "name": proposal, "visitId": visit}, expect)

    def dataset_read(self, name: str, **expect: Any) -> Read:
        return Read("Dataset", {"investigation.name": self.proposal, "investigation.visitId": "1", "name": name},
                    expect)

    def datafile_read(self, dataset: str, name: str, **expect: Any) -> Read:
        return Read("Datafile", {"dataset.investigation.name": self.proposal, "dataset.name": dataset,
                                 "name": name}, expect)

    def marker(self, message_type: str, key: str) -> tuple[Read, ...]:
        """What a message built by ``document`` would create, whatever its hostile field."""
        if message_type == USERS:
            return (self.user_read(f"h{key}"),)
        if message_type == PROPOSALS:
            return (self.user_read(f"t{key}"), self.investigation_read(f"P{key}"))
        return (Read("Datafile", {"name": f"f{key}.h5"}),)

    # ------------------------------------------------------------------ adding cases

    def add(self, name: str, message_type: str, body: bytes | dict[str, Any], **outcome: Any) -> None:
        if isinstance(body, dict):
            body = json_body(body)
        self.cases.append(Case(name=f"{message_type}/{name}", message_type=message_type, body=body, **outcome))

    def invalid(self, name: str, message_type: str, key: str | None, body: bytes | dict[str, Any], reason: str,
                **transport: Any) -> None:
        absent = self.marker(message_type, key) if key else ()
        self.add(name, message_type, body, invalid=reason, absent=absent, **transport)

    def invalid_change(self, name: str, message_type: str, reason: str, **fields: Any) -> None:
        """A message of ``message_type`` with ``fields`` changed, refused with ``reason``."""
        key = self.key()
        self.invalid(name, message_type, key, self.document(message_type, key, **fields), reason)

    # ------------------------------------------------------------------ setup

    def setup(self) -> list[Case]:
        """The proposal every dataset case belongs to and the dataset the datafile cases join."""
        proposal = self.proposal_doc("base", proposal=self.proposal, team=[])
        dataset = self.dataset("base", dataset=self.base_dataset, datafiles=[])
        return [
            Case(f"setup/{PROPOSALS}", PROPOSALS, json_body(proposal), stored=(self.investigation_read(self.proposal),)),
            Case(f"setup/{DATASETS}", DATASETS, json_body(dataset), stored=(self.dataset_read(self.base_dataset),)),
        ]

    def liveness(self) -> Case:
        """A plain valid message: sent among the hostile ones and after them, it must land."""
        key = self.key()
        document = self.user(key)
        return Case(f"valid/{key}", USERS, json_body(document),
                    stored=(self.user_read(document["username"], fullName="Jane Doe"),))


# ====================================================================== the groups


def _transport(c: Corpus) -> None:
    """Content types, sizes, encodings and bodies that are not documents at all."""
    for kind in MESSAGE_TYPES:
        key = c.key()
        document = c.document(kind, key)
        body = json_body(document)
        c.invalid("content-type-text-plain", kind, key, body, "unsupported content type 'text/plain'",
                  content_type="text/plain")
        c.invalid("content-type-gzip", kind, key, body, "unsupported content type 'application/gzip'",
                  content_type="application/gzip")
        c.invalid("content-type-header-only-wrong", kind, key, body, "unsupported content type 'text/csv'",
                  content_type=None, headers={"content-type": "text/csv"})
        c.invalid("gzip-bytes", kind, key, gzip.compress(body), "body is not UTF-8")
        c.invalid("gzip-bytes-content-encoding", kind, key, gzip.compress(body), "body is not UTF-8",
                  content_encoding="gzip")
        c.invalid("latin1-bytes", kind, key, body.replace(b"}", ', "x": "caf\xe9"}'.encode("latin-1")),
                  "body is not UTF-8")
        c.invalid("overlong-utf8", kind, key, body.replace(b"}", b', "x": "\xc0\xaf"}'), "body is not UTF-8")
        c.invalid("cesu8-surrogate", kind, key, body.replace(b"}", b', "x": "\xed\xa0\x80"}'), "body is not UTF-8")
        c.invalid("utf16-le-bom", kind, key, body.decode().encode("utf-16"), "body is not UTF-8")
        c.invalid("utf8-bom", kind, key, b"\xef\xbb\xbf" + body, "malformed JSON: Unexpected UTF-8 BOM")
        c.invalid("over-size-limit", kind, key, _sized(body, MAX_BYTES + 1), f"exceeds the {MAX_BYTES}-byte limit")
        c.invalid("empty-body", kind, None, b"", "malformed JSON")
        c.invalid("whitespace-body", kind, None, b" \n\t ", "malformed JSON")
        c.invalid("nul-bytes", kind, None, b"\x00" * 16, "malformed JSON")
        c.invalid("truncated", kind, key, body[: len(body) // 2], "malformed JSON")
        c.invalid("trailing-comma", kind, key, body[:-1] + b",}", "malformed JSON")
        c.invalid("single-quotes", kind, key, body.replace(b'"', b"'"), "malformed JSON")
        c.invalid("comment", kind, key, b"/* hi */" + body, "malformed JSON")
        c.invalid("two-documents", kind, key, body + body, "malformed JSON: Extra data")
        for label, root in (("array", []), ("string", "x"), ("number", 1), ("null", None), ("true", True)):
            c.invalid(f"root-{label}", kind, None, json_body(root), "message: Input should be a valid dictionary")
        # Valid ones the same checks must let through.
        for label, transport in (
            ("content-type-with-charset", {"content_type": "application/json; charset=utf-8"}),
            ("content-type-upper-case", {"content_type": "APPLICATION/JSON"}),
            ("content-type-header-only", {"content_type": None, "headers": {"content-type": "application/json"}}),
            ("no-content-type", {"content_type": None}),
        ):
            key = c.key()
            c.add(label, kind, c.document(kind, key), stored=c.marker(kind, key), **transport)
        key = c.key()
        c.add("at-size-limit", kind, _sized(json_body(c.document(kind, key)), MAX_BYTES), stored=c.marker(kind, key))
    key = c.key()
    c.invalid("utf16-be-bom-content-encoding", DATASETS, key,
              b"\xfe\xff" + json_body(c.dataset(key)).decode().encode("utf-16-be"),
              "body is not UTF-8", content_encoding="utf-16")
    key = c.key()
    c.invalid("utf16-le-bom-content-encoding", USERS, key, json_body(c.user(key)).decode().encode("utf-16"),
              "body is not UTF-8", content_encoding="utf-16")


def _json_documents(c: Corpus) -> None:
    """JSON the parser takes but PACER must not, and odd JSON it must take."""
    for kind in MESSAGE_TYPES:
        key = c.key()
        deep = c.document(kind, key)
        nested: Any = 1
        for _ in range(200):
            nested = {"n": nested}
        deep["unknown"] = nested
        c.add("nested-200-deep-unknown-field", kind, deep, stored=c.marker(kind, key))
        key = c.key()
        body = json_body(c.document(kind, key))
        c.invalid("nested-100000-deep", kind, key, body[:-1] + b', "deep": ' + b"[" * 20000 + b"]" * 20000 + b"}",
                  "malformed JSON")
        c.invalid("integer-of-5000-digits", kind, key, body[:-1] + b', "big": ' + b"9" * 5000 + b"}",
                  "malformed JSON")
        key = c.key()
        document = c.document(kind, key, shoe_size=42, **{"": "empty key", "x-pacer-reason": "spoofed"})
        c.add("unknown-fields", kind, document, stored=c.marker(kind, key))
    # Duplicate keys: JSON's last one wins (Python's json, like most parsers).
    key = c.key()
    body = json_body(c.user(key))[:-1] + b', "first_name": "Second"}'
    c.add("duplicate-key-last-wins", USERS, body, stored=(c.user_read(f"h{key}", givenName="Second"),))


#: Text fields that reach ICAT: (message type, field, ICAT column size, required).
TEXT_FIELDS = (
    (USERS, "first_name", 255, False),
    (USERS, "last_name", 255, False),
    (USERS, "affiliation", 255, False),
    (PROPOSALS, "title", 255, True),
    (PROPOSALS, "abstract", 4000, False),
    (PROPOSALS, "doi", 255, False),
    (PROPOSALS, "full_name", 255, False),
    (PROPOSALS, "proposal", None, True),  # length: the Grouping name's (see _identifiers)
    (PROPOSALS, "visit", None, True),
    (DATASETS, "dataset", 255, True),
    (DATASETS, "description", 255, False),
    (DATASETS, "location", 511, False),
    (DATASETS, "sample", 255, True),
    (DATASETS, "datafile_name", 255, True),
    (DATASETS, "datafile_location", 511, False),
    (DATASETS, "checksum", 255, False),
    (DATAFILES, "datafile_name", 255, True),
    (DATAFILES, "datafile_location", 511, False),
)
#: Fields whose value names the object: a case's value is made unique to it (see _TextField).
NAMING = ("proposal", "visit", "dataset", "sample", "datafile_name")
TRAVERSALS = ("../../../../etc/passwd", "/data/../../root/.ssh/id_rsa", "C:\\Windows\\..\\system32",
              "file:///etc/shadow", "\\\\server\\share\\x")


def _text_fields(c: Corpus) -> None:
    """Every text field that reaches ICAT, with the text ICAT can and cannot store."""
    for kind, name, limit, required in TEXT_FIELDS:
        field_case = _TextField(c, kind, name)
        # Every injection where the value is queried by; a sample of each kind elsewhere.
        values = [*ENTITIES[:3], *INVISIBLE[:2], *LINE_ENDS, ASTRAL[0], "  padded  "]
        values += INJECTIONS if name in NAMING else INJECTIONS[:1]
        if "location" in name:
            values += TRAVERSALS
        for value in values:
            field_case.stored(value, label=repr(value)[1:41])
        if limit is not None:
            field_case.stored(lambda key, n=limit: _padded(key, n), label="at-limit")
            field_case.stored(lambda key, n=limit: _astral(key, n), label="at-limit-astral")
            field_case.invalid(_padded("", limit + 1), _too_long(limit), label="over-limit")
            field_case.invalid(_astral("", limit + 1), _too_long(limit), label="over-limit-astral")
        for character, code in UNSTORABLE.items():
            field_case.invalid(f"a{character}b", f"String has {code} at index 1", label=f"char-{code}")
        for label, value in (("number", 42), ("boolean", True), ("list", ["x"]), ("object", {"x": 1}),
                             ("float", 1.5)):
            if name in ("proposal", "visit") and label == "number":
                continue  # ids may come as numbers (see _identifiers)
            field_case.invalid(value, "Input should be a valid string", label=f"type-{label}")
        if required:
            field_case.invalid("", "String should have at least 1 character", label="empty")
            field_case.invalid("   \t ", "String should have at least 1 character", label="blank")
        else:
            field_case.stored("", label="empty-means-null")


class _TextField:
    """Cases putting one value into one text field of a message type."""

    def __init__(self, c: Corpus, kind: str, name: str) -> None:
        self.c, self.kind, self.name = c, kind, name

    def _document(self, key: str, value: Any) -> tuple[dict[str, Any], str]:
        """The document carrying ``value``, and the field's path in a reason."""
        c, name = self.c, self.name
        if name == "full_name":
            member = {"username": f"t{key}", "role": "principal_investigator", "full_name": value}
            return c.proposal_doc(key, team=[member]), "team.0.full_name"
        if name == "sample":
            return c.dataset(key, sample={"name": value}), "sample.name"
        if name in ("first_name", "last_name"):
            # Alone, so that ICAT's fullName ("first last") is this value and fits as it does.
            document = c.user(key, **{name: value})
            del document["last_name" if name == "first_name" else "first_name"]
            return document, name
        if name in ("datafile_name", "datafile_location", "checksum"):
            attribute = {"datafile_name": "name", "datafile_location": "location"}.get(name, name)
            datafile = {"name": f"f{key}.h5", "size": 1, attribute: value}
            return c.document(self.kind, key, datafiles=[datafile]), f"datafiles.0.{attribute}"
        return c.document(self.kind, key, **{name: value}), name

    def _reads(self, key: str, held: str | None) -> tuple[Read, ...]:
        """What ICAT holds once the message carrying ``held`` (as stored) is applied."""
        c, name = self.c, self.name
        if self.kind == USERS:
            if name == "affiliation":
                return (c.user_read(f"h{key}", affiliation=held, fullName="Jane Doe"),)
            attribute = {"first_name": "givenName", "last_name": "familyName"}[name]
            return (c.user_read(f"h{key}", **{attribute: held, "fullName": held}),)
        if self.kind == PROPOSALS:
            if name == "full_name":
                return (c.user_read(f"t{key}", fullName=held),)
            proposal = held if name == "proposal" else f"P{key}"
            visit = held if name == "visit" else "1"
            expect = {} if name in ("proposal", "visit") else {{"abstract": "summary"}.get(name, name): held}
            return (c.investigation_read(proposal, visit, **expect),
                    Read("Grouping", {"name": f"investigation_{proposal}_{visit}"}))
        dataset = held if name == "dataset" else c.base_dataset if self.kind == DATAFILES else f"d{key}"
        if name == "sample":
            return (Read("Sample", {"investigation.name": c.proposal, "name": held}), c.dataset_read(dataset))
        if name in ("datafile_name", "datafile_location", "checksum"):
            datafile = held if name == "datafile_name" else f"f{key}.h5"
            expect = {} if name == "datafile_name" else {{"datafile_location": "location"}.get(name, name): held}
            return (c.datafile_read(dataset, datafile, **expect),)
        return (c.dataset_read(dataset, **({} if name == "dataset" else {name: held})),)

    def _unique(self, key: str, value: str) -> str:
        """A naming value made the case's own, keeping its hostility (and surrounding blanks)."""
        core = value.strip()
        if self.name not in NAMING or not core:
            return value
        start = value.index(core)
        return value[:start] + key + value[start:]

    def stored(self, value: str | Callable[[str], str], *, label: str) -> None:
        key = self.c.key()
        value = value(key) if callable(value) else self._unique(key, value)
        document, _ = self._document(key, value)
        # What ICAT holds: the text stripped (messages.md); blank is no value.
        self.c.add(f"{self.name}/{label}", self.kind, document, stored=self._reads(key, value.strip() or None))

    def invalid(self, value: Any, problem: str, *, label: str) -> None:
        key = self.c.key()
        document, path = self._document(key, value)
        self.c.invalid(f"{self.name}/{label}", self.kind, key, document, f"{path}: {problem}")


def _number(key: str) -> int:
    """A number as unique to the case as its key."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16)


def _identifiers(c: Corpus) -> None:
    """Proposal and visit ids: numbers are text, booleans and floats are not; the Grouping fits."""
    key = c.key()
    number = _number(key)
    c.add("proposal/number", PROPOSALS, c.proposal_doc(key, proposal=number, visit=2),
          stored=(c.investigation_read(str(number), "2"),))
    key = c.key()
    big = 10**30 + _number(key)
    c.add("proposal/number-beyond-64-bits", PROPOSALS, c.proposal_doc(key, proposal=big),
          stored=(c.investigation_read(str(big)),))
    for label, value in (("boolean", True), ("float", 20261234.0), ("negative-float", -1.5)):
        c.invalid_change(f"proposal/{label}", PROPOSALS, "proposal: Input should be a valid string", proposal=value)
        c.invalid_change(f"visit/{label}", PROPOSALS, "visit: Input should be a valid string", visit=value)
        c.invalid_change(f"proposal/{label}", DATASETS, "proposal: Input should be a valid string", proposal=value)
    key = c.key()
    c.invalid("grouping-name-over-255", PROPOSALS, key, c.proposal_doc(key, proposal=_padded(key, 240)),
              "proposal and visit make the ICAT Grouping name")
    key = c.key()
    c.invalid("grouping-name-over-255-by-visit", PROPOSALS, key,
              c.proposal_doc(key, proposal=f"P{key}", visit=_padded("", 255)), "ICAT's Grouping name holds 255")
    key = c.key()
    c.invalid("grouping-name-over-255-astral", PROPOSALS, key, c.proposal_doc(key, proposal=_astral(key, 240)),
              "ICAT's Grouping name holds 255")


def _users(c: Corpus) -> None:
    """user-update's own rules: username, e-mail, ORCID iD, flags, the full name's length."""
    for label, username in (("space", "j doe"), ("quote", "o'brien"), ("injection", "x' OR '1'='1"),
                            ("percent", "a%b"), ("slash", "a/b"), ("unicode", "jos\u00e9"), ("nul", "a\x00b"),
                            ("rtl", "a\u202eb"), ("too-long", "u" * 65)):
        problem = "String should have at most 64 characters" if label == "too-long" else "String should match pattern"
        c.invalid(f"username/{label}", USERS, None, c.user(c.key(), username=username), f"username: {problem}")
    key = c.key()
    c.add("username/at-limit", USERS, c.user(key, username=_padded(f"h{key}", 64)),
          stored=(c.user_read(_padded(f"h{key}", 64)),))
    for label, value in (("no-at", "jane.example.org"), ("space", "jane doe@example.org"), ("two-at", "a@b@c.org"),
                         ("injection", "' OR 1=1 --"), ("no-dot", "jane@example")):
        c.invalid_change(f"email/{label}", USERS, "email: Value error, not an e-mail address", email=value)
    for value in ("o'brien@example.org", "jane+%tag@example.org", "\u00e9l\u00e8ve@\u00e9cole.fr"):
        key = c.key()
        c.add(f"email/{value}", USERS, c.user(key, email=value), stored=(c.user_read(f"h{key}", email=value),))
    for label, value, problem in (
        ("check-digit", "0000-0002-1825-0098", "has a wrong check digit"),
        ("short", "1234", "not an ORCID iD"),
        ("other-script-digits", "\u0660\u0660\u0660\u0660-\u0660\u0660\u0660\u0662-\u0661\u0668\u0662\u0665-"
                                "\u0660\u0660\u0669\u0667", "not an ORCID iD"),
        ("injection", "0000-0002-1825-0097' --", "not an ORCID iD"),
    ):
        c.invalid_change(f"orcid/{label}", USERS, f"orcid: Value error, {problem}" if label != "check-digit"
                         else "orcid: Value error, ORCID iD 0000-0002-1825-0098 has a wrong check digit", orcid=value)
    key = c.key()
    c.add("orcid/url-form", USERS, c.user(key, orcid="https://orcid.org/0000-0002-1694-233x"),
          stored=(c.user_read(f"h{key}", orcidId="0000-0002-1694-233X"),))
    for label, value in (("number", 1), ("zero", 0), ("string-yes", "yes"), ("null", None), ("list", [True])):
        c.invalid_change(f"is_active/{label}", USERS, "is_active: Input should be a boolean", is_active=value)
    for label, value in (("boolean", True), ("negative", -1), ("float", 1.5), ("beyond-64-bits", 2**64),
                         ("text", "ten")):
        c.invalid_change(f"uos_id/{label}", USERS, "uos_id:", uos_id=value)
    key = c.key()
    c.add("uos_id/largest", USERS, c.user(key, uos_id=2**63 - 1), stored=(c.user_read(f"h{key}"),))
    key = c.key()
    c.invalid("full-name-over-255", USERS, key, c.user(key, first_name="a" * 200, last_name="b" * 55),
              "first_name and last_name make a full name of 256 characters")
    key = c.key()
    c.add("full-name-at-255", USERS, c.user(key, first_name="a" * 200, last_name="b" * 54),
          stored=(c.user_read(f"h{key}", fullName="a" * 200 + " " + "b" * 54),))
    key = c.key()
    document = c.user(key)
    del document["first_name"], document["last_name"], document["email"]
    c.add("only-required", USERS, document, stored=(c.user_read(f"h{key}", givenName=None, email=None),))
    key = c.key()
    c.add("is_active-false", USERS, c.user(key, is_active=False), stored=(c.user_read(f"h{key}"),))


def _missing_fields(c: Corpus) -> None:
    required = {
        USERS: ("username", "updated_at"),
        PROPOSALS: ("proposal", "title", "type", "start_date", "end_date", "team"),
        DATASETS: ("instrument", "proposal", "dataset", "start_date"),
        DATAFILES: ("instrument", "proposal", "dataset"),
    }
    for kind, names in required.items():
        for name in names:
            key = c.key()
            document = c.document(kind, key)
            del document[name]
            c.invalid(f"missing/{name}", kind, key if name != "username" else None, document,
                      f"{name}: Field required")
            key = c.key()
            c.invalid(f"null/{name}", kind, key if name != "username" else None,
                      c.document(kind, key, **{name: None}), f"{name}:")
        for name, value in (("datafiles", [{"size": 1}]), ("datafiles", [{}]), ("datafiles", [None])):
            if kind in (DATASETS, DATAFILES):
                c.invalid_change(f"datafile-without-name/{value!r}", kind, "datafiles.0", datafiles=value)


def _numbers(c: Corpus) -> None:
    """Datafile sizes (ICAT's Long) and what they add up to."""
    for kind in (DATASETS, DATAFILES):
        for label, size, problem in (
            ("true", True, "Input should be a whole number, not a boolean"),
            ("false", False, "Input should be a whole number, not a boolean"),
            ("negative", -1, "Input should be greater than or equal to 0"),
            ("fraction", 1.5, "Input should be a valid integer"),
            ("text", "twelve", "Input should be a valid integer"),
            ("2^63", 2**63, "Input should be less than or equal to 9223372036854775807"),
            ("2^64", 2**64, "Input should be less than or equal to 9223372036854775807"),
            ("10^30", 10**30, "Input should be less than or equal to 9223372036854775807"),
            ("1e30-float", 1e30, "Input should be less than or equal to 9223372036854775807"),
            ("nan", float("nan"), "Input should be a finite number"),
            ("infinity", float("inf"), "Input should be a finite number"),
            ("minus-infinity", float("-inf"), "Input should be a finite number"),
            ("list", [1], "Input should be a valid integer"),
        ):
            key = c.key()
            document = c.document(kind, key, datafiles=[{"name": f"f{key}.h5", "size": size}])
            c.invalid(f"size/{label}", kind, key, document, f"datafiles.0.size: {problem}")
        # Not 2^63-1 into the shared dataset of the datafile cases: its total would overflow.
        largest = 2**63 - 1 if kind == DATASETS else 2**40
        for label, size, held in (("zero", 0, 0), ("largest", largest, largest), ("digits-as-text", "12", 12),
                                  ("whole-float", 12.0, 12), ("null", None, 0)):
            key = c.key()
            document = c.document(kind, key, datafiles=[{"name": f"f{key}.h5", "size": size}])
            dataset = c.base_dataset if kind == DATAFILES else f"d{key}"
            c.add(f"size/{label}", kind, document, stored=(c.datafile_read(dataset, f"f{key}.h5", fileSize=held),))
        key = c.key()
        files = [{"name": f"f{key}.h5", "size": 2**62}, {"name": f"g{key}.h5", "size": 2**62}]
        c.invalid("sizes-sum-beyond-64-bits", kind, key, c.document(kind, key, datafiles=files),
                  "datafiles: the datafiles' sizes add up to 9223372036854775808 bytes")
        key = c.key()
        files = [{"name": f"f{key}.h5"}, {"name": f"g{key}.h5"}, {"name": f"f{key}.h5"}]
        c.invalid("duplicate-datafile-names", kind, key, c.document(kind, key, datafiles=files),
                  f"datafiles: datafile 'f{key}.h5' appears more than once (datafiles.0 and datafiles.2)")
        key = c.key()
        files = [{"name": f"f{key}.h5"}, {"name": f" f{key}.h5 "}]
        c.invalid("duplicate-datafile-names-after-strip", kind, key, c.document(kind, key, datafiles=files),
                  "appears more than once")
    key = c.key()
    files = [{"name": f"f{key}.h5", "size": 2**62}, {"name": f"g{key}.h5", "size": 2**62 - 1}]
    c.add("sizes-sum-to-the-largest-long", DATASETS, c.dataset(key, datafiles=files),
          stored=(c.dataset_read(f"d{key}", fileSize=2**63 - 1, fileCount=2),))


def _parameters(c: Corpus) -> None:
    for label, value, problem in (
        ("true", True, "Input should be a number or text, not a boolean"),
        ("nan", float("nan"), "Input should be a finite number, not NaN or Infinity"),
        ("infinity", float("inf"), "Input should be a finite number, not NaN or Infinity"),
        ("10^400", 10**400, "Number is beyond ICAT's numeric values"),
        ("list", [8.5], "Input should be a number or text"),
        ("object", {"v": 8.5}, "Input should be a number or text"),
        ("null", None, "Input should be a number or text"),
        ("empty", "", "Text should have at least 1 character"),
        ("blank", "  ", "Text should have at least 1 character"),
        ("nul", "8\x005", "String has U+0000 at index 1"),
        ("over-4000", "x" * 4001, _too_long(4000)),
        ("over-4000-astral", EMOJI * 2000 + "x", _too_long(4000)),
    ):
        c.invalid_change(f"parameter-value/{label}", DATASETS, f"parameters.0.value: {problem}",
                         parameters=[{"name": "energy", "units": "keV", "value": value}])
    for label, parameter, problem in (
        ("name-over-255", {"name": "e" * 256, "value": 1}, f"parameters.0.name: String should have at most 255"),
        ("name-missing", {"value": 1}, "parameters.0.name: Field required"),
        ("value-missing", {"name": "energy"}, "parameters.0.value: Field required"),
        ("units-control", {"name": "energy", "units": "k\x07eV", "value": 1}, "parameters.0.units: String has U+0007"),
    ):
        c.invalid_change(f"parameter/{label}", DATASETS, problem, parameters=[parameter])
    twice = [{"name": "energy", "units": "keV", "value": 1}, {"name": "energy", "units": "keV", "value": 2}]
    c.invalid_change("parameters/twice", DATASETS, "parameters: given more than once: energy [keV]", parameters=twice)
    many = [{"name": f"p{i}", "value": i} for i in range(1001)]
    c.invalid_change("parameters/1001", DATASETS, "parameters: List should have at most 1000 items", parameters=many)
    for label, value, column, held in (
        ("numeric-as-text", " 8.5 ", "numericValue", 8.5),
        ("numeric-largest-double", 1.7976931348623157e308, "numericValue", 1.7976931348623157e308),
        ("numeric-integer", 12, "numericValue", 12.0),
    ):
        key = c.key()
        parameters = [{"name": "energy", "units": "keV", "value": value}]
        c.add(f"parameter-value/{label}", DATASETS, c.dataset(key, parameters=parameters),
              stored=(Read("DatasetParameter", {"dataset.name": f"d{key}", "type.name": "energy"}, {column: held}),))
    for value in (*INJECTIONS, *ENTITIES, "tab\tnew\nline\rcr", "x" * 4000, EMOJI * 2000):
        key = c.key()
        parameters = [{"name": "scan_type", "units": "N/A", "value": value}]
        c.add(f"parameter-value/string-{value[:30]!r}", DATASETS, c.dataset(key, parameters=parameters),
              stored=(Read("DatasetParameter", {"dataset.name": f"d{key}", "type.name": "scan_type"},
                           {"stringValue": value}),))
    # Valid, but naming reference data ICAT does not have: the worker refuses them for good.
    for value in INJECTIONS[:4]:
        key = c.key()
        c.add(f"parameter-name/{value!r}", DATASETS, c.dataset(key, parameters=[{"name": value, "value": 1}]),
              refused="unknown parameter type", absent=c.marker(DATASETS, key))
        key = c.key()
        c.add(f"instrument/{value!r}", DATASETS, c.dataset(key, instrument=value),
              refused="unknown instrument", absent=c.marker(DATASETS, key))
        key = c.key()
        c.add(f"dataset-type/{value!r}", DATASETS, c.dataset(key, type=value),
              refused="unknown dataset type", absent=c.marker(DATASETS, key))
        key = c.key()
        c.add(f"format/{value!r}", DATAFILES,
              c.datafiles(key, datafiles=[{"name": f"f{key}.h5", "format": value}]),
              refused="unknown datafile format", absent=c.marker(DATAFILES, key))
        key = c.key()
        c.add(f"investigation-type/{value!r}", PROPOSALS, c.proposal_doc(key, type=value),
              refused="unknown investigation type", absent=(c.investigation_read(f"P{key}"),))


def _timestamps(c: Corpus) -> None:
    fields = ((USERS, "updated_at"), (PROPOSALS, "start_date"), (PROPOSALS, "release_date"),
              (DATASETS, "start_date"), (DATASETS, "datafile.created"), (DATAFILES, "datafile.modified"))
    out_of_range = "Timestamp is outside what ICAT's databases store (1000-01-01 to 9999-12-31 UTC)"
    bad = (
        ("year-1", "0001-01-01T00:00:00Z", out_of_range),
        ("year-999", "0999-12-31T23:59:59Z", out_of_range),
        ("year-0-in-utc", "0001-01-01T00:30:00+01:00", out_of_range),
        ("year-10000-in-utc", "9999-12-31T23:00:00-01:00", out_of_range),
        ("naive", "2026-12-01T10:00:00", "Input should have timezone info"),
        ("date-only", "2026-12-01", "Input should have timezone info"),
        ("epoch-number", 1764583200, "Input should be an ISO 8601 timestamp (text)"),
        ("epoch-text", "1764583200", "Input should be an ISO 8601 timestamp (text)"),
        ("boolean", True, "Input should be an ISO 8601 timestamp (text)"),
        ("month-13", "2026-13-01T10:00:00Z", "Input should be a valid datetime"),
        ("february-30", "2026-02-30T10:00:00Z", "Input should be a valid datetime"),
        ("leap-second", "2026-12-31T23:59:60Z", "Input should be a valid datetime"),
        ("garbage", "next tuesday", "Input should be a valid datetime"),
        ("offset-24h", "2026-12-01T10:00:00+24:00", "Input should be a valid datetime"),
    )
    for kind, name in fields:
        for label, value, problem in bad:
            key = c.key()
            document, path = _timestamp_document(c, kind, key, name, value)
            c.invalid(f"{name}/{label}", kind, key, document, f"{path}: {problem}")
    good = (
        ("earliest", "1000-01-01T00:00:00Z", (1000, 1, 1, 0, 0, 0, 0)),
        ("latest", "9999-12-31T23:59:59.999Z", (9999, 12, 31, 23, 59, 59, 999000)),
        ("offset-plus-14", "2026-12-01T10:00:00+14:00", (2026, 11, 30, 20, 0, 0, 0)),
        ("lower-case", "2026-12-01t10:00:00z", (2026, 12, 1, 10, 0, 0, 0)),
        ("space-separator", "2026-12-01 10:00:00-02:30", (2026, 12, 1, 12, 30, 0, 0)),
        ("nanoseconds", "2026-12-01T10:00:00.123456789Z", (2026, 12, 1, 10, 0, 0, 123000)),
    )
    for label, value, parts in good:
        key = c.key()
        files = [{"name": f"f{key}.h5", "created": value}]
        c.add(f"datafile.created/{label}", DATASETS, c.dataset(key, datafiles=files),
              stored=(c.datafile_read(f"d{key}", f"f{key}.h5", datafileCreateTime=datetime(*parts, tzinfo=UTC)),))
    key = c.key()
    c.invalid("end-before-start", DATASETS, key, c.dataset(key, end_date="2026-12-01T08:59:59Z"),
              "end_date must not be before start_date")
    key = c.key()
    c.invalid("end-equals-start", PROPOSALS, key, c.proposal_doc(key, end_date="2026-12-01T08:00:00+01:00"),
              "end_date must be after start_date")


def _timestamp_document(c: Corpus, kind: str, key: str, name: str, value: Any) -> tuple[dict[str, Any], str]:
    if name.startswith("datafile."):
        attribute = name.split(".", 1)[1]
        return c.document(kind, key, datafiles=[{"name": f"f{key}.h5", attribute: value}]), f"datafiles.0.{attribute}"
    return c.document(kind, key, **{name: value}), name


def _lists(c: Corpus) -> None:
    c.invalid_change("instruments/101", PROPOSALS, "instruments: List should have at most 100 items",
                     instruments=[INSTRUMENT] * 101)
    key = c.key()
    team = [{"username": f"t{key}", "role": "team_member"}] * 1001
    c.invalid("team/1001", PROPOSALS, key, c.proposal_doc(key, team=team), "team: List should have at most 1000 items")
    c.invalid_change("instruments/not-a-list", PROPOSALS, "instruments: Input should be a valid list",
                     instruments="ID01")
    c.invalid_change("team/role", PROPOSALS, "team.0.role: Input should be 'principal_investigator'",
                     team=[{"username": "x", "role": "boss"}])
    c.invalid_change("datafiles/object", DATASETS, "datafiles: Input should be a valid list", datafiles={"a": 1})
    key = c.key()
    c.add("instruments/listed-twice", PROPOSALS, c.proposal_doc(key, instruments=[INSTRUMENT, INSTRUMENT]),
          stored=(c.investigation_read(f"P{key}"),))
    key = c.key()
    team = [{"username": f"t{key}", "role": "principal_investigator"}] * 2
    c.add("team/member-twice", PROPOSALS, c.proposal_doc(key, team=team), stored=(c.user_read(f"t{key}"),))
    key = c.key()
    c.add("team/empty", PROPOSALS, c.proposal_doc(key, team=[]),
          stored=(c.investigation_read(f"P{key}"), Read("Grouping", {"name": f"investigation_P{key}_1"})))
    key = c.key()
    c.add("datafiles/none", DATASETS, c.dataset(key, datafiles=[]), stored=(c.dataset_read(f"d{key}", fileCount=0),))
    key = c.key()
    c.invalid("complete/number", DATASETS, key, c.dataset(key, complete=1), "complete: Input should be a boolean")
    key = c.key()
    c.invalid("complete/text", DATAFILES, key, c.datafiles(key, complete="yes"), "complete: Input should be a boolean")


def _xml(c: Corpus) -> None:
    """The legacy XML form of dataset-ingestion."""

    def document(key: str, inner: str = "", *, attributes: str = "", prolog: str = "") -> bytes:
        return (f'{prolog}<dataset{attributes}><instrument>{INSTRUMENT}</instrument>'
                f"<investigation>{c.proposal}</investigation><visit>1</visit><name>d{key}</name>"
                f"<startDate>2026-12-01T10:00:00+01:00</startDate>"
                f"<datafile><name>f{key}.h5</name><size>1</size></datafile>{inner}</dataset>").encode()

    def bad(name: str, body: bytes, reason: str, key: str | None = None, **transport: Any) -> None:
        c.invalid(f"xml/{name}", DATASETS, key, body, reason, content_type=transport.pop("content_type", XML),
                  **transport)

    def good(name: str, body: bytes, *reads: Read, **transport: Any) -> None:
        c.add(f"xml/{name}", DATASETS, body, stored=reads, content_type=transport.pop("content_type", XML),
              **transport)

    key = c.key()
    bad("unclosed", document(key)[:-3], "malformed XML", key)
    bad("mismatched", document(key).replace(b"</name>", b"</nam>", 1), "malformed XML: mismatched tag", key)
    bad("junk-after-root", document(key) + b"<dataset/>", "malformed XML: junk after document element", key)
    bad("wrong-root", document(key).replace(b"<dataset>", b"<datasets>").replace(b"</dataset>", b"</datasets>"),
        "XML root element must be <dataset>", key)
    bad("namespaced-root", document(key).replace(b"<dataset>", b'<x:dataset xmlns:x="urn:x">')
        .replace(b"</dataset>", b"</x:dataset>"), "XML root element must be <dataset>", key)
    bad("text-root", b"<dataset>just text</dataset>", "XML <dataset> must hold elements")
    bad("empty-root", b"<dataset/>", "instrument: Field required")
    bad("billion-laughs", b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">'
        b"]><dataset><name>&lol2;</name></dataset>", "XML with a DOCTYPE is not accepted")
    bad("external-entity", b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><dataset><name>&x;</name>'
        b"</dataset>", "XML with a DOCTYPE is not accepted")
    bad("external-dtd", b'<!DOCTYPE dataset SYSTEM "http://127.0.0.1:1/x.dtd">' + document(key),
        "XML with a DOCTYPE is not accepted", key)
    bad("parameter-entity", b'<!DOCTYPE d [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>' + document(key),
        "XML with a DOCTYPE is not accepted", key)
    bad("undeclared-entity", document(key, "<description>&secret;</description>"), "malformed XML: undefined entity",
        key)
    bad("nul-reference", document(key, "<description>a&#0;b</description>"), "malformed XML", key)
    bad("control-reference", document(key, "<description>a&#1;b</description>"), "malformed XML", key)
    bad("surrogate-reference", document(key, "<description>a&#xD800;b</description>"), "malformed XML", key)
    bad("raw-control-character", document(key, "<description>a\x01b</description>"), "malformed XML", key)
    bad("processing-instruction", document(key, prolog='<?xml-stylesheet href="x.xsl"?>'),
        "XML processing instructions are not accepted (<?xml-stylesheet ...?>)", key)
    bad("processing-instruction-inside", document(key, "<?php system('id'); ?>"),
        "XML processing instructions are not accepted (<?php ...?>)", key)
    bad("xinclude", document(key, '<xi:include href="/etc/passwd" parse="text"/>',
                             attributes=' xmlns:xi="http://www.w3.org/2001/XInclude"'),
        "XInclude is not accepted", key)
    bad("xinclude-default-namespace", document(key, '<include xmlns="http://www.w3.org/2001/XInclude" '
                                                    'href="/etc/passwd"/>'), "XInclude is not accepted", key)
    bad("xinclude-in-name", document(key).replace(
        f"<name>d{key}</name>".encode(),
        b'<name><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/hostname" parse="text"/></name>'),
        "XInclude is not accepted", key)
    for declared in ("latin1", "ISO-8859-1", "UTF-16", "windows-1252", "US-ASCII", "EBCDIC-US", "bogus"):
        key = c.key()
        body = f'<?xml version="1.0" encoding="{declared}"?>'.encode() + document(key, "<description>caf\u00e9"
                                                                                       "</description>")
        bad(f"declared-{declared}", body, f"XML declares encoding '{declared}': message bodies are UTF-8", key)
    key = c.key()
    bad("latin1-bytes", document(key, "<description>caf</description>").replace(b"caf<", b"caf\xe9<"),
        "body is not UTF-8", key)
    key = c.key()
    bad("utf16-bytes", document(key).decode().encode("utf-16"), "body is not UTF-8", key)
    key = c.key()
    bad("complete-yes", document(key, attributes=' complete="yes"'), "complete: Input should be a boolean", key)
    key = c.key()
    bad("two-names", document(key, f"<name>e{key}</name>"), "dataset: Input should be a valid string", key)
    key = c.key()
    bad("size-text", document(key).replace(b"<size>1</size>", b"<size>one</size>"),
        "datafiles.0.size: Input should be a valid integer", key)
    key = c.key()
    bad("size-beyond-64-bits", document(key).replace(b"<size>1</size>", b"<size>9223372036854775808</size>"),
        "datafiles.0.size: Input should be less than or equal to 9223372036854775807", key)
    key = c.key()
    bad("name-with-attribute", document(key).replace(f"<name>d{key}</name>".encode(),
                                                     f'<name lang="en">d{key}</name>'.encode()),
        "dataset: Input should be a valid string", key)
    for kind in (USERS, PROPOSALS, DATAFILES):
        c.invalid("xml", kind, None, b"<message><username>x</username></message>", f"{kind} messages have no XML form",
                  content_type=XML)
    key = c.key()
    bad("over-size-limit", document(key, "<description>" + "x" * MAX_BYTES + "</description>"),
        f"exceeds the {MAX_BYTES}-byte limit", key)
    key = c.key()
    bad("naive-date", document(key).replace(b"10:00:00+01:00", b"10:00:00"),
        "start_date: Input should have timezone info", key)

    # Valid XML whose text must arrive exactly (as XML defines its characters).
    for label, inner, held in (
        ("entities-decoded-once", "R&amp;amp;D &amp;lt;b&amp;gt; &amp;#38;", "R&amp;D &lt;b&gt; &#38;"),
        ("character-references", "&#x1F600;&#233;&#x200B;", f"{EMOJI}\u00e9\u200b"),
        ("cdata", "<![CDATA[<b>bold</b> & more]]>", "<b>bold</b> & more"),
        ("comment-inside", "a<!-- hidden -->b", "ab"),
        ("escaped-carriage-return", "a&#13;b&#13;&#10;c", "a\rb\r\nc"),
        ("raw-carriage-return-is-a-line-feed", "a\rb\r\nc", "a\nb\nc"),
        ("injection", escape("' OR 1=1 -- % \\ \""), "' OR 1=1 -- % \\ \""),
        ("rtl-and-zero-width", "\u202e\u200bx", "\u202e\u200bx"),
    ):
        key = c.key()
        good(label, document(key, f"<description>{inner}</description>"), c.dataset_read(f"d{key}", description=held))
    key = c.key()
    good("utf8-declared", b'<?xml version="1.0" encoding="utf-8"?>' + document(key), c.dataset_read(f"d{key}"))
    key = c.key()
    good("utf8-alias-declared", b'<?xml version="1.0" encoding="UTF8"?>' + document(key), c.dataset_read(f"d{key}"))
    key = c.key()
    good("utf8-bom", b"\xef\xbb\xbf" + document(key), c.dataset_read(f"d{key}"))
    key = c.key()
    good("text-xml", document(key), c.dataset_read(f"d{key}"), content_type="text/xml")
    key = c.key()
    good("content-type-header-only", document(key), c.dataset_read(f"d{key}"), content_type=None,
         headers={"content-type": "application/xml"})
    key = c.key()
    good("default-namespace", document(key).replace(b"<dataset>", b'<dataset xmlns="urn:daq">'),
         c.dataset_read(f"d{key}"))
    key = c.key()
    good("undeclared-prefix-is-an-unknown-element", document(key, '<xi:include href="/etc/passwd"/>'),
         c.dataset_read(f"d{key}"))
    key = c.key()
    good("deep-unknown-element", document(key, "<a>" * 3000 + "</a>" * 3000), c.dataset_read(f"d{key}"))
    key = c.key()
    good("complete-false", document(key, attributes=' complete="false"'), c.dataset_read(f"d{key}", complete=False))
    key = c.key()
    good("complete-zero", document(key, attributes=' complete="0"'), c.dataset_read(f"d{key}", complete=False))
    key = c.key()
    good("comment-element-is-description", document(key, "<comment>old words</comment>"),
         c.dataset_read(f"d{key}", description="old words"))
    key = c.key()
    good("location-traversal", document(key, "<location>../../../etc/passwd</location>"),
         c.dataset_read(f"d{key}", location="../../../etc/passwd"))
    key = c.key()
    good("size-with-spaces", document(key).replace(b"<size>1</size>", b"<size> 42 </size>"),
         c.datafile_read(f"d{key}", f"f{key}.h5", fileSize=42))
    key = c.key()
    body = document(key, "<parameter><name>energy</name><value>8.5</value><units>keV</units></parameter>"
                         "<parameter><name>scan_type</name><value> &lt;ascan&gt; </value><units>N/A</units>"
                         "</parameter>")
    good("parameters", body, Read("DatasetParameter", {"dataset.name": f"d{key}", "type.name": "energy"},
                                  {"numericValue": 8.5}),
         Read("DatasetParameter", {"dataset.name": f"d{key}", "type.name": "scan_type"}, {"stringValue": "<ascan>"}))
    key = c.key()
    name = escape(f"d{key}'\" OR 1=1")
    good("quoted-name", document(key).replace(f"<name>d{key}</name>".encode(), f"<name>{name}</name>".encode()),
         c.dataset_read(f"d{key}'\" OR 1=1"))
    key = c.key()
    good("attribute-quoting", document(key, attributes=f" complete={quoteattr('true')} note='a&amp;b'"),
         c.dataset_read(f"d{key}", complete=True))


def _headers(c: Corpus) -> None:
    """AMQP properties and headers: spoofed, huge, odd, and those py-amqp cannot even decode."""
    spoof = {"x-pacer-reason": "spoofed reason", "x-pacer-id": "spoofed", "x-pacer-attempts": 99,
             "x-pacer-errors": "[]", "x-pacer-message-type": "proposal-update"}
    key = c.key()
    c.add("headers/spoofed-x-pacer-on-valid", USERS, c.user(key), headers=spoof, stored=c.marker(USERS, key))
    key = c.key()
    c.invalid("headers/spoofed-x-pacer-on-invalid", USERS, key, c.user(key, orcid="1"), "orcid: Value error",
              headers=spoof)
    key = c.key()
    c.add("headers/source-huge", DATASETS, c.dataset(key), headers={"source": "s" * 20000},
          stored=c.marker(DATASETS, key))
    key = c.key()
    c.add("headers/source-control-characters", DATASETS, c.dataset(key), headers={"source": "a\x00\x1b[2J\r\n"},
          stored=c.marker(DATASETS, key))
    key = c.key()
    nested: Any = "leaf"
    for _ in range(20):
        nested = {"n": nested}
    c.add("headers/nested-20-deep", USERS, c.user(key), headers={"deep": nested}, stored=c.marker(USERS, key))
    key = c.key()
    c.add("headers/many", USERS, c.user(key), headers={f"h{i}": i for i in range(500)}, stored=c.marker(USERS, key))
    key = c.key()
    c.add("headers/types", USERS, c.user(key), headers={"n": None, "f": 1.5, "b": True, "l": [1, "a", [2]],
                                                        "big": 2**62}, stored=c.marker(USERS, key))
    key = c.key()
    c.add("headers/content-type-not-text", USERS, c.user(key), content_type=None, headers={"content-type": 42},
          invalid="unsupported content type '42'", absent=c.marker(USERS, key))
    key = c.key()
    c.add("message-id/255-bytes", USERS, c.user(key), message_id="m" * 255, stored=c.marker(USERS, key))
    key = c.key()
    c.add("message-id/control-characters", USERS, c.user(key), message_id="id\x00\x01\n\r\x7f",
          stored=c.marker(USERS, key))
    key = c.key()
    c.add("message-id/unicode", USERS, c.user(key), message_id="\u202e\u200b" + EMOJI, stored=c.marker(USERS, key))
    key = c.key()
    c.add("message-id/invalid-message-reused", USERS, c.user(key, orcid="1"), message_id=f"reused-{c.run}",
          invalid="orcid: Value error", absent=c.marker(USERS, key))
    for label, marker in (("bytes", {"__type__": "bytes", "__value__": "aGk="}), ("dunder-bytes", {"__bytes__": "aGk="}),
                          ("uuid-dict", {"__type__": "uuid", "__value__": {"hex": "0" * 32}})):
        key = c.key()
        c.add(f"headers/kombu-marker-{label}", USERS, c.user(key), headers={"x": marker}, stored=c.marker(USERS, key))
    for label, marker in (("datetime-not-a-date", {"__type__": "datetime", "__value__": "yesterday"}),
                          ("unknown-type", {"__type__": "no-such-type", "__value__": 1})):
        key = c.key()
        c.add(f"headers/kombu-marker-{label}", USERS, c.user(key), headers={"x": marker}, stored=c.marker(USERS, key))
    deep: Any = "leaf"
    for _ in range(3000):
        deep = {"n": deep}
    key = c.key()
    c.add("headers/nested-3000-deep", USERS, c.user(key), headers={"deep": deep}, invalid="header",
          absent=c.marker(USERS, key), wire_only=True)
    key = c.key()
    c.add("message-id/invalid-utf8", USERS, c.user(key), message_id=b"\xff\xfe-id", invalid="message_id",
          absent=c.marker(USERS, key), wire_only=True)
    key = c.key()
    c.add("headers/key-invalid-utf8", USERS, c.user(key), headers={b"\xff\xfekey": "v"}, invalid="header",
          absent=c.marker(USERS, key), wire_only=True)


def _burst(c: Corpus) -> None:
    """Invalid messages back to back, more than a bridge's prefetch: each must be dead-lettered."""
    for i in range(120):
        key = c.key()
        c.invalid(f"burst/{i:03d}", USERS, key, c.user(key, email="not-an-address"), "email: Value error")


GROUPS = (_transport, _json_documents, _text_fields, _identifiers, _users, _missing_fields, _numbers, _parameters,
          _timestamps, _lists, _xml, _headers, _burst)


def build(run: str, user_prefix: str = "uos") -> Corpus:
    """The corpus of one run (see the module docstring)."""
    corpus = Corpus(run, user_prefix)
    for group in GROUPS:
        group(corpus)
    names = [case.name for case in corpus.cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return corpus
