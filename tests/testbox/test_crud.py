"""Create, get, update, delete through python-icat, with ICAT's errors and semantics."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from icat.exception import (
    ICATInternalError,
    ICATNoObjectError,
    ICATObjectExistsError,
    ICATParameterError,
    ICATValidationError,
)
from testbox_support import make_client

from testbox.instance import build_icat_server
from testbox.service import Config


@pytest.fixture
def facility(client):
    f = client.new("Facility", name="F", fullName="Facility F")
    f.create()
    return f


@pytest.fixture
def investigation(client, facility):
    itype = client.new("InvestigationType", name="experiment", facility=facility)
    itype.create()
    inv = client.new("Investigation", name="I1", visitId="1", title="An investigation", facility=facility, type=itype)
    inv.create()
    return inv


@pytest.fixture
def dataset_type(client, facility):
    t = client.new("DatasetType", name="raw", facility=facility)
    t.create()
    return t


def test_create_get_update_delete_round_trip(client, facility):
    fetched = client.get("Facility", facility.id)
    assert (fetched.id, fetched.name, fetched.fullName) == (facility.id, "F", "Facility F")
    assert fetched.createId == fetched.modId == "db/root"
    assert fetched.createTime.tzinfo is not None
    assert fetched.description is None

    fetched.description = "updated"
    fetched.fullName = None
    fetched.update()
    again = client.get("Facility", facility.id)
    assert again.description == "updated"
    assert again.fullName is None
    assert again.modTime >= again.createTime

    client.delete(again)
    with pytest.raises(ICATNoObjectError, match=rf"Facility\[id:{facility.id}\] not found."):
        client.get("Facility", facility.id)


def test_defaults_booleans_false_and_sizes_zero(client, investigation, dataset_type):
    ds = client.new("Dataset", name="d", investigation=investigation, type=dataset_type)
    ds.create()
    fetched = client.get("Dataset", ds.id)
    assert fetched.complete is False
    assert fetched.fileSize == 0 and fetched.fileCount == 0
    inv = client.get("Investigation", investigation.id)
    assert inv.fileSize == 0 and inv.fileCount == 0


def test_dates_are_stored_in_utc_with_milliseconds(client, investigation, dataset_type):
    start = datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    ds = client.new("Dataset", name="d", investigation=investigation, type=dataset_type, startDate=start)
    ds.create()
    fetched = client.get("Dataset", ds.id)
    assert fetched.startDate == start.replace(microsecond=123000)
    assert fetched.startDate.utcoffset() == timedelta(0)
    assert client.search("SELECT d.name FROM Dataset d WHERE d.startDate > '2024-03-01 10:30:15'") == ["d"]


def test_inline_children_are_created_with_their_back_reference(client, investigation, dataset_type):
    ds = client.new("Dataset", name="d", investigation=investigation, type=dataset_type)
    ds.datafiles = [client.new("Datafile", name=f"f{i}", fileSize=i) for i in range(3)]
    ds.create()
    fetched = client.get("Dataset ds INCLUDE ds.datafiles", ds.id)
    assert sorted(df.name for df in fetched.datafiles) == ["f0", "f1", "f2"]
    names = client.search(f"SELECT df.name FROM Datafile df WHERE df.dataset.id = {ds.id} ORDER BY df.name")
    assert names == ["f0", "f1", "f2"]


def test_duplicate_is_object_exists_with_icat_wording(client, investigation):
    with pytest.raises(ICATObjectExistsError, match="^Facility exists with name = 'F'$"):
        client.create(client.new("Facility", name="F"))
    dup = client.new("Investigation", name="I1", visitId="1", title="again",
                     facility=investigation.facility, type=investigation.type)
    with pytest.raises(ICATObjectExistsError) as info:
        dup.create()
    assert str(info.value) == (
        f"Investigation exists with facility = 'Facility:{investigation.facility.id}', name = 'I1', visitId = '1'"
    )


def test_not_null_and_length_are_validation_errors(client, investigation, dataset_type):
    with pytest.raises(ICATValidationError, match=r"^Dataset: name cannot be null\.$"):
        client.new("Dataset", investigation=investigation, type=dataset_type).create()
    with pytest.raises(ICATValidationError, match=r"^Dataset: investigation cannot be null\.$"):
        client.new("Dataset", name="x", type=dataset_type).create()
    with pytest.raises(ICATValidationError, match=r"^Dataset: location cannot have length > 511$"):
        client.new("Dataset", name="x", location="l" * 512, investigation=investigation, type=dataset_type).create()
    with pytest.raises(ICATValidationError, match=r"^Facility: name cannot have length > 255$"):
        client.new("Facility", name="n" * 256).create()


def test_create_many_is_atomic_and_reports_the_offset(server, client, facility):
    beans = [client.new("Facility", name=n) for n in ("A", "B", "F", "C")]
    with pytest.raises(ICATObjectExistsError) as info:
        client.createMany(beans)
    assert info.value.offset == 2
    assert server.service.store.count("Facility") == 1

    beans = [client.new("Facility", name=n) for n in ("A", "B")] + [client.new("Facility")]
    with pytest.raises(ICATValidationError) as info:
        client.createMany(beans)
    assert info.value.offset == 2
    assert server.service.store.count("Facility") == 1

    ids = client.createMany([client.new("Facility", name=n) for n in ("A", "B")])
    assert len(ids) == 2 and ids[0] < ids[1]
    assert server.service.store.count("Facility") == 3


def test_create_many_duplicate_within_the_call(client, facility):
    beans = [client.new("DatasetType", name="t", facility=facility) for _ in range(2)]
    with pytest.raises(ICATObjectExistsError, match=rf"facility = 'id:{facility.id}', name = 't'") as info:
        client.createMany(beans)
    assert info.value.offset == 1


def test_delete_cascades_along_many_relations(server, client, investigation, dataset_type):
    ptype = client.new("ParameterType", name="temp", units="K", valueType="NUMERIC", facility=investigation.facility)
    ptype.create()
    ds = client.new("Dataset", name="d", investigation=investigation, type=dataset_type)
    df = client.new("Datafile", name="f")
    df.parameters = [client.new("DatafileParameter", type=ptype, numericValue=1.5)]
    ds.datafiles = [df]
    ds.parameters = [client.new("DatasetParameter", type=ptype, numericValue=2.0)]
    ds.create()
    store = server.service.store
    assert (store.count("Datafile"), store.count("DatafileParameter"), store.count("DatasetParameter")) == (1, 1, 1)

    client.delete(investigation)
    for entity in ("Investigation", "Dataset", "Datafile", "DatafileParameter", "DatasetParameter"):
        assert store.count(entity) == 0, entity
    # Deleting the parameter type's facility takes the type with it.
    client.delete(investigation.facility)
    assert store.count("ParameterType") == 0


def test_delete_many_is_atomic_with_offset(server, client):
    ids = client.createMany([client.new("Facility", name=n) for n in ("A", "B")])
    beans = [client.new("Facility", id=ids[0]), client.new("Facility", id=999999), client.new("Facility", id=ids[1])]
    with pytest.raises(ICATNoObjectError, match=r"Facility\[id:999999\] not found.") as info:
        client.deleteMany(beans)
    assert info.value.offset == 1
    assert server.service.store.count("Facility") == 2
    client.deleteMany([client.new("Facility", id=i) for i in ids])
    assert server.service.store.count("Facility") == 0


def test_update_rules(client, investigation, dataset_type):
    ds = client.new("Dataset", name="d", investigation=investigation, type=dataset_type, fileCount=5)
    ds.create()
    ds.investigation = None
    with pytest.raises(ICATInternalError, match="Attempt to set field investigation"):
        ds.update()
    ds.investigation = investigation
    ds.name = None
    with pytest.raises(ICATValidationError, match=r"Dataset: name cannot be null\."):
        ds.update()
    ds.name = "renamed"
    ds.fileCount = None  # ICAT's bean defaults it to 0 on unmarshalling
    ds.update()
    fetched = client.get("Dataset", ds.id)
    assert (fetched.name, fetched.fileCount) == ("renamed", 0)
    with pytest.raises(ICATNoObjectError):
        client.update(client.new("Facility", id=424242, name="x"))


def test_enforced_parameter_limits(client, facility, investigation, dataset_type):
    ptype = client.new("ParameterType", name="p", units="u", valueType="NUMERIC", enforced=True,
                       minimumNumericValue=0.0, maximumNumericValue=10.0, facility=facility)
    ptype.create()
    ds = client.new("Dataset", name="d", investigation=investigation, type=dataset_type)
    ds.create()
    with pytest.raises(ICATValidationError, match="Parameter of type p has value 11.0 > 10.0"):
        client.new("DatasetParameter", dataset=ds, type=ptype, numericValue=11.0).create()
    with pytest.raises(ICATValidationError, match="Type of parameter is not set"):
        client.new("DatasetParameter", dataset=ds, numericValue=1.0).create()
    client.new("DatasetParameter", dataset=ds, type=ptype, numericValue=5.0).create()


def test_get_and_search_errors(client, facility):
    with pytest.raises(ICATNoObjectError):
        client.get("Facility", facility.id + 1000)
    with pytest.raises(ICATParameterError):
        client.search("SELECT f FROM Facility f WHERE")
    with pytest.raises(ICATParameterError):
        client.search("SELECT x FROM NoSuchEntity x")


def test_max_entities_is_a_validation_error(client, facility):
    # the server fixture allows 50 entities per answer
    client.createMany([client.new("DatasetType", name=f"t{i}", facility=facility) for i in range(60)])
    assert len(client.search("SELECT t FROM DatasetType t LIMIT 0, 50")) == 50
    with pytest.raises(ICATValidationError, match="more than 50 entities"):
        client.search("SELECT t FROM DatasetType t")
    with pytest.raises(ICATValidationError, match="more than 50 entities"):
        client.get("Facility f INCLUDE f.datasetTypes", facility.id)


def test_dates_without_offset_are_read_in_the_server_time_zone():
    config = Config(users={"root": "pw"}, root_users={"root"}, timezone="Europe/Berlin")
    srv = build_icat_server(config)
    srv.start_background()
    try:
        client = make_client(srv.url, ("root", "pw"))
        facility = client.new("Facility", name="F")
        facility.create()
        winter = client.new("FacilityCycle", name="w", facility=facility, startDate="2019-12-31")
        summer = client.new("FacilityCycle", name="s", facility=facility, startDate="2019-07-01T12:00:00")
        utc = client.new("FacilityCycle", name="u", facility=facility, startDate="2019-07-01T12:00:00Z")
        client.createMany([winter, summer, utc])
        starts = dict(client.search("SELECT c.name, c.startDate FROM FacilityCycle c"))
        assert starts["w"] == datetime(2019, 12, 30, 23, 0, tzinfo=timezone.utc)
        assert starts["s"] == datetime(2019, 7, 1, 10, 0, tzinfo=timezone.utc)
        assert starts["u"] == datetime(2019, 7, 1, 12, 0, tzinfo=timezone.utc)
        client.logout()
    finally:
        srv.stop()
