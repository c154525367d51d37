"""The SOAP wire format itself: WSDL, schema, faults and hostile requests."""

from __future__ import annotations

import requests
from lxml import etree

from testbox.server import SERVICE_PATH

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
NS = {"S": SOAP, "icat": "http://icatproject.org", "xs": "http://www.w3.org/2001/XMLSchema",
      "wsdl": "http://schemas.xmlsoap.org/wsdl/"}


def _post(url: str, body: str) -> requests.Response:
    return requests.post(url + SERVICE_PATH, data=body.encode("utf-8"),
                         headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=10)


def _envelope(inner: str) -> str:
    return (f'<S:Envelope xmlns:S="{SOAP}" xmlns:ns0="http://icatproject.org">'
            f"<S:Body>{inner}</S:Body></S:Envelope>")


def test_wsdl_imports_the_schema_by_absolute_url_from_the_host_header(server):
    response = requests.get(server.url + SERVICE_PATH + "?wsdl", headers={"Host": "icat.example:1234"}, timeout=10)
    assert response.status_code == 200
    doc = etree.fromstring(response.content)
    imports = doc.findall("wsdl:types/xs:schema/xs:import", NS)
    assert [i.get("schemaLocation") for i in imports] == ["http://icat.example:1234/ICATService/ICAT?xsd=1"]
    assert doc.find("wsdl:types/xs:schema/xs:complexType", NS) is None
    ops = {op.get("name") for op in doc.findall("wsdl:portType/wsdl:operation", NS)}
    assert {"login", "search", "get", "create", "createMany", "deleteMany", "isAccessAllowed"} <= ops


def test_schema_is_valid_xsd_with_abstract_bases(server):
    response = requests.get(server.url + SERVICE_PATH + "?xsd=1", timeout=10)
    doc = etree.fromstring(response.content)
    etree.XMLSchema(doc)  # raises if the schema is not a valid XML Schema
    abstract = {t.get("name") for t in doc.findall("xs:complexType[@abstract='true']", NS)}
    assert abstract == {"entityBaseBean", "parameter"}
    dataset = doc.find("xs:complexType[@name='dataset']", NS)
    assert dataset.find(".//xs:extension", NS).get("base") == "tns:entityBaseBean"


def test_fault_is_http_500_with_icat_exception_detail(server):
    response = _post(server.url, _envelope("<ns0:getUserName><sessionId>nope</sessionId></ns0:getUserName>"))
    assert response.status_code == 500
    detail = etree.fromstring(response.content).find(".//detail/icat:IcatException", NS)
    assert detail.findtext("type") == "SESSION"
    assert detail.findtext("offset") == "-1"
    assert detail.findtext("message") == "Unable to find user by sessionid: nope"


def test_search_results_carry_xsi_types(server, client):
    client.new("Facility", name="F", daysUntilRelease=7).create()
    body = _envelope(f"<ns0:search><sessionId>{client.sessionId}</sessionId>"
                     "<query>SELECT f.name, f.daysUntilRelease, f.url FROM Facility f</query></ns0:search>")
    response = _post(server.url, body)
    assert response.status_code == 200
    xsi = "{http://www.w3.org/2001/XMLSchema-instance}"
    (ret,) = etree.fromstring(response.content).findall(".//return")
    assert ret.get(xsi + "type").endswith(":fieldSet")
    fields = ret.findall("fields")
    assert [f.get(xsi + "type") for f in fields[:2]] == ["xs:string", "xs:long"]
    assert fields[2].get(xsi + "nil") == "true"


def test_external_entities_are_not_resolved(server, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t-xxe-marker")
    body = (f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
            + _envelope("<ns0:getUserName><sessionId>&x;</sessionId></ns0:getUserName>"))
    response = _post(server.url, body)
    assert response.status_code == 500
    assert "s3cr3t-xxe-marker" not in response.text


def test_garbage_and_unknown_operations_are_faults_not_crashes(server):
    assert _post(server.url, "this is not xml").status_code == 500
    response = _post(server.url, _envelope("<ns0:dropTables/>"))
    assert response.status_code == 500
    assert etree.fromstring(response.content).find(".//faultstring") is not None
    # the server still answers afterwards
    ok = _post(server.url, _envelope("<ns0:getApiVersion/>"))
    assert etree.fromstring(ok.content).findtext(".//return") == "6.2.0"
