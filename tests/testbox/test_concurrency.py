"""Many client processes writing to one testbox process at once."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

from testbox_support import make_client

WORKERS = 4
FILES_PER_WORKER = 250


def _create_datafiles(url: str, dataset_id: int, worker: int) -> int:
    client = make_client(url)
    dataset = client.new("Dataset", id=dataset_id)
    for i in range(FILES_PER_WORKER):
        client.new("Datafile", name=f"w{worker}-f{i:03d}", fileSize=i, dataset=dataset).create()
    client.logout()
    return FILES_PER_WORKER


def test_four_processes_create_a_thousand_datafiles(testbox_process):
    client = make_client(testbox_process.url)
    facility = client.new("Facility", name="F")
    facility.create()
    itype = client.new("InvestigationType", name="t", facility=facility)
    itype.create()
    inv = client.new("Investigation", name="I", visitId="1", title="t", facility=facility, type=itype)
    inv.create()
    dtype = client.new("DatasetType", name="raw", facility=facility)
    dtype.create()
    dataset = client.new("Dataset", name="d", investigation=inv, type=dtype)
    dataset.create()

    with ProcessPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(_create_datafiles, testbox_process.url, dataset.id, w) for w in range(WORKERS)]
        assert sum(f.result() for f in futures) == WORKERS * FILES_PER_WORKER

    assert client.search("SELECT COUNT(df) FROM Datafile df") == [WORKERS * FILES_PER_WORKER]
    names = client.search(f"SELECT DISTINCT df.name FROM Datafile df WHERE df.dataset.id = {dataset.id} LIMIT 0, 2000")
    assert len(names) == WORKERS * FILES_PER_WORKER
    ids = client.search("SELECT df.id FROM Datafile df LIMIT 0, 2000")
    assert len(set(ids)) == WORKERS * FILES_PER_WORKER
    client.logout()
