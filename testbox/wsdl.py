"""The WSDL and XML schema of ICAT's SOAP service, generated from the entity model.

They mirror what JAX-WS generates for icat.server's ``ICAT`` class: namespace
``http://icatproject.org``, document/literal wrapped, unqualified child elements, an
abstract ``entityBaseBean`` (and abstract ``parameter``) with one lowerCamel complex type per
entity, fields in alphabetical order as JAXB writes them.

suds needs the WSDL's ``<types>`` to *import* the schema by an absolute URL; with an inline
schema it cannot resolve ``factory.create("credentials")``. The URL is built from the
request's Host header, so both documents are rendered per request.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from testbox.errors import IcatError
from testbox.model import ENTITIES, ENUMS, PARAMETER_FIELDS, Attr, Entity, is_parameter

NAMESPACE = "http://icatproject.org"

_XSD_TYPES = {
    "String": "xs:string",
    "Integer": "xs:int",
    "Long": "xs:long",
    "Double": "xs:double",
    "boolean": "xs:boolean",
    "Date": "xs:dateTime",
}


def type_name(entity_name: str) -> str:
    """The schema type of an entity or enum: its name in lowerCamel case."""
    return entity_name[0].lower() + entity_name[1:]


#: Schema type name -> entity name, for reading ``xsi:type`` attributes.
ENTITY_BY_TYPE = {type_name(name): name for name in ENTITIES}

#: (operation, request fields, response fields); a field is (name, type, occurrence attrs).
_ONE = 'minOccurs="0"'
_LIST = 'minOccurs="0" maxOccurs="unbounded"'
OPERATIONS: tuple[tuple[str, tuple, tuple], ...] = (
    ("create", (("sessionId", "xs:string", _ONE), ("bean", "tns:entityBaseBean", _ONE)), (("return", "xs:long", ""),)),
    ("createMany", (("sessionId", "xs:string", _ONE), ("beans", "tns:entityBaseBean", _LIST)), (("return", "xs:long", 'minOccurs="0" maxOccurs="unbounded" nillable="true"'),)),
    ("delete", (("sessionId", "xs:string", _ONE), ("bean", "tns:entityBaseBean", _ONE)), ()),
    ("deleteMany", (("sessionId", "xs:string", _ONE), ("beans", "tns:entityBaseBean", _LIST)), ()),
    ("get", (("sessionId", "xs:string", _ONE), ("query", "xs:string", _ONE), ("primaryKey", "xs:long", "")), (("return", "tns:entityBaseBean", _ONE),)),
    ("getApiVersion", (), (("return", "xs:string", _ONE),)),
    ("getAuthenticatorInfo", (), (("return", "tns:authenticatorInfo", _LIST),)),
    ("getEntityInfo", (("beanName", "xs:string", _ONE),), (("return", "tns:entityInfo", _ONE),)),
    ("getEntityNames", (), (("return", "xs:string", _LIST),)),
    ("getProperties", (("sessionId", "xs:string", _ONE),), (("return", "xs:string", _LIST),)),
    ("getRemainingMinutes", (("sessionId", "xs:string", _ONE),), (("return", "xs:double", ""),)),
    ("getUserName", (("sessionId", "xs:string", _ONE),), (("return", "xs:string", _ONE),)),
    ("getVersion", (), (("return", "xs:string", _ONE),)),
    ("isAccessAllowed", (("sessionId", "xs:string", _ONE), ("bean", "tns:entityBaseBean", _ONE), ("accessType", "tns:accessType", _ONE)), (("return", "xs:boolean", ""),)),
    ("login", (("plugin", "xs:string", _ONE), ("credentials", None, "")), (("return", "xs:string", _ONE),)),
    ("logout", (("sessionId", "xs:string", _ONE),), ()),
    ("refresh", (("sessionId", "xs:string", _ONE),), ()),
    ("search", (("sessionId", "xs:string", _ONE), ("query", "xs:string", _ONE)), (("return", "xs:anyType", _LIST),)),
    ("update", (("sessionId", "xs:string", _ONE), ("bean", "tns:entityBaseBean", _ONE)), ()),
)

OPERATION_NAMES = frozenset(op for op, _, _ in OPERATIONS)

# JAX-WS renders java.util.Map<String, String> as an anonymous list of key/value entries.
_CREDENTIALS = """<xs:element name="credentials">
        <xs:complexType>
          <xs:sequence>
            <xs:element name="entry" minOccurs="0" maxOccurs="unbounded">
              <xs:complexType>
                <xs:sequence>
                  <xs:element name="key" minOccurs="0" type="xs:string"/>
                  <xs:element name="value" minOccurs="0" type="xs:string"/>
                </xs:sequence>
              </xs:complexType>
            </xs:element>
          </xs:sequence>
        </xs:complexType>
      </xs:element>"""

_FIXED_TYPES = """
  <xs:complexType name="entityBaseBean" abstract="true">
    <xs:sequence>
      <xs:element name="createId" type="xs:string" minOccurs="0"/>
      <xs:element name="createTime" type="xs:dateTime" minOccurs="0"/>
      <xs:element name="id" type="xs:long" minOccurs="0"/>
      <xs:element name="modId" type="xs:string" minOccurs="0"/>
      <xs:element name="modTime" type="xs:dateTime" minOccurs="0"/>
    </xs:sequence>
  </xs:complexType>
  <xs:complexType name="entityInfo">
    <xs:sequence>
      <xs:element name="classComment" type="xs:string" minOccurs="0"/>
      <xs:element name="constraints" type="tns:constraint" nillable="true" minOccurs="0" maxOccurs="unbounded"/>
      <xs:element name="fields" type="tns:entityField" nillable="true" minOccurs="0" maxOccurs="unbounded"/>
    </xs:sequence>
  </xs:complexType>
  <xs:complexType name="constraint">
    <xs:sequence>
      <xs:element name="fieldNames" type="xs:string" nillable="true" minOccurs="0" maxOccurs="unbounded"/>
    </xs:sequence>
  </xs:complexType>
  <xs:complexType name="entityField">
    <xs:sequence>
      <xs:element name="comment" type="xs:string" minOccurs="0"/>
      <xs:element name="name" type="xs:string" minOccurs="0"/>
      <xs:element name="notNullable" type="xs:boolean"/>
      <xs:element name="relType" type="tns:relType" minOccurs="0"/>
      <xs:element name="stringLength" type="xs:int" minOccurs="0"/>
      <xs:element name="type" type="xs:string" minOccurs="0"/>
    </xs:sequence>
  </xs:complexType>
  <xs:complexType name="authenticatorInfo">
    <xs:sequence>
      <xs:element name="admin" type="xs:boolean"/>
      <xs:element name="friendly" type="xs:string" minOccurs="0"/>
      <xs:element name="keys" type="tns:authenticatorCredentialKey" nillable="true" minOccurs="0" maxOccurs="unbounded"/>
      <xs:element name="mnemonic" type="xs:string" minOccurs="0"/>
    </xs:sequence>
  </xs:complexType>
  <xs:complexType name="authenticatorCredentialKey">
    <xs:sequence>
      <xs:element name="hide" type="xs:boolean"/>
      <xs:element name="name" type="xs:string" minOccurs="0"/>
    </xs:sequence>
  </xs:complexType>
  <xs:complexType name="fieldSet">
    <xs:sequence>
      <xs:element name="fields" type="xs:anyType" nillable="true" minOccurs="0" maxOccurs="unbounded"/>
    </xs:sequence>
  </xs:complexType>
  <xs:complexType name="IcatException">
    <xs:sequence>
      <xs:element name="message" type="xs:string" minOccurs="0"/>
      <xs:element name="offset" type="xs:int"/>
      <xs:element name="type" type="tns:icatExceptionType" minOccurs="0"/>
    </xs:sequence>
  </xs:complexType>"""

_FIXED_ENUMS = {
    "accessType": ("CREATE", "READ", "UPDATE", "DELETE"),
    "relType": ("ATTRIBUTE", "MANY", "ONE"),
    "icatExceptionType": IcatError.TYPES,
}


def attribute_type(attr: Attr) -> str:
    """The schema type of an attribute."""
    if attr.type in ENUMS:
        return "tns:" + type_name(attr.type)
    return _XSD_TYPES[attr.type]


def _field_elements(entity: Entity, names: list[str]) -> list[str]:
    lines = []
    for name in sorted(names):
        attr = entity.attribute(name)
        one = entity.one(name)
        many = entity.many(name)
        if attr is not None:
            # A Java primitive (boolean) is a required element; everything else optional.
            occurs = "" if attr.type == "boolean" else ' minOccurs="0"'
            lines.append(f'<xs:element name="{name}" type="{attribute_type(attr)}"{occurs}/>')
        elif one is not None:
            lines.append(f'<xs:element name="{name}" type="tns:{type_name(one.target)}" minOccurs="0"/>')
        elif many is not None:
            lines.append(
                f'<xs:element name="{name}" type="tns:{type_name(many.target)}" '
                f'nillable="true" minOccurs="0" maxOccurs="unbounded"/>'
            )
    return lines


def _complex_type(name: str, base: str, elements: list[str], abstract: bool = False) -> str:
    body = "\n".join(f"          {e}" for e in elements)
    abstract_attr = ' abstract="true"' if abstract else ""
    return f"""
  <xs:complexType name="{name}"{abstract_attr}>
    <xs:complexContent>
      <xs:extension base="tns:{base}">
        <xs:sequence>
{body}
        </xs:sequence>
      </xs:extension>
    </xs:complexContent>
  </xs:complexType>"""


def _entity_types() -> list[str]:
    types = []
    sample = ENTITIES["DatasetParameter"]
    types.append(_complex_type("parameter", "entityBaseBean", _field_elements(sample, list(PARAMETER_FIELDS)), abstract=True))
    for entity in ENTITIES.values():
        names = [a.name for a in entity.attributes] + [r.name for r in entity.ones] + [m.name for m in entity.manys]
        base = "entityBaseBean"
        if is_parameter(entity):
            base = "parameter"
            names = [n for n in names if n not in PARAMETER_FIELDS]
        types.append(_complex_type(type_name(entity.name), base, _field_elements(entity, names)))
    return types


def _enum_type(name: str, values: tuple[str, ...]) -> str:
    body = "\n".join(f'      <xs:enumeration value="{v}"/>' for v in values)
    return f"""
  <xs:simpleType name="{name}">
    <xs:restriction base="xs:string">
{body}
    </xs:restriction>
  </xs:simpleType>"""


def _wrapper_type(name: str, fields: tuple) -> str:
    elements = []
    for field_name, xsd_type, occurs in fields:
        if xsd_type is None:
            elements.append(_CREDENTIALS)
        else:
            occurs_attr = f" {occurs}" if occurs else ""
            elements.append(f'<xs:element name="{field_name}" type="{xsd_type}"{occurs_attr}/>')
    if not elements:
        return f'\n  <xs:complexType name="{name}">\n    <xs:sequence/>\n  </xs:complexType>'
    body = "\n".join(f"      {e}" for e in elements)
    return f'\n  <xs:complexType name="{name}">\n    <xs:sequence>\n{body}\n    </xs:sequence>\n  </xs:complexType>'


def schema() -> str:
    """The XML schema served at ``?xsd=1``."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<xs:schema xmlns:tns="{NAMESPACE}" xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        f'version="1.0" targetNamespace="{NAMESPACE}">'
    ]
    parts.append('  <xs:element name="IcatException" type="tns:IcatException"/>')
    for op, _, _ in OPERATIONS:
        parts.append(f'  <xs:element name="{op}" type="tns:{op}"/>')
        parts.append(f'  <xs:element name="{op}Response" type="tns:{op}Response"/>')
    for op, request, response in OPERATIONS:
        parts.append(_wrapper_type(op, request))
        parts.append(_wrapper_type(op + "Response", response))
    parts.append(_FIXED_TYPES)
    parts.extend(_entity_types())
    for name, values in _FIXED_ENUMS.items():
        parts.append(_enum_type(name, values))
    for name, values in ENUMS.items():
        parts.append(_enum_type(type_name(name), values))
    parts.append("</xs:schema>\n")
    return "\n".join(parts)


def wsdl(service_url: str) -> str:
    """The WSDL served at ``?wsdl``; ``service_url`` is the absolute endpoint URL."""
    messages, port_ops, binding_ops = [], [], []
    for op, _, _ in OPERATIONS:
        messages.append(
            f'  <message name="{op}"><part name="parameters" element="tns:{op}"/></message>\n'
            f'  <message name="{op}Response"><part name="parameters" element="tns:{op}Response"/></message>'
        )
        port_ops.append(
            f'    <operation name="{op}">\n'
            f'      <input message="tns:{op}"/>\n'
            f'      <output message="tns:{op}Response"/>\n'
            f'      <fault message="tns:IcatException" name="IcatException"/>\n'
            f"    </operation>"
        )
        binding_ops.append(
            f'    <operation name="{op}">\n'
            f'      <soap:operation soapAction=""/>\n'
            f'      <input><soap:body use="literal"/></input>\n'
            f'      <output><soap:body use="literal"/></output>\n'
            f'      <fault name="IcatException"><soap:fault name="IcatException" use="literal"/></fault>\n'
            f"    </operation>"
        )
    schema_url = quoteattr(service_url + "?xsd=1")
    location = quoteattr(service_url)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:tns="{NAMESPACE}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="{NAMESPACE}" name="ICATService">
  <types>
    <xsd:schema>
      <xsd:import namespace="{NAMESPACE}" schemaLocation={schema_url}/>
    </xsd:schema>
  </types>
{chr(10).join(messages)}
  <message name="IcatException"><part name="fault" element="tns:IcatException"/></message>
  <portType name="ICAT">
{chr(10).join(port_ops)}
  </portType>
  <binding name="ICATPortBinding" type="tns:ICAT">
    <soap:binding transport="http://schemas.xmlsoap.org/soap/http" style="document"/>
{chr(10).join(binding_ops)}
  </binding>
  <service name="ICATService">
    <port name="ICATPort" binding="tns:ICATPortBinding">
      <soap:address location={location}/>
    </port>
  </service>
</definitions>
"""
