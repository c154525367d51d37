"""The SOAP endpoint: decode a request envelope, call the service, encode the answer.

Requests are parsed with a hardened lxml parser (no entity expansion, no DTD loading, no
network, no huge trees). What suds sends and how it is read:

- beans carry ``xsi:type`` (``ns0:dataset``); nested ones may not, and then the element's
  declared type (the relation target) is used;
- ONE relations arrive as whole or partial objects: only their ``id`` counts;
- MANY relations arrive inline and are created with the bean;
- unset booleans arrive as empty elements and mean false;
- dates may come with or without a UTC offset (without: the server's time zone, UTC by
  default, as JAXB reads them in the JVM's zone); years 1 to 9999 (in UTC) are stored,
  others are refused as ICAT reports a database refusing a value;
- a long or int JAXB cannot read (beyond 64 bits, say) is dropped, as JAXB's default
  event handler drops it, and the attribute keeps its default;
- text is what the XML parser delivers: a raw carriage return arrives as a line feed
  (XML end-of-line handling, as in ICAT's JAXB); ``&#13;`` arrives as a carriage return.

Answers put ``xsi:type`` on every value whose declared type is ``anyType`` or an entity,
``xsi:nil`` for nulls, and dates in UTC with ``Z``. Faults are HTTP 500 with ICAT's
``IcatException{message, offset, type}`` detail.

``RequestCounts`` counts the requests of each operation handled (the server's
``/testbox/requests`` hook), so that benchmarks can count the ICAT calls a client makes.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from datetime import MAXYEAR, MINYEAR, datetime, timedelta, timezone, tzinfo
from typing import Any, Callable

from lxml import etree

from testbox.errors import IcatError
from testbox.model import BASE_ATTRIBUTES, ENTITIES, ENUMS, PARAMETER_FIELDS, Attr, Bean, is_parameter
from testbox.service import IcatService
from testbox.wsdl import ENTITY_BY_TYPE, NAMESPACE, OPERATION_NAMES, type_name

log = logging.getLogger(__name__)

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XS = "http://www.w3.org/2001/XMLSchema"
_XSI_TYPE = f"{{{XSI}}}type"
_XSI_NIL = f"{{{XSI}}}nil"
_NSMAP = {"S": SOAP_ENV, "ns2": NAMESPACE, "xsi": XSI, "xs": XS}

_PARSERS = threading.local()


def _parser() -> etree.XMLParser:
    """This thread's hardened parser (lxml parsers must not be shared between threads)."""
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
        )
        _PARSERS.parser = parser
    return parser


# xs:dateTime, or an xs:date, which JAXB also accepts for a dateTime (as midnight)
_DATETIME = re.compile(
    r"^\s*(-?\d{4,})-(\d\d)-(\d\d)(?:T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?)?(Z|[+-]\d\d:\d\d)?\s*$"
)


class SoapFault(Exception):
    """A fault that is not an IcatException (unreadable request, unknown operation)."""

    def __init__(self, message: str, code: str = "Client") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# ====================================================================== decoding


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _children(elem: etree._Element) -> list[etree._Element]:
    return [c for c in elem if isinstance(c.tag, str)]


def _is_nil(elem: etree._Element) -> bool:
    return elem.get(_XSI_NIL) in ("true", "1")


def _child(elem: etree._Element, name: str) -> etree._Element | None:
    return next((c for c in _children(elem) if _local(c.tag) == name), None)


def _text(elem: etree._Element | None) -> str | None:
    if elem is None or _is_nil(elem):
        return None
    return elem.text or ""


def _unstorable_date(text: str) -> IcatError:
    # JAXB reads any year; the database refuses what it cannot hold, and ICAT reports a
    # failing flush this way (EntityBeanManager). MySQL/MariaDB hold 1000-9999 only:
    # the testbox stores years 1-9999, as Oracle and PostgreSQL do.
    return IcatError(
        "INTERNAL",
        f"Unexpected DB response: the database cannot store the date '{text.strip()[:40]}' "
        "(years 1 to 9999 in UTC)",
    )


def parse_datetime(text: str, local: tzinfo = timezone.utc) -> datetime:
    """An xs:dateTime (or xs:date) as an aware UTC datetime.

    Without an offset the value is in ``local``, the server's time zone, as JAXB reads it.
    """
    m = _DATETIME.match(text)
    if m is None:
        raise IcatError("BAD_PARAMETER", f"Invalid dateTime value '{text}'")
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    if not MINYEAR <= int(year) <= MAXYEAR:
        raise _unstorable_date(text)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    value = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro)
    if zone is None:
        value = value.replace(tzinfo=local)
    elif zone == "Z":
        value = value.replace(tzinfo=timezone.utc)
    else:
        sign = 1 if zone[0] == "+" else -1
        value = value.replace(tzinfo=timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))))
    try:
        value = value.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is in year 0 in UTC
        raise _unstorable_date(text) from None
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


_JAVA_LONG = re.compile(r"[+-]?\d+")
_LONG_RANGE = range(-(2**63), 2**63)


def java_long(text: str) -> int | None:
    """An xs:long as JAXB reads it (``Long.parseLong``), or None where JAXB cannot.

    JAXB's default event handler ignores a conversion error: the value is dropped and
    the field keeps its default (a Datafile's fileSize 0, most others null).
    """
    stripped = text.strip()
    if not _JAVA_LONG.fullmatch(stripped):
        return None
    value = int(stripped)
    return value if value in _LONG_RANGE else None


def java_int(text: str) -> int | None:
    """An xs:int as JAXB reads it (``DatatypeConverterImpl._parseInt``), or None where it cannot.

    JAXB's parser takes digits and signs anywhere and wraps around 32 bits; any other
    character makes it fail, and the value is dropped (as in ``java_long``).
    """
    digits = "".join(ch for ch in text if not ch.isspace())
    if not digits or any(ch not in "0123456789+-" for ch in digits):
        return None
    value = int("".join(ch for ch in digits if ch.isdigit()) or "0")
    if "-" in digits:
        value = -value
    return (value + 2**31) % 2**32 - 2**31


def _parse_value(attr: Attr, elem: etree._Element, entity: str, local: tzinfo) -> Any:
    text = _text(elem)
    if text is None:
        return None
    try:
        if attr.type == "String":
            return text
        if attr.type == "boolean":
            return text.strip() in ("true", "1")
        if not text.strip():
            return None
        if attr.type == "Long":
            return java_long(text)
        if attr.type == "Integer":
            return java_int(text)
        if attr.type == "Double":
            return float(text.strip())
        if attr.type == "Date":
            return parse_datetime(text, local)
    except ValueError:
        raise IcatError("BAD_PARAMETER", f"Invalid value '{text}' for {entity}.{attr.name}") from None
    value = text.strip()
    if value not in ENUMS[attr.type]:
        raise IcatError("BAD_PARAMETER", f"Invalid value '{value}' for {entity}.{attr.name}")
    return value


def _xsi_type(elem: etree._Element) -> str | None:
    value = elem.get(_XSI_TYPE)
    if value is None:
        return None
    return value.split(":", 1)[-1]


def parse_bean(elem: etree._Element, local: tzinfo, declared: str | None = None) -> Bean:
    """A bean element (with its inline MANY children) as a Bean; ``local``: see parse_datetime."""
    type_ = _xsi_type(elem)
    entity_name = ENTITY_BY_TYPE.get(type_) if type_ else declared
    if entity_name is None:
        raise IcatError("BAD_PARAMETER", f"{type_ or 'untyped bean'} is not an ICAT entity")
    entity = ENTITIES[entity_name]
    bean = Bean(entity_name)
    for child in _children(elem):
        name = _local(child.tag)
        if name == "id":
            text = _text(child)
            bean.values["id"] = java_long(text) if text else None
        elif name in BASE_ATTRIBUTES:
            continue  # set by the server, as in ICAT's create and update
        elif (attr := entity.attribute(name)) is not None:
            bean.values[name] = _parse_value(attr, child, entity_name, local)
        elif (one := entity.one(name)) is not None:
            bean.ones[name] = None if _is_nil(child) else _parse_reference(child, one.target)
        elif (many := entity.many(name)) is not None:
            if not _is_nil(child):
                bean.manys.setdefault(name, []).append(parse_bean(child, local, many.target))
    return bean


def _parse_reference(elem: etree._Element, declared: str) -> Bean:
    type_ = _xsi_type(elem)
    target = ENTITY_BY_TYPE.get(type_, declared) if type_ else declared
    id_text = _text(_child(elem, "id"))
    return Bean(target, {"id": java_long(id_text) if id_text else None})


def _required_bean(request: etree._Element, local: tzinfo, name: str = "bean") -> Bean:
    elem = _child(request, name)
    if elem is None or _is_nil(elem):
        raise IcatError("BAD_PARAMETER", f"{name} must not be null")
    return parse_bean(elem, local)


def _beans(request: etree._Element, local: tzinfo) -> list[Bean]:
    return [parse_bean(e, local) for e in _children(request) if _local(e.tag) == "beans" and not _is_nil(e)]


def _credentials(request: etree._Element) -> dict[str, str]:
    result: dict[str, str] = {}
    creds = _child(request, "credentials")
    if creds is None:
        return result
    for entry in _children(creds):
        key = _text(_child(entry, "key"))
        if key is not None:
            result[key] = _text(_child(entry, "value")) or ""
    return result


# ====================================================================== encoding


def format_datetime(value: datetime) -> str:
    # isoformat pads years to four digits (strftime's %Y does not on every platform).
    return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat("T", "milliseconds") + "Z"


def _format_double(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    return repr(value)


def _format_scalar(value: Any) -> tuple[str, str]:
    """(xs type, text) of a plain value."""
    if isinstance(value, bool):
        return "xs:boolean", "true" if value else "false"
    if isinstance(value, int):
        return "xs:long", str(value)
    if isinstance(value, float):
        return "xs:double", _format_double(value)
    if isinstance(value, datetime):
        return "xs:dateTime", format_datetime(value)
    return "xs:string", str(value)


def _add_text(parent: etree._Element, name: str, text: str) -> etree._Element:
    elem = etree.SubElement(parent, name)
    elem.text = text
    return elem


def _add_any(parent: etree._Element, name: str, value: Any) -> None:
    """A value of declared type anyType: an entity, a fieldSet, a scalar or nil."""
    if value is None:
        etree.SubElement(parent, name, {_XSI_NIL: "true"})
    elif isinstance(value, Bean):
        _add_bean(parent, name, value)
    elif isinstance(value, (list, tuple)):
        elem = etree.SubElement(parent, name, {_XSI_TYPE: "ns2:fieldSet"})
        for item in value:
            _add_any(elem, "fields", item)
    else:
        xs_type, text = _format_scalar(value)
        _add_text(parent, name, text).set(_XSI_TYPE, xs_type)


def _bean_field_order(entity_name: str) -> list[str]:
    """Field order as JAXB writes it: inherited fields first, each class's sorted by name."""
    entity = ENTITIES[entity_name]
    names = [a.name for a in entity.attributes] + [r.name for r in entity.ones] + [m.name for m in entity.manys]
    if is_parameter(entity):
        return sorted(PARAMETER_FIELDS) + sorted(n for n in names if n not in PARAMETER_FIELDS)
    return sorted(names)


_FIELD_ORDER = {name: _bean_field_order(name) for name in ENTITIES}
_META_ORDER = ("createId", "createTime", "id", "modId", "modTime")


def _add_bean(parent: etree._Element, name: str, bean: Bean) -> None:
    entity = ENTITIES[bean.entity]
    elem = etree.SubElement(parent, name, {_XSI_TYPE: "ns2:" + type_name(bean.entity)})
    for field in _META_ORDER:
        value = bean.values.get(field)
        if value is not None:
            _add_text(elem, field, _format_scalar(value)[1])
    for field in _FIELD_ORDER[bean.entity]:
        if entity.attribute(field) is not None:
            value = bean.values.get(field)
            if value is not None:
                _add_text(elem, field, _format_scalar(value)[1])
        elif entity.one(field) is not None:
            ref = bean.ones.get(field)
            if ref is not None:
                _add_bean(elem, field, ref)
        else:
            for child in bean.manys.get(field) or []:
                _add_bean(elem, field, child)


def _add_entity_info(parent: etree._Element, info: dict[str, Any]) -> None:
    elem = etree.SubElement(parent, "return")
    # An empty <constraints/> would crash python-icat's type map builder: omit when none.
    for constraint in info["constraints"]:
        c = etree.SubElement(elem, "constraints")
        for field in constraint:
            _add_text(c, "fieldNames", field)
    for field in info["fields"]:
        f = etree.SubElement(elem, "fields")
        _add_text(f, "name", field["name"])
        _add_text(f, "notNullable", "true" if field["notNullable"] else "false")
        _add_text(f, "relType", field["relType"])
        if field["stringLength"] is not None:
            _add_text(f, "stringLength", str(field["stringLength"]))
        _add_text(f, "type", field["type"])


def _add_authenticators(parent: etree._Element, infos: list[dict[str, Any]]) -> None:
    for info in infos:
        elem = etree.SubElement(parent, "return")
        _add_text(elem, "admin", "true" if info["admin"] else "false")
        if info["friendly"] is not None:
            _add_text(elem, "friendly", info["friendly"])
        for key in info["keys"]:
            k = etree.SubElement(elem, "keys")
            _add_text(k, "hide", "true" if key["hide"] else "false")
            _add_text(k, "name", key["name"])
        _add_text(elem, "mnemonic", info["mnemonic"])


def _envelope() -> tuple[etree._Element, etree._Element]:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap=_NSMAP)
    body = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
    return envelope, body


def _serialize(envelope: etree._Element) -> bytes:
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def icat_fault(error: IcatError) -> bytes:
    envelope, body = _envelope()
    fault = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    _add_text(fault, "faultcode", "S:Server")
    _add_text(fault, "faultstring", error.message)
    detail = etree.SubElement(fault, "detail")
    exc = etree.SubElement(detail, f"{{{NAMESPACE}}}IcatException")
    _add_text(exc, "message", error.message)
    _add_text(exc, "offset", str(error.offset))
    _add_text(exc, "type", error.type)
    return _serialize(envelope)


def plain_fault(fault: SoapFault) -> bytes:
    envelope, body = _envelope()
    elem = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    _add_text(elem, "faultcode", f"S:{fault.code}")
    _add_text(elem, "faultstring", fault.message)
    return _serialize(envelope)


# ====================================================================== dispatch


def _scalar_return(kind: str) -> Callable[[etree._Element, Any], None]:
    def add(response: etree._Element, value: Any) -> None:
        if kind == "list":
            for item in value:
                _add_text(response, "return", _format_scalar(item)[1])
        elif value is not None:
            _add_text(response, "return", _format_scalar(value)[1])

    return add


def _no_return(response: etree._Element, value: Any) -> None:
    return None


def _search_return(response: etree._Element, results: list) -> None:
    for item in results:
        _add_any(response, "return", item)


def _get_return(response: etree._Element, bean: Bean) -> None:
    _add_bean(response, "return", bean)


def _session(request: etree._Element) -> str | None:
    return _text(_child(request, "sessionId"))


def _primary_key(request: etree._Element) -> int:
    text = _text(_child(request, "primaryKey"))
    key = java_long(text) if text else None
    if key is None:
        # A primitive long: JAXB leaves 0 where it cannot read one, and ICAT finds nothing.
        return 0
    return key


# operation -> (call the service with the request element, add the result to the response)
_HANDLERS: dict[str, tuple[Callable[[IcatService, etree._Element], Any], Callable[[etree._Element, Any], None]]] = {
    "getApiVersion": (lambda s, r: s.get_api_version(), _scalar_return("one")),
    "getVersion": (lambda s, r: s.get_api_version(), _scalar_return("one")),
    "getEntityNames": (lambda s, r: s.get_entity_names(), _scalar_return("list")),
    "getEntityInfo": (lambda s, r: s.get_entity_info(_text(_child(r, "beanName"))), _add_entity_info),
    "getAuthenticatorInfo": (lambda s, r: s.get_authenticator_info(), _add_authenticators),
    "login": (lambda s, r: s.login(_text(_child(r, "plugin")), _credentials(r)), _scalar_return("one")),
    "logout": (lambda s, r: s.logout(_session(r)), _no_return),
    "refresh": (lambda s, r: s.refresh(_session(r)), _no_return),
    "getRemainingMinutes": (lambda s, r: s.get_remaining_minutes(_session(r)), _scalar_return("one")),
    "getUserName": (lambda s, r: s.get_user_name(_session(r)), _scalar_return("one")),
    "getProperties": (lambda s, r: s.get_properties(_session(r)), _scalar_return("list")),
    "search": (lambda s, r: s.search(_session(r), _text(_child(r, "query"))), _search_return),
    "get": (lambda s, r: s.get(_session(r), _text(_child(r, "query")), _primary_key(r)), _get_return),
    "create": (lambda s, r: s.create(_session(r), _required_bean(r, s.config.zone)), _scalar_return("one")),
    "createMany": (lambda s, r: s.create_many(_session(r), _beans(r, s.config.zone)), _scalar_return("list")),
    "update": (lambda s, r: s.update(_session(r), _required_bean(r, s.config.zone)), _no_return),
    "delete": (lambda s, r: s.delete(_session(r), _required_bean(r, s.config.zone)), _no_return),
    "deleteMany": (lambda s, r: s.delete_many(_session(r), _beans(r, s.config.zone)), _no_return),
    "isAccessAllowed": (
        lambda s, r: s.is_access_allowed(
            _session(r), _required_bean(r, s.config.zone), _text(_child(r, "accessType"))
        ),
        _scalar_return("one"),
    ),
}
assert set(_HANDLERS) == OPERATION_NAMES


def _operation(body: bytes) -> etree._Element:
    try:
        envelope = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as e:
        raise SoapFault(f"Couldn't parse SOAP message: {e}") from None
    if envelope.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapFault("Not a SOAP 1.1 envelope")
    soap_body = next((c for c in _children(envelope) if c.tag == f"{{{SOAP_ENV}}}Body"), None)
    if soap_body is None or not _children(soap_body):
        raise SoapFault("SOAP envelope without a body")
    return _children(soap_body)[0]


class RequestCounts:
    """How many requests of each SOAP operation were handled, faults included: a call
    ICAT refused cost a round trip all the same. Requests that name no operation (an
    unreadable envelope, an unknown operation) are not counted, so the keys stay ICAT's
    operation names whatever clients send."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(sorted(_HANDLERS), 0)

    def add(self, operation: str) -> None:
        with self._lock:
            self._counts[operation] += 1

    def snapshot(self) -> dict[str, int]:
        """Every operation's count so far (zero for those never called)."""
        with self._lock:
            return dict(self._counts)


def handle(service: IcatService, body: bytes, counts: RequestCounts | None = None) -> tuple[int, bytes]:
    """Answer one SOAP request: (HTTP status, response envelope); count it in ``counts``."""
    try:
        request = _operation(body)
        name = _local(request.tag)
        if etree.QName(request.tag).namespace != NAMESPACE or name not in _HANDLERS:
            raise SoapFault(f"Cannot find dispatch method for {{{etree.QName(request.tag).namespace}}}{name}")
        if counts is not None:
            counts.add(name)
        call, add_result = _HANDLERS[name]
        result = call(service, request)
        envelope, soap_body = _envelope()
        response = etree.SubElement(soap_body, f"{{{NAMESPACE}}}{name}Response")
        add_result(response, result)
        return 200, _serialize(envelope)
    except IcatError as e:
        return 500, icat_fault(e)
    except SoapFault as e:
        return 500, plain_fault(e)
    except Exception as e:  # a bug in the testbox: report it as ICAT reports its own
        log.exception("internal error")
        return 500, icat_fault(IcatError("INTERNAL", f"{type(e).__name__}: {e}"))
