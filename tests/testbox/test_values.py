"""Values at the edges, as ICAT (JAXB over SOAP, then its database) stores or refuses them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from icat.exception import ICATNoObjectError, ICATParameterError
from lxml import etree
from test_protocol import NS, _envelope, _post


def _create_facility(server, client, fields: str):
    """A create sent as raw SOAP, so the test decides the bytes (not suds' encoder)."""
    body = _envelope(
        f"<ns0:create><sessionId>{client.sessionId}</sessionId>"
        f'<bean xsi:type="ns0:facility" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"{fields}</bean></ns0:create>"
    )
    return _post(server.url, body)


def _fault(response) -> tuple[str, str]:
    detail = etree.fromstring(response.content).find(".//detail/icat:IcatException", NS)
    return detail.findtext("type"), detail.findtext("message")


@pytest.fixture
def facility(client):
    facility = client.new("Facility", name="F")
    facility.create()
    return facility


def test_dates_before_year_1000_are_stored_and_found(client, facility):
    # Oracle and PostgreSQL behind ICAT store them (MySQL would not; PACER refuses them).
    first, late = datetime(1, 1, 1, tzinfo=UTC), datetime(999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    client.new("FacilityCycle", name="c", facility=facility, startDate=first, endDate=late).create()
    (cycle,) = client.search("SELECT c FROM FacilityCycle c WHERE c.startDate < '1000-01-01'")
    assert (cycle.startDate, cycle.endDate) == (first, late)


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "10000-01-01T00:00:00Z", "0000-06-01T00:00:00Z"])
def test_dates_no_database_holds_are_refused_as_icat_reports_a_failing_write(server, client, facility, moment):
    cycle = (f"<ns0:create><sessionId>{client.sessionId}</sessionId>"
             f'<bean xsi:type="ns0:facilityCycle" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
             f"<name>c</name><startDate>{moment}</startDate><facility><id>{facility.id}</id></facility>"
             "</bean></ns0:create>")
    response = _post(server.url, _envelope(cycle))
    assert response.status_code == 500
    kind, message = _fault(response)
    assert kind == "INTERNAL" and message.startswith("Unexpected DB response"), message
    assert client.search("SELECT c FROM FacilityCycle c") == []


def test_a_long_beyond_64_bits_is_dropped_as_jaxb_drops_it(client, facility):
    itype = client.new("InvestigationType", name="t", facility=facility)
    itype.create()
    sizes = {"beyond": 2**63, "largest": 2**63 - 1, "smallest": -(2**63)}
    for name, size in sizes.items():
        client.new("Investigation", name=name, visitId="1", title="t", facility=facility, type=itype,
                   fileSize=size).create()
    stored = {i.name: i.fileSize for i in client.search("SELECT i FROM Investigation i")}
    # JAXB's default event handler ignores the NumberFormatException: fileSize keeps its 0.
    assert stored == {"beyond": 0, "largest": 2**63 - 1, "smallest": -(2**63)}


def test_an_int_beyond_32_bits_wraps_as_jaxb_reads_it(client):
    client.new("Facility", name="W", daysUntilRelease=2**31 + 5).create()
    (facility,) = client.search("SELECT f FROM Facility f WHERE f.name = 'W'")
    assert facility.daysUntilRelease == -(2**31) + 5


def test_a_primary_key_beyond_64_bits_finds_nothing(client, facility):
    with pytest.raises(ICATNoObjectError):
        client.get("Facility", 2**64)


def test_raw_carriage_returns_arrive_as_line_feeds_and_escaped_ones_as_themselves(server, client):
    # XML 1.0 end-of-line handling, which JAXB's parser applies in ICAT as lxml does here.
    response = _create_facility(server, client, "<name>F</name><description>a\r\nb\rc&#13;d\te</description>")
    assert response.status_code == 200, response.text
    (facility,) = client.search("SELECT f FROM Facility f")
    assert facility.description == "a\nb\nc\rd\te"


def test_entities_are_decoded_once(server, client):
    response = _create_facility(server, client, "<name>R&amp;amp;D &amp;#38; &#38; &lt;b&gt;</name>")
    assert response.status_code == 200, response.text
    (facility,) = client.search("SELECT f FROM Facility f")
    assert facility.name == "R&amp;D &#38; & <b>"


def test_a_query_date_in_year_0_is_a_bad_parameter(client):
    # The query language compares dates with text; 0001-01-01T00:00+01:00 is in year 0 in UTC.
    with pytest.raises(ICATParameterError):
        client.search("SELECT c FROM FacilityCycle c WHERE c.startDate < '0001-01-01 00:00:00+01:00'")
