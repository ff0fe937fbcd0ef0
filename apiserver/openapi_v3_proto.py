"""The protobuf form of an OpenAPI v3 document: gnostic's `openapi.v3.Document`, built from the JSON form.

kube-apiserver serves `/openapi/v3/<group-version>` as `application/com.github.proto-openapi.spec.v3.v1.0+protobuf`
when asked: kube-openapi parses the JSON document with gnostic (`ParseDocument`) and marshals the message. The
messages this server needs are declared below with the field names and numbers of gnostic's
openapiv3/OpenAPIv3.proto, as the v2 ones are (`apiserver.openapi_proto`). Gnostic's rules followed: an object
with `$ref` is a Reference (a Schema may not hold `$ref`), a schema's `default` is a number, boolean or string
(an empty DefaultType for an object or a list), and enum values and vendor extensions (`x-…`) are `Any`
messages holding the value as YAML.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message

from apiserver.openapi_proto import BOOL, DOUBLE, INT64, STRING, Fields, file_descriptor, yaml_text
from apiserver.schema import JSON

PACKAGE = "openapi.v3"
MEDIA_TYPE = "application/com.github.proto-openapi.spec.v3.v1.0+protobuf"
OPERATIONS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# message -> fields (name, number, type, repeated), as in gnostic's file; fields never written are left out.
MESSAGES: dict[str, Fields] = {
    "AdditionalPropertiesItem": (("schema_or_reference", 1, "SchemaOrReference", False), ("boolean", 2, BOOL, False)),
    "Any": (("yaml", 2, STRING, False),),
    "Components": (("schemas", 1, "SchemasOrReferences", False),
                   ("security_schemes", 7, "SecuritySchemesOrReferences", False),
                   ("specification_extension", 10, "NamedAny", True)),
    "DefaultType": (("number", 1, DOUBLE, False), ("boolean", 2, BOOL, False), ("string", 3, STRING, False)),
    "Document": (("openapi", 1, STRING, False), ("info", 2, "Info", False), ("paths", 4, "Paths", False),
                 ("components", 5, "Components", False), ("specification_extension", 9, "NamedAny", True)),
    "Info": (("title", 1, STRING, False), ("description", 2, STRING, False), ("version", 6, STRING, False),
             ("specification_extension", 7, "NamedAny", True)),
    "ItemsItem": (("schema_or_reference", 1, "SchemaOrReference", True),),
    "MediaType": (("schema", 1, "SchemaOrReference", False), ("specification_extension", 5, "NamedAny", True)),
    "MediaTypes": (("additional_properties", 1, "NamedMediaType", True),),
    "NamedAny": (("name", 1, STRING, False), ("value", 2, "Any", False)),
    "NamedMediaType": (("name", 1, STRING, False), ("value", 2, "MediaType", False)),
    "NamedPathItem": (("name", 1, STRING, False), ("value", 2, "PathItem", False)),
    "NamedResponseOrReference": (("name", 1, STRING, False), ("value", 2, "ResponseOrReference", False)),
    "NamedSchemaOrReference": (("name", 1, STRING, False), ("value", 2, "SchemaOrReference", False)),
    "Operation": (("tags", 1, STRING, True), ("summary", 2, STRING, False), ("description", 3, STRING, False),
                  ("operation_id", 5, STRING, False), ("parameters", 6, "ParameterOrReference", True),
                  ("request_body", 7, "RequestBodyOrReference", False), ("responses", 8, "Responses", False),
                  ("deprecated", 10, BOOL, False), ("specification_extension", 13, "NamedAny", True)),
    "Parameter": (("name", 1, STRING, False), ("in", 2, STRING, False), ("description", 3, STRING, False),
                  ("required", 4, BOOL, False), ("deprecated", 5, BOOL, False),
                  ("allow_empty_value", 6, BOOL, False), ("style", 7, STRING, False), ("explode", 8, BOOL, False),
                  ("allow_reserved", 9, BOOL, False), ("schema", 10, "SchemaOrReference", False),
                  ("specification_extension", 14, "NamedAny", True)),
    "ParameterOrReference": (("parameter", 1, "Parameter", False), ("reference", 2, "Reference", False)),
    "PathItem": (("_ref", 1, STRING, False), ("summary", 2, STRING, False), ("description", 3, STRING, False),
                 ("get", 4, "Operation", False), ("put", 5, "Operation", False), ("post", 6, "Operation", False),
                 ("delete", 7, "Operation", False), ("options", 8, "Operation", False),
                 ("head", 9, "Operation", False), ("patch", 10, "Operation", False),
                 ("trace", 11, "Operation", False), ("parameters", 13, "ParameterOrReference", True),
                 ("specification_extension", 14, "NamedAny", True)),
    "Paths": (("path", 1, "NamedPathItem", True), ("specification_extension", 2, "NamedAny", True)),
    "Properties": (("additional_properties", 1, "NamedSchemaOrReference", True),),
    "Reference": (("_ref", 1, STRING, False), ("summary", 2, STRING, False), ("description", 3, STRING, False)),
    "RequestBody": (("description", 1, STRING, False), ("content", 2, "MediaTypes", False),
                    ("required", 3, BOOL, False), ("specification_extension", 4, "NamedAny", True)),
    "RequestBodyOrReference": (("request_body", 1, "RequestBody", False), ("reference", 2, "Reference", False)),
    "Response": (("description", 1, STRING, False), ("content", 3, "MediaTypes", False),
                 ("specification_extension", 5, "NamedAny", True)),
    "ResponseOrReference": (("response", 1, "Response", False), ("reference", 2, "Reference", False)),
    "Responses": (("default", 1, "ResponseOrReference", False),
                  ("response_or_reference", 2, "NamedResponseOrReference", True),
                  ("specification_extension", 3, "NamedAny", True)),
    "Schema": (("nullable", 1, BOOL, False), ("read_only", 3, BOOL, False), ("write_only", 4, BOOL, False),
               ("deprecated", 8, BOOL, False), ("title", 9, STRING, False), ("multiple_of", 10, DOUBLE, False),
               ("maximum", 11, DOUBLE, False), ("exclusive_maximum", 12, BOOL, False),
               ("minimum", 13, DOUBLE, False), ("exclusive_minimum", 14, BOOL, False),
               ("max_length", 15, INT64, False), ("min_length", 16, INT64, False), ("pattern", 17, STRING, False),
               ("max_items", 18, INT64, False), ("min_items", 19, INT64, False), ("unique_items", 20, BOOL, False),
               ("max_properties", 21, INT64, False), ("min_properties", 22, INT64, False),
               ("required", 23, STRING, True), ("enum", 24, "Any", True), ("type", 25, STRING, False),
               ("all_of", 26, "SchemaOrReference", True), ("one_of", 27, "SchemaOrReference", True),
               ("any_of", 28, "SchemaOrReference", True),
               ("items", 30, "ItemsItem", False), ("properties", 31, "Properties", False),
               ("additional_properties", 32, "AdditionalPropertiesItem", False),
               ("default", 33, "DefaultType", False), ("description", 34, STRING, False),
               ("format", 35, STRING, False), ("specification_extension", 36, "NamedAny", True)),
    "SchemaOrReference": (("schema", 1, "Schema", False), ("reference", 2, "Reference", False)),
    "SchemasOrReferences": (("additional_properties", 1, "NamedSchemaOrReference", True),),
    "NamedSecuritySchemeOrReference": (("name", 1, STRING, False), ("value", 2, "SecuritySchemeOrReference", False)),
    "SecurityScheme": (("type", 1, STRING, False), ("description", 2, STRING, False), ("name", 3, STRING, False),
                       ("in", 4, STRING, False), ("scheme", 5, STRING, False), ("bearer_format", 6, STRING, False),
                       ("specification_extension", 9, "NamedAny", True)),
    "SecuritySchemeOrReference": (("security_scheme", 1, "SecurityScheme", False),
                                  ("reference", 2, "Reference", False)),
    "SecuritySchemesOrReferences": (("additional_properties", 1, "NamedSecuritySchemeOrReference", True),),
}
ONEOF = frozenset({"AdditionalPropertiesItem", "DefaultType", "ParameterOrReference", "RequestBodyOrReference",
                   "ResponseOrReference", "SchemaOrReference", "SecuritySchemeOrReference"})
# JSON keys -> Schema fields of the same value (a scalar, or a list of strings)
SCHEMA_SCALARS = {"nullable": "nullable", "readOnly": "read_only", "writeOnly": "write_only",
                  "deprecated": "deprecated", "title": "title", "multipleOf": "multiple_of", "maximum": "maximum",
                  "exclusiveMaximum": "exclusive_maximum", "minimum": "minimum",
                  "exclusiveMinimum": "exclusive_minimum", "maxLength": "max_length", "minLength": "min_length",
                  "pattern": "pattern", "maxItems": "max_items", "minItems": "min_items",
                  "uniqueItems": "unique_items", "maxProperties": "max_properties",
                  "minProperties": "min_properties", "required": "required", "type": "type",
                  "description": "description", "format": "format"}
SECURITY_SCHEME_SCALARS = {"type": "type", "description": "description", "name": "name", "in": "in",
                           "scheme": "scheme", "bearerFormat": "bearer_format"}
PARAMETER_SCALARS = {"name": "name", "in": "in", "description": "description", "required": "required",
                     "deprecated": "deprecated", "allowEmptyValue": "allow_empty_value", "style": "style",
                     "explode": "explode", "allowReserved": "allow_reserved"}


@functools.cache
def message_class(name: str) -> type[Message]:
    """The class of gnostic v3 message `name` ("Document", "Schema", …), from a pool built on first use."""
    pool = _pool()
    cls: type[Message] = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
    return cls


@functools.cache
def _pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_descriptor("openapiv3/OpenAPIv3.proto", PACKAGE, MESSAGES, ONEOF))
    return pool


def _set(message: Message, obj: JSON, names: Mapping[str, str]) -> None:
    for key, field in names.items():
        if key in obj:
            value = obj[key]
            if isinstance(value, list):
                getattr(message, field).extend(value)
            else:
                setattr(message, field, value)


def _any(value: Any) -> Message:
    return message_class("Any")(yaml=yaml_text(value))


def _extensions(obj: JSON) -> list[Message]:
    named_any = message_class("NamedAny")
    return [named_any(name=key, value=_any(_struct_order(key, value))) for key, value in obj.items()
            if key.startswith("x-")]


def _struct_order(key: str, value: Any) -> Any:
    """An operation's group-version-kind (a Go struct upstream) in the order Go writes it: group, version, kind,
    whatever the order of the JSON it was read from (this server's is sorted). A schema's list of them is
    sorted upstream too."""
    if key == "x-kubernetes-group-version-kind" and isinstance(value, dict):
        return {name: value[name] for name in ("group", "version", "kind") if name in value}
    return value


def _named(kind: str, items: Mapping[str, Any], convert: Callable[[Any], Message]) -> list[Message]:
    cls = message_class(kind)
    return [cls(name=name, value=convert(value)) for name, value in items.items()]


def _reference(obj: JSON) -> Message:
    return message_class("Reference")(_ref=obj["$ref"], summary=obj.get("summary", ""),
                                      description=obj.get("description", ""))


def _default(value: Any) -> Message:
    """DefaultType: a number, a boolean or a string; empty for anything else (gnostic matches none)."""
    out = message_class("DefaultType")()
    if isinstance(value, bool):
        out.boolean = value
    elif isinstance(value, (int, float)):
        out.number = float(value)
    elif isinstance(value, str):
        out.string = value
    return out


def schema(obj: JSON) -> Message:
    """A JSON schema object as gnostic's Schema."""
    out = message_class("Schema")(enum=[_any(value) for value in obj.get("enum", ())],
                                  specification_extension=_extensions(obj))
    _set(out, obj, SCHEMA_SCALARS)
    for key, field in (("allOf", "all_of"), ("oneOf", "one_of"), ("anyOf", "any_of")):
        getattr(out, field).extend(schema_or_reference(child) for child in obj.get(key, ()))
    if "items" in obj:
        items = obj["items"] if isinstance(obj["items"], list) else [obj["items"]]
        out.items.schema_or_reference.extend(schema_or_reference(item) for item in items)
    if "properties" in obj:
        out.properties.additional_properties.extend(
            _named("NamedSchemaOrReference", obj["properties"], schema_or_reference))
    additional = obj.get("additionalProperties")
    if isinstance(additional, dict):
        out.additional_properties.schema_or_reference.CopyFrom(schema_or_reference(additional))
    elif isinstance(additional, bool):
        out.additional_properties.boolean = additional
    if "default" in obj:
        out.default.CopyFrom(_default(obj["default"]))
    return out


def schema_or_reference(obj: JSON) -> Message:
    cls = message_class("SchemaOrReference")
    return cls(reference=_reference(obj)) if "$ref" in obj else cls(schema=schema(obj))


def _security_scheme(obj: JSON) -> Message:
    cls = message_class("SecuritySchemeOrReference")
    if "$ref" in obj:
        return cls(reference=_reference(obj))
    out = message_class("SecurityScheme")(specification_extension=_extensions(obj))
    _set(out, obj, SECURITY_SCHEME_SCALARS)
    return cls(security_scheme=out)


def _media_types(content: Mapping[str, JSON]) -> Message:
    media_type = message_class("MediaType")
    return message_class("MediaTypes")(additional_properties=_named(
        "NamedMediaType", content, lambda obj: media_type(
            schema=schema_or_reference(obj["schema"]) if "schema" in obj else None,
            specification_extension=_extensions(obj))))


def _parameter(obj: JSON) -> Message:
    cls = message_class("ParameterOrReference")
    if "$ref" in obj:
        return cls(reference=_reference(obj))
    out = message_class("Parameter")(specification_extension=_extensions(obj))
    _set(out, obj, PARAMETER_SCALARS)
    if "schema" in obj:
        out.schema.CopyFrom(schema_or_reference(obj["schema"]))
    return cls(parameter=out)


def _response(obj: JSON) -> Message:
    cls = message_class("ResponseOrReference")
    if "$ref" in obj:
        return cls(reference=_reference(obj))
    out = message_class("Response")(description=obj.get("description", ""), specification_extension=_extensions(obj))
    if "content" in obj:
        out.content.CopyFrom(_media_types(obj["content"]))
    return cls(response=out)


def _operation(obj: JSON) -> Message:
    out = message_class("Operation")(
        tags=obj.get("tags", ()), summary=obj.get("summary", ""), description=obj.get("description", ""),
        operation_id=obj.get("operationId", ""), parameters=[_parameter(p) for p in obj.get("parameters", ())],
        deprecated=obj.get("deprecated", False), specification_extension=_extensions(obj))
    body = obj.get("requestBody")
    if body is not None:
        if "$ref" in body:
            out.request_body.reference.CopyFrom(_reference(body))
        else:
            request_body = out.request_body.request_body
            request_body.description, request_body.required = body.get("description", ""), body.get("required", False)
            if "content" in body:
                request_body.content.CopyFrom(_media_types(body["content"]))
            request_body.specification_extension.extend(_extensions(body))
    if "responses" in obj:
        responses = obj["responses"]
        out.responses.response_or_reference.extend(_named(
            "NamedResponseOrReference", {code: r for code, r in responses.items() if code != "default" and
                                         not code.startswith("x-")}, _response))
        if "default" in responses:
            out.responses.default.CopyFrom(_response(responses["default"]))
        out.responses.specification_extension.extend(_extensions(responses))
    return out


def _path_item(obj: JSON) -> Message:
    item = message_class("PathItem")(
        _ref=obj.get("$ref", ""), summary=obj.get("summary", ""), description=obj.get("description", ""),
        parameters=[_parameter(p) for p in obj.get("parameters", ())], specification_extension=_extensions(obj))
    for method in OPERATIONS:
        if method in obj:
            getattr(item, method).CopyFrom(_operation(obj[method]))
    return item


def to_message(document: JSON) -> Message:
    """An OpenAPI v3 document (the JSON form this server serves) as a gnostic v3 `Document` message."""
    doc = message_class("Document")(openapi=document["openapi"], specification_extension=_extensions(document))
    if "info" in document:
        info = document["info"]
        doc.info.title, doc.info.version = info.get("title", ""), info.get("version", "")
        doc.info.description = info.get("description", "")
        doc.info.specification_extension.extend(_extensions(info))
    if "paths" in document:
        paths = document["paths"]
        doc.paths.path.extend(_named("NamedPathItem", {k: v for k, v in paths.items() if k.startswith("/")},
                                     _path_item))
        doc.paths.specification_extension.extend(_extensions(paths))
    if "components" in document:
        components = document["components"]
        doc.components.SetInParent()
        if "schemas" in components:
            doc.components.schemas.additional_properties.extend(
                _named("NamedSchemaOrReference", components["schemas"], schema_or_reference))
        if "securitySchemes" in components:
            doc.components.security_schemes.additional_properties.extend(
                _named("NamedSecuritySchemeOrReference", components["securitySchemes"], _security_scheme))
        doc.components.specification_extension.extend(_extensions(components))
    return doc
