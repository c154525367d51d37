"""The store on its own: the storage contract shared with the query engine, and locking."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from testbox.errors import IcatError
from testbox.model import ENTITIES, Bean
from testbox.store import Store


def _ref(entity: str, id: int) -> Bean:
    return Bean(entity, {"id": id})


@pytest.fixture
def store(tmp_path):
    s = Store(str(tmp_path / "store.db"))
    yield s
    s.close()


def _facility_with_dataset(store: Store) -> tuple[int, int]:
    f = store.create(Bean("Facility", {"name": "F"}), "db/root")
    it = store.create(Bean("InvestigationType", {"name": "t"}, ones={"facility": _ref("Facility", f)}), "db/root")
    inv = store.create(Bean("Investigation", {"name": "I", "visitId": "1", "title": "T"},
                            ones={"facility": _ref("Facility", f), "type": _ref("InvestigationType", it)}), "db/root")
    dt = store.create(Bean("DatasetType", {"name": "raw"}, ones={"facility": _ref("Facility", f)}), "db/root")
    ds = store.create(Bean("Dataset", {"name": "d", "startDate": datetime(2024, 5, 6, 9, 8, 7, 654321,
                                                                           tzinfo=timezone(timedelta(hours=-3)))},
                           ones={"investigation": _ref("Investigation", inv), "type": _ref("DatasetType", dt)}),
                      "db/root")
    return f, ds


def test_tables_and_columns_follow_the_storage_contract(store):
    with store.reading() as conn:
        for entity in ENTITIES.values():
            columns = [row[1] for row in conn.execute(f'PRAGMA table_info("{entity.name}")')]
            assert columns == list(entity.columns), entity.name


def test_values_are_stored_as_the_contract_says(store):
    _, ds = _facility_with_dataset(store)
    with store.reading() as conn:
        row = conn.execute('SELECT complete, fileSize, startDate, createTime, investigation_id, createId '
                           'FROM "Dataset" WHERE id = ?', (ds,)).fetchone()
    complete, file_size, start, created, investigation_id, create_id = row
    assert (complete, file_size, create_id) == (0, 0, "db/root")
    assert start == "2024-05-06 12:08:07.654"
    assert len(created) == len("YYYY-MM-DD HH:MM:SS.mmm")
    assert isinstance(investigation_id, int)


def test_ids_come_from_one_sequence(store):
    f, ds = _facility_with_dataset(store)
    assert ds == f + 4


def test_cascade_and_offsets(store):
    f, ds = _facility_with_dataset(store)
    with pytest.raises(IcatError) as info:
        store.delete_many([Bean("Dataset", {"id": ds}), Bean("Dataset", {"id": ds})])
    assert (info.value.type, info.value.offset) == ("NO_SUCH_OBJECT_FOUND", 1)
    assert store.count("Dataset") == 1  # rolled back
    store.delete(Bean("Facility", {"id": f}))
    for name in ("Facility", "InvestigationType", "Investigation", "DatasetType", "Dataset"):
        assert store.count(name) == 0, name


def test_java_length_counts_utf16_units(store):
    store.create(Bean("Facility", {"name": "\U0001F600" * 127}), "db/root")  # 254 UTF-16 units
    with pytest.raises(IcatError, match="cannot have length > 255"):
        store.create(Bean("Facility", {"name": "\U0001F600" * 128}), "db/root")


def test_concurrent_writers_and_readers_never_see_locking_errors(store):
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for i in range(100):
                store.create(Bean("Facility", {"name": f"w{worker}-{i}"}), "db/root")
        except BaseException as e:  # collected and asserted on below
            errors.append(e)

    def read() -> None:
        try:
            for _ in range(200):
                with store.reading() as conn:
                    conn.execute('SELECT COUNT(*) FROM "Facility"').fetchone()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    threads += [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count("Facility") == 800
