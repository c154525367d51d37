"""`pacer messages` and `pacer journal` on both databases."""

from __future__ import annotations

import json
import uuid

import pytest

from pacer_celery.cli import main
from pacer_celery.journal import Arrival, migrate
from pacer_celery.settings import get_settings


@pytest.fixture
def seeded(journal, journal_url, monkeypatch):
    """The commands' journal, with a few messages of a run of their own."""
    monkeypatch.setenv("PACER_JOURNAL_URL", journal_url)
    get_settings.cache_clear()
    run = uuid.uuid4().hex[:8]
    good = Arrival(
        message_id=f"good-{run}", message_type="user-update", source="uos", routing_key="uos.users",
        content_type="application/json", headers={"source": "uos"},
        body=json.dumps({"username": f"u{run}", "updated_at": "2026-11-27T10:15:00+01:00"}).encode(),
        identifiers={"user": f"u{run}"}, object_key=f"user:u{run}",
    )
    bad = Arrival(
        message_id=f"bad-{run}", message_type="user-update", source="uos", routing_key="uos.users",
        content_type="application/json", headers={}, body=b"{", identifiers={},
        error="malformed JSON: Expecting property name enclosed in double quotes", dead_letter_id="abc",
    )
    journal.record_arrivals([good, bad])
    yield run
    get_settings.cache_clear()


def test_search_prints_a_table_and_json(seeded, capsys):
    assert main(["messages", "search", f"user=u{seeded}"]) == 0
    table = capsys.readouterr().out
    assert f"good-{seeded}" in table and "user-update" in table and "received" in table
    assert main(["messages", "search", "--status", "invalid", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["message_id"] for r in rows] == [f"bad-{seeded}"]
    assert rows[0]["error"].startswith("malformed JSON")


def test_show_tells_the_life_of_a_message(seeded, capsys):
    assert main(["messages", "show", f"bad-{seeded}", "--body"]) == 0
    out = capsys.readouterr().out
    assert "received" in out and "invalid, dead letter abc" in out and "reason: malformed JSON" in out
    assert "--- body (1 bytes) ---" in out
    assert main(["messages", "show", "no-such-id"]) == 1


def test_stats_count_per_type_and_status(seeded, capsys):
    assert main(["messages", "stats", "--since", "1h", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"user-update": {"received": 1, "invalid": 1}}


def test_replay_revalidates_from_the_journal(seeded, capsys):
    assert main(["messages", "replay", "--dry-run", f"good-{seeded}", f"bad-{seeded}"]) == 1
    out = capsys.readouterr().out
    assert f"good-{seeded}  would replay" in out
    assert f"bad-{seeded}  still invalid: malformed JSON" in out


def test_prune_deletes_old_messages_with_progress(seeded, capsys):
    assert main(["messages", "prune", "--older-than", "2000-01-01", "--yes"]) == 0
    assert "no messages received before" in capsys.readouterr().out
    assert main(["messages", "prune", "--older-than", "0d", "--yes"]) == 0
    assert "2 message(s) pruned" in capsys.readouterr().out
    assert main(["messages", "search", f"user=u{seeded}"]) == 0
    assert "no messages match" in capsys.readouterr().out


def test_journal_upgrade_says_where_and_what(seeded, journal_url, capsys):
    assert main(["journal", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert f"schema already at revision {migrate.head()}" in out
    assert "password" not in out
