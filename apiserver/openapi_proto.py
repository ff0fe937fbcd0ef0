"""The protobuf form of an OpenAPI v2 document: gnostic's `openapi.v2.Document`, built from the JSON form.

kubectl 1.27 and 1.28 fetch `/openapi/v2` as `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`
and parse it into gnostic's messages (google/gnostic openapiv2/OpenAPIv2.proto). The messages this server
needs are declared below, with the field names and numbers of that file, and turned into a descriptor pool
at first use; no generated code. `to_message` follows gnostic's `ParseDocument`: `$ref` schemas keep only
their reference, description and extensions, a parameter is a body, query or path parameter, and vendor extensions
(`x-…`) and enum values are `Any` messages holding the value as YAML, as gnostic writes them.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

from apiserver.schema import JSON

PACKAGE = "openapi.v2"
STRING, BOOL, INT64, DOUBLE = "string", "bool", "int64", "double"

# message -> fields (name, number, type, repeated); a type that is not a scalar names a message in PACKAGE.
# Fields this server never writes are left out (e.g. Any's google.protobuf.Any `value` = 1, xml, examples).
MESSAGES: dict[str, tuple[tuple[str, int, str, bool], ...]] = {
    "AdditionalPropertiesItem": (("schema", 1, "Schema", False), ("boolean", 2, BOOL, False)),
    "Any": (("yaml", 2, STRING, False),),
    "ApiKeySecurity": (("type", 1, STRING, False), ("name", 2, STRING, False), ("in", 3, STRING, False),
                       ("description", 4, STRING, False)),
    "BodyParameter": (("description", 1, STRING, False), ("name", 2, STRING, False), ("in", 3, STRING, False),
                      ("required", 4, BOOL, False), ("schema", 5, "Schema", False)),
    "Definitions": (("additional_properties", 1, "NamedSchema", True),),
    "Document": (("swagger", 1, STRING, False), ("info", 2, "Info", False), ("host", 3, STRING, False),
                 ("base_path", 4, STRING, False), ("schemes", 5, STRING, True), ("consumes", 6, STRING, True),
                 ("produces", 7, STRING, True), ("paths", 8, "Paths", False),
                 ("definitions", 9, "Definitions", False), ("parameters", 10, "ParameterDefinitions", False),
                 ("security", 12, "SecurityRequirement", True),
                 ("security_definitions", 13, "SecurityDefinitions", False)),
    "Info": (("title", 1, STRING, False), ("version", 2, STRING, False), ("description", 3, STRING, False)),
    "ItemsItem": (("schema", 1, "Schema", True),),
    "JsonReference": (("_ref", 1, STRING, False), ("description", 2, STRING, False)),
    "NamedAny": (("name", 1, STRING, False), ("value", 2, "Any", False)),
    "NamedParameter": (("name", 1, STRING, False), ("value", 2, "Parameter", False)),
    "NamedPathItem": (("name", 1, STRING, False), ("value", 2, "PathItem", False)),
    "NamedResponseValue": (("name", 1, STRING, False), ("value", 2, "ResponseValue", False)),
    "NamedSchema": (("name", 1, STRING, False), ("value", 2, "Schema", False)),
    "NamedSecurityDefinitionsItem": (("name", 1, STRING, False), ("value", 2, "SecurityDefinitionsItem", False)),
    "NamedStringArray": (("name", 1, STRING, False), ("value", 2, "StringArray", False)),
    "NonBodyParameter": (("query_parameter_sub_schema", 3, "QueryParameterSubSchema", False),
                         ("path_parameter_sub_schema", 4, "PathParameterSubSchema", False)),
    "Operation": (("tags", 1, STRING, True), ("summary", 2, STRING, False), ("description", 3, STRING, False),
                  ("operation_id", 5, STRING, False), ("produces", 6, STRING, True), ("consumes", 7, STRING, True),
                  ("parameters", 8, "ParametersItem", True), ("responses", 9, "Responses", False),
                  ("schemes", 10, STRING, True), ("deprecated", 11, BOOL, False),
                  ("vendor_extension", 13, "NamedAny", True)),
    "Parameter": (("body_parameter", 1, "BodyParameter", False), ("non_body_parameter", 2, "NonBodyParameter", False)),
    "ParameterDefinitions": (("additional_properties", 1, "NamedParameter", True),),
    "ParametersItem": (("parameter", 1, "Parameter", False), ("json_reference", 2, "JsonReference", False)),
    "PathItem": (("_ref", 1, STRING, False), ("get", 2, "Operation", False), ("put", 3, "Operation", False),
                 ("post", 4, "Operation", False), ("delete", 5, "Operation", False),
                 ("options", 6, "Operation", False), ("head", 7, "Operation", False),
                 ("patch", 8, "Operation", False), ("parameters", 9, "ParametersItem", True)),
    "PathParameterSubSchema": (("required", 1, BOOL, False), ("in", 2, STRING, False),
                               ("description", 3, STRING, False), ("name", 4, STRING, False),
                               ("type", 5, STRING, False), ("format", 6, STRING, False),
                               ("unique_items", 19, BOOL, False)),
    "Paths": (("vendor_extension", 1, "NamedAny", True), ("path", 2, "NamedPathItem", True)),
    "Properties": (("additional_properties", 1, "NamedSchema", True),),
    "QueryParameterSubSchema": (("required", 1, BOOL, False), ("in", 2, STRING, False),
                                ("description", 3, STRING, False), ("name", 4, STRING, False),
                                ("type", 6, STRING, False), ("format", 7, STRING, False),
                                ("unique_items", 20, BOOL, False)),
    "Response": (("description", 1, STRING, False), ("schema", 2, "SchemaItem", False)),
    "ResponseValue": (("response", 1, "Response", False), ("json_reference", 2, "JsonReference", False)),
    "Responses": (("response_code", 1, "NamedResponseValue", True), ("vendor_extension", 2, "NamedAny", True)),
    "Schema": (("_ref", 1, STRING, False), ("format", 2, STRING, False), ("title", 3, STRING, False),
               ("description", 4, STRING, False), ("default", 5, "Any", False), ("maximum", 7, DOUBLE, False),
               ("minimum", 9, DOUBLE, False), ("max_length", 11, INT64, False), ("min_length", 12, INT64, False),
               ("pattern", 13, STRING, False), ("max_items", 14, INT64, False), ("min_items", 15, INT64, False),
               ("unique_items", 16, BOOL, False), ("required", 19, STRING, True), ("enum", 20, "Any", True),
               ("additional_properties", 21, "AdditionalPropertiesItem", False), ("type", 22, "TypeItem", False),
               ("items", 23, "ItemsItem", False), ("all_of", 24, "Schema", True),
               ("properties", 25, "Properties", False), ("read_only", 27, BOOL, False),
               ("vendor_extension", 31, "NamedAny", True)),
    "SchemaItem": (("schema", 1, "Schema", False),),
    "SecurityDefinitions": (("additional_properties", 1, "NamedSecurityDefinitionsItem", True),),
    "SecurityDefinitionsItem": (("api_key_security", 2, "ApiKeySecurity", False),),
    "SecurityRequirement": (("additional_properties", 1, "NamedStringArray", True),),
    "StringArray": (("value", 1, STRING, True),),
    "TypeItem": (("value", 1, STRING, True),),
}
# The messages whose fields are alternatives (`oneof oneof` in gnostic's file).
ONEOF = frozenset({"AdditionalPropertiesItem", "NonBodyParameter", "Parameter", "ParametersItem", "ResponseValue",
                   "SchemaItem", "SecurityDefinitionsItem"})
PLAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._/, -]*[A-Za-z0-9._/,-])?")  # no ": " or " #" in it
NUMBER = re.compile(r"[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0x[0-9a-fA-F]+|0o[0-7]+")
YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"})
SCALARS = {
    STRING: descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    BOOL: descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
    INT64: descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    DOUBLE: descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE,
}


Fields = tuple[tuple[str, int, str, bool], ...]


def file_descriptor(path: str, package: str, messages: Mapping[str, Fields],
                    oneof: frozenset[str]) -> descriptor_pb2.FileDescriptorProto:
    """A proto3 file of `messages` (name -> fields) in `package`; the fields of those in `oneof` are alternatives."""
    file = descriptor_pb2.FileDescriptorProto(name=path, package=package, syntax="proto3")
    for name, fields in messages.items():
        message = file.message_type.add(name=name)
        if name in oneof:
            message.oneof_decl.add(name="oneof")
        for field_name, number, kind, repeated in fields:
            field = message.field.add(name=field_name, number=number, json_name=field_name)
            field.label = field.LABEL_REPEATED if repeated else field.LABEL_OPTIONAL
            if kind in SCALARS:
                field.type = SCALARS[kind]
            else:
                field.type = field.TYPE_MESSAGE
                field.type_name = f".{package}.{kind}"
            if name in oneof:
                field.oneof_index = 0
    return file


@functools.cache
def message_class(name: str) -> type[Message]:
    """The class of gnostic message `name` ("Document", "Schema", …), from a pool built on first use."""
    cls: type[Message] = message_factory.GetMessageClass(_pool().FindMessageTypeByName(f"{PACKAGE}.{name}"))
    return cls


@functools.cache
def _pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_descriptor("openapiv2/OpenAPIv2.proto", PACKAGE, MESSAGES, ONEOF))
    return pool


def _scalar(value: Any) -> str:
    """A scalar as yaml.v3 writes it: double-quoted when plain it would read back as another type (`"true"`,
    `"1"`, `""`), else plain when it may be, else single-quoted (`'*'`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    text = str(value)
    if not text or text.lower() in YAML_WORDS or NUMBER.fullmatch(text):  # it would read back as another type
        return json.dumps(text)
    if PLAIN.fullmatch(text):
        return text
    return "'" + text.replace("'", "''") + "'"


def yaml_text(value: Any) -> str:
    """A value as gnostic stores it in an `Any`: YAML text as yaml.v3 writes it.

    The values of the extensions and enums this server writes are scalars, lists of scalars, maps and lists
    of maps (`x-kubernetes-group-version-kind`, `x-kubernetes-unions`); a map in a map is indented by two.
    """
    if isinstance(value, dict):
        return "".join(f"{key}:\n" + "".join(f"  {line}\n" for line in yaml_text(item).splitlines())
                       if isinstance(item, dict) and item else f"{key}: {_scalar(item)}\n"
                       for key, item in value.items())
    if isinstance(value, list):
        if all(isinstance(item, dict) for item in value):
            return "".join("- " + yaml_text(item).replace("\n", "\n  ").removesuffix("  ") for item in value)
        return "".join(f"- {_scalar(item)}\n" for item in value)
    return _scalar(value) + "\n"


def _any(value: Any) -> Message:
    return message_class("Any")(yaml=yaml_text(value))


def _extensions(obj: JSON) -> list[Message]:
    named_any = message_class("NamedAny")
    return [named_any(name=key, value=_any(value)) for key, value in obj.items() if key.startswith("x-")]


def _named(kind: str, items: Mapping[str, Any], convert: Any) -> list[Message]:
    cls = message_class(kind)
    return [cls(name=name, value=convert(value)) for name, value in items.items()]


def schema(obj: JSON) -> Message:
    """A JSON schema object as gnostic's Schema (a `$ref` keeps only the reference, description and extensions)."""
    cls = message_class("Schema")
    if "$ref" in obj:
        return cls(_ref=obj["$ref"], description=obj.get("description", ""), vendor_extension=_extensions(obj))
    out = cls(format=obj.get("format", ""), title=obj.get("title", ""), description=obj.get("description", ""),
              required=obj.get("required", ()), enum=[_any(value) for value in obj.get("enum", ())],
              all_of=[schema(child) for child in obj.get("allOf", ())], vendor_extension=_extensions(obj))
    if "default" in obj:
        out.default.CopyFrom(_any(obj["default"]))
    if "type" in obj:
        out.type.value.append(obj["type"])
    if "items" in obj:
        out.items.schema.append(schema(obj["items"]))
    if "properties" in obj:
        out.properties.additional_properties.extend(_named("NamedSchema", obj["properties"], schema))
    if isinstance(obj.get("additionalProperties"), dict):
        out.additional_properties.schema.CopyFrom(schema(obj["additionalProperties"]))
    return out


def parameter(obj: JSON) -> Message:
    """A parameter: a body parameter (with a schema) or a query or path one (with a type)."""
    cls = message_class("Parameter")
    if obj["in"] == "body":
        body = message_class("BodyParameter")(description=obj.get("description", ""), name=obj["name"],
                                               required=obj.get("required", False), schema=schema(obj["schema"]))
        setattr(body, "in", "body")
        return cls(body_parameter=body)
    kind = {"query": "QueryParameterSubSchema", "path": "PathParameterSubSchema"}[obj["in"]]
    sub = message_class(kind)(required=obj.get("required", False), description=obj.get("description", ""),
                              name=obj["name"], type=obj.get("type", ""), format=obj.get("format", ""),
                              unique_items=obj.get("uniqueItems", False))
    setattr(sub, "in", obj["in"])
    field = "query_parameter_sub_schema" if obj["in"] == "query" else "path_parameter_sub_schema"
    return cls(non_body_parameter=message_class("NonBodyParameter")(**{field: sub}))


def _parameters(items: Iterable[JSON]) -> list[Message]:
    cls = message_class("ParametersItem")
    return [cls(json_reference=message_class("JsonReference")(_ref=item["$ref"])) if "$ref" in item
            else cls(parameter=parameter(item)) for item in items]


def _response(obj: JSON) -> Message:
    response = message_class("Response")(description=obj.get("description", ""))
    if "schema" in obj:
        response.schema.schema.CopyFrom(schema(obj["schema"]))
    return message_class("ResponseValue")(response=response)


def _operation(obj: JSON) -> Message:
    return message_class("Operation")(
        tags=obj.get("tags", ()), description=obj.get("description", ""), operation_id=obj.get("operationId", ""),
        produces=obj.get("produces", ()), consumes=obj.get("consumes", ()),
        parameters=_parameters(obj.get("parameters", ())), schemes=obj.get("schemes", ()),
        responses=message_class("Responses")(response_code=_named("NamedResponseValue", obj["responses"], _response)),
        vendor_extension=_extensions(obj),
    )


def _path_item(obj: JSON) -> Message:
    item = message_class("PathItem")(parameters=_parameters(obj.get("parameters", ())))
    for method in ("get", "put", "post", "delete", "options", "head", "patch"):
        if method in obj:
            getattr(item, method).CopyFrom(_operation(obj[method]))
    return item


def _security_definition(obj: JSON) -> Message:
    api_key = message_class("ApiKeySecurity")(type=obj["type"], name=obj["name"], description=obj["description"])
    setattr(api_key, "in", obj["in"])
    return message_class("SecurityDefinitionsItem")(api_key_security=api_key)


def to_message(document: JSON) -> Message:
    """An OpenAPI v2 document (the JSON form this server serves) as a gnostic `Document` message."""
    doc = message_class("Document")(swagger=document["swagger"])
    doc.info.title, doc.info.version = document["info"]["title"], document["info"]["version"]
    doc.paths.path.extend(_named("NamedPathItem", document["paths"], _path_item))
    doc.definitions.additional_properties.extend(_named("NamedSchema", document["definitions"], schema))
    doc.parameters.additional_properties.extend(
        _named("NamedParameter", document.get("parameters", {}), parameter))
    for requirement in document.get("security", ()):
        doc.security.add().additional_properties.extend(
            message_class("NamedStringArray")(name=name, value=message_class("StringArray")(value=scopes))
            for name, scopes in requirement.items())
    doc.security_definitions.additional_properties.extend(
        _named("NamedSecurityDefinitionsItem", document.get("securityDefinitions", {}), _security_definition))
    return doc
