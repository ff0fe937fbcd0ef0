"""apiextensions.k8s.io/v1 CustomResourceDefinition (upstream's type): its defaults, strategy and validation.

Validation follows ValidateCustomResourceDefinition on the internal version, which holds a schema, subresources or
printer columns identical in every version once, at the top (`spec.validation`, `spec.subresources`,
`spec.additionalPrinterColumns`): errors about them are reported there, as upstream reports them.
"""

from __future__ import annotations

import re
from apiserver.apiextensions import cel
from apiserver.kinds.base import STATUS, Kind, Obj, Strategy
from apiserver.kinds.columns import NAME
from apiserver.kinds.rbac import CREATED_AT
from apiserver.kinds.upstream import definition
from apiserver.validation.field import (
    ErrorList,
    GoSyntax,
    go_strings,
    forbidden,
    invalid,
    not_supported,
    required,
)
from apiserver.validation.names import is_dns1035_label, is_dns1123_subdomain, name_is_dns_subdomain
from apiserver.validation.objectmeta import validate_object_meta, validate_object_meta_update

GROUP = "apiextensions.k8s.io"
TYPES = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."
SCHEMA = definition(TYPES + "CustomResourceDefinition")
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
PRINTER_TYPES = ("boolean", "date", "integer", "number", "string")
PRINTER_FORMATS = ("byte", "date", "date-time", "double", "float", "int32", "int64", "password")
OPENAPI_TYPES = ("array", "boolean", "integer", "number", "object", "string")


def versions(crd: Obj) -> list[Obj]:
    return list((crd.get("spec") or {}).get("versions") or ())


def storage_version(crd: Obj) -> str:
    return next((v.get("name", "") for v in versions(crd) if v.get("storage")), "")


def condition(crd: Obj, kind: str) -> Obj | None:
    return next((c for c in (crd.get("status") or {}).get("conditions") or () if c.get("type") == kind), None)


def is_true(crd: Obj, kind: str) -> bool:
    found = condition(crd, kind)
    return found is not None and found.get("status") == "True"


class CustomResourceDefinitionStrategy(Strategy):
    """SetDefaults_CustomResourceDefinition, status reset on create and kept on update, and validation."""

    tracks_generation = True
    status_subresource = True

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        names = spec.get("names")
        if isinstance(names, dict):
            if not names.get("singular") and names.get("kind"):
                names["singular"] = str(names["kind"]).lower()
            if not names.get("listKind") and names.get("kind"):
                names["listKind"] = f"{names['kind']}List"
        if not spec.get("conversion"):
            spec["conversion"] = {"strategy": "None"}
        service = ((spec["conversion"].get("webhook") or {}).get("clientConfig") or {}).get("service")
        if isinstance(service, dict) and service.get("port") is None:
            service["port"] = 443
        status = obj.setdefault("status", {})
        if isinstance(status, dict) and not status.get("storedVersions") and storage_version(obj):
            status["storedVersions"] = [storage_version(obj)]

    def prepare_for_create(self, obj: Obj) -> None:
        stored = storage_version(obj)
        obj["status"] = {"conditions": None, "acceptedNames": {"plural": "", "kind": ""},
                         **({"storedVersions": [stored]} if stored else {})}

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        status = dict(old.get("status") or {})
        stored = storage_version(obj)
        if stored and stored not in (status.get("storedVersions") or ()):
            status["storedVersions"] = [*(status.get("storedVersions") or ()), stored]
        obj["status"] = status

    def validate(self, obj: Obj) -> ErrorList:
        return validate_crd(obj)

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        """ValidateCustomResourceDefinitionUpdate: metadata as on any update, the spec, what may not change (scope
        and kind once established, group and plural always), status and stored versions."""
        errs = validate_object_meta_update(obj["metadata"], old["metadata"], core_finalizers=False)
        spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
        names, old_names = spec.get("names") or {}, old_spec.get("names") or {}
        errs.extend(_validate_spec(spec))
        if is_true(old, "Established"):  # its storage is in use
            if spec.get("scope") != old_spec.get("scope"):
                errs.append(invalid("spec.scope", spec.get("scope"), "field is immutable"))
            if names.get("kind") != old_names.get("kind"):
                errs.append(invalid("spec.names.kind", names.get("kind"), "field is immutable"))
        if spec.get("group") != old_spec.get("group"):
            errs.append(invalid("spec.group", spec.get("group"), "field is immutable"))
        if names.get("plural") != old_names.get("plural"):
            errs.append(invalid("spec.names.plural", names.get("plural"), "field is immutable"))
        errs.extend(_validate_names((obj.get("status") or {}).get("acceptedNames") or {}, "status.acceptedNames"))
        errs.extend(_validate_stored_versions(obj))
        return errs


def validate_crd(crd: Obj) -> ErrorList:
    """ValidateCustomResourceDefinition: metadata (named `<plural>.<group>`), spec, status, stored versions."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    wanted = f"{names.get('plural', '')}.{spec.get('group', '')}"

    def name_fn(name: str, prefix: bool) -> list[str]:
        found = name_is_dns_subdomain(name, prefix)
        return found + ['must be spec.names.plural+"."+spec.group'] if name != wanted else found

    errs = validate_object_meta(crd["metadata"], False, name_fn, core_finalizers=False)
    errs.extend(_validate_spec(spec))
    errs.extend(_validate_names((crd.get("status") or {}).get("acceptedNames") or {}, "status.acceptedNames"))
    errs.extend(_validate_stored_versions(crd))
    return errs


def _identical(items: list[Obj], key: str) -> bool:
    """Every version sets `key` and they are all equal: the internal version holds it once, at the top."""
    values = [item.get(key) for item in items]
    return bool(values) and all(v is not None for v in values) and all(v == values[0] for v in values)


def _validate_spec(spec: Obj) -> ErrorList:
    errs = ErrorList()
    group = spec.get("group") or ""
    if not group:
        errs.append(required("spec.group"))
    elif found := is_dns1123_subdomain(group):
        errs.append(invalid("spec.group", group, ",".join(found)))
    elif len(group.split(".")) < 2:
        errs.append(invalid("spec.group", group, "should be a domain with at least one dot"))
    scope = spec.get("scope") or ""
    if not scope:
        errs.append(required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        errs.append(not_supported("spec.scope", scope, ["Cluster", "Namespaced"], sort=False))
    items = [v if isinstance(v, dict) else {} for v in spec.get("versions") or ()]
    top_schema = _identical(items, "schema")
    top_subresources = _identical(items, "subresources")
    top_columns = _identical(items, "additionalPrinterColumns")
    if not top_schema:
        for index, version in enumerate(items):
            if not (version.get("schema") or {}).get("openAPIV3Schema"):
                errs.append(required(f"spec.versions[{index}].schema.openAPIV3Schema", "schemas are required"))
    elif not (items[0].get("schema") or {}).get("openAPIV3Schema"):
        for index in range(len(items)):
            errs.append(required(f"spec.versions[{index}].schema.openAPIV3Schema", "schemas are required"))
    seen: set[str] = set()
    unique = True
    for index, version in enumerate(items):
        name = version.get("name") or ""
        unique = unique and name not in seen
        seen.add(name)
        if found := is_dns1035_label(name):
            errs.append(invalid(f"spec.versions[{index}].name", name, ",".join(found)))
        path = f"spec.versions[{index}]"
        status_enabled = "status" in ((items[0] if top_subresources else version).get("subresources") or {})
        if not top_schema:
            errs.extend(_validate_validation(version.get("schema"), status_enabled, path + ".schema"))
        if not top_subresources:
            errs.extend(_validate_subresources(version.get("subresources"), path + ".subresources"))
        if not top_columns:
            for i, column in enumerate(version.get("additionalPrinterColumns") or ()):
                errs.extend(_validate_column(column, f"{path}.additionalPrinterColumns[{i}]"))
    if not unique:
        errs.append(invalid("spec.versions", spec.get("versions"), "must contain unique version names"))
    if sum(1 for v in items if v.get("storage")) != 1:
        errs.append(invalid("spec.versions", spec.get("versions"),
                            "must have exactly one version marked as storage version"))
    if items and (found := is_dns1035_label(items[0].get("name") or "")):  # the internal version's spec.version
        errs.append(invalid("spec.version", items[0].get("name") or "", ",".join(found)))
    names = spec.get("names") or {}
    for key in ("plural", "singular", "kind", "listKind"):
        if not names.get(key):
            errs.append(required(f"spec.names.{key}"))
    errs.extend(_validate_names(names, "spec.names"))
    if top_schema:
        status_enabled = any("status" in (v.get("subresources") or {}) for v in items)
        errs.extend(_validate_validation(items[0].get("schema"), status_enabled, "spec.validation"))
    if top_subresources:
        errs.extend(_validate_subresources(items[0].get("subresources"), "spec.subresources"))
    if top_columns:
        for i, column in enumerate(items[0].get("additionalPrinterColumns") or ()):
            errs.extend(_validate_column(column, f"spec.additionalPrinterColumns[{i}]"))
    conversion = spec.get("conversion") or {}
    strategy = conversion.get("strategy") or ""
    if strategy not in ("None", "Webhook"):
        errs.append(not_supported("spec.conversion.strategy", strategy, ["None", "Webhook"], sort=False))
    elif strategy == "None" and conversion.get("webhook") is not None:
        if (conversion["webhook"] or {}).get("clientConfig") is not None:
            errs.append(forbidden("spec.conversion.webhookClientConfig",
                                  "should not be set when strategy is not set to Webhook"))
    if spec.get("preserveUnknownFields"):
        errs.append(invalid("spec.preserveUnknownFields", True, "cannot set to true, set "
                            "x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead"))
    return errs


def _validate_names(names: Obj, path: str) -> ErrorList:
    errs = ErrorList()
    for key, lower, prefix in (("plural", False, ""), ("singular", False, ""), ("kind", True, "may have mixed case, "
                               "but should otherwise match: "), ("listKind", True, "may have mixed case, but should "
                               "otherwise match: ")):
        value = names.get(key) or ""
        if value and (found := is_dns1035_label(value.lower() if lower else value)):
            errs.append(invalid(f"{path}.{key}", value, prefix + ",".join(found)))
    for i, short in enumerate(names.get("shortNames") or ()):
        if found := is_dns1035_label(short):
            errs.append(invalid(f"{path}.shortNames[{i}]", short, ",".join(found)))
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        errs.append(invalid(f"{path}.listKind", names["listKind"], "kind and listKind may not be the same"))
    for i, category in enumerate(names.get("categories") or ()):
        if found := is_dns1035_label(category):
            errs.append(invalid(f"{path}.categories[{i}]", category, ",".join(found)))
    return errs


def _validate_stored_versions(crd: Obj) -> ErrorList:
    stored = (crd.get("status") or {}).get("storedVersions") or []
    names = [v.get("name") for v in versions(crd)]
    if not stored:
        return ErrorList([invalid("status.storedVersions", GoSyntax("[]string(nil)"),
                                  "must have at least one stored version")])
    errs = ErrorList()
    storage = storage_version(crd)
    if storage and storage not in stored:
        errs.append(invalid("status.storedVersions", go_strings(stored), "must have the storage version " + storage))
    for i, version in enumerate(stored):
        if version not in names:
            errs.append(invalid(f"status.storedVersions[{i}]", version, "must appear in spec.versions"))
    return errs


def _validate_column(column: Obj, path: str) -> ErrorList:
    errs = ErrorList()
    if not column.get("name"):
        errs.append(required(path + ".name"))
    kind = column.get("type") or ""
    if not kind:
        errs.append(required(path + ".type", "must be one of " + ",".join(PRINTER_TYPES)))
    elif kind not in PRINTER_TYPES:
        errs.append(invalid(path + ".type", kind, "must be one of " + ",".join(PRINTER_TYPES)))
    if column.get("format") and column["format"] not in PRINTER_FORMATS:
        errs.append(invalid(path + ".format", column["format"], "must be one of " + ",".join(PRINTER_FORMATS)))
    if not column.get("jsonPath"):
        errs.append(required(path + ".JSONPath"))
    return errs


def _validate_subresources(subresources: Obj | None, path: str) -> ErrorList:
    errs = ErrorList()
    scale = (subresources or {}).get("scale")
    if scale is None:
        return errs
    for key, under in (("specReplicasPath", (".spec",)), ("statusReplicasPath", (".status",))):
        value = scale.get(key) or ""
        if not value:
            errs.append(required(f"{path}.scale.{key}"))
            continue
        found = _simple_json_path(value, f"{path}.scale.{key}")
        errs.extend(found)
        if not found and not any(value.startswith(prefix + ".") for prefix in under):
            errs.append(invalid(f"{path}.scale.{key}", value, f"should be a json path under {under[0]}"))
    selector = scale.get("labelSelectorPath")
    if selector:
        found = _simple_json_path(selector, f"{path}.scale.labelSelectorPath")
        errs.extend(found)
        if not found and not selector.startswith((".spec.", ".status.")):
            errs.append(invalid(f"{path}.scale.labelSelectorPath", selector,
                                "should be a json path under either .spec or .status"))
    return errs


def _simple_json_path(value: str, path: str) -> ErrorList:
    if not value.startswith("."):
        return ErrorList([invalid(path, value, "must be a simple json path starting with .")])
    if not re.fullmatch(r"(\.[A-Za-z0-9_-]+)+", value):
        return ErrorList([invalid(path, value, "must be a json path in the dot notation")])
    return ErrorList()


def _validate_validation(validation: Obj | None, status_enabled: bool, path: str) -> ErrorList:
    schema = (validation or {}).get("openAPIV3Schema")
    errs = ErrorList()
    if not isinstance(schema, dict):
        return errs
    where = path + ".openAPIV3Schema"
    if status_enabled and schema.get("type") not in (None, "object"):
        errs.append(invalid(where + ".type", schema["type"], 'only "object" is allowed as the type at the root of '
                            "the schema if the status subresource is enabled"))
    if schema.get("nullable"):
        errs.append(forbidden(where + ".nullable", "nullable cannot be true at the root"))
    errs.extend(_validate_schema(schema, where, root=True))
    if not errs:
        errs.extend(cel.check_rules(schema, where))
    return errs


def _validate_schema(schema: Obj, path: str, root: bool = False, embedded: bool = False,
                     in_metadata: bool = False) -> ErrorList:
    """The structural rules (structuralschema.ValidateStructural and the OpenAPI checks) of one node and below."""
    errs = ErrorList()
    kind = schema.get("type")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields")
    int_or_string = schema.get("x-kubernetes-int-or-string")
    if kind and kind not in OPENAPI_TYPES:
        errs.append(not_supported(path + ".type", kind, list(OPENAPI_TYPES)))
    for keyword, why in (("$ref", "$ref is not supported"), ("definitions", "definitions is not supported"),
                         ("dependencies", "dependencies is not supported"), ("id", "id is not supported"),
                         ("patternProperties", "patternProperties is not supported"),
                         ("additionalItems", "additionalItems is not supported")):
        if keyword in schema:
            errs.append(forbidden(f"{path}.{keyword}", why))
    if schema.get("uniqueItems"):
        errs.append(forbidden(path + ".uniqueItems",
                              "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"))
    if preserve is False:
        errs.append(invalid(path + ".x-kubernetes-preserve-unknown-fields", False, "must be true or undefined"))
    if not kind and not int_or_string and not (preserve and not schema.get("properties")) and not root:
        errs.append(required(path + ".type", "must not be empty for specified object fields" if schema.get(
            "properties") else "must not be empty for specified " + ("array items" if path.endswith(".items")
                                                                     else "object fields")))
    if root and not kind:
        errs.append(required(path + ".type", "must not be empty at the root"))
    elif root and kind != "object":
        errs.append(invalid(path + ".type", kind, "must be object at the root"))
    if int_or_string and kind:
        errs.append(forbidden(path + ".type", "must be empty if x-kubernetes-int-or-string is true"))
    if schema.get("properties") and isinstance(schema.get("additionalProperties"), dict):
        errs.append(forbidden(path + ".additionalProperties", "additionalProperties and properties are mutual "
                              "exclusive"))
    list_type = schema.get("x-kubernetes-list-type")
    if list_type is not None:
        if kind != "array":
            errs.append(invalid(path + ".type", kind, "must be array if x-kubernetes-list-type is specified")
                        if kind else required(path + ".type", "must be array if x-kubernetes-list-type is specified"))
        if list_type not in ("atomic", "set", "map"):
            errs.append(not_supported(path + ".x-kubernetes-list-type", list_type, ["atomic", "set", "map"],
                                      sort=False))
    keys = schema.get("x-kubernetes-list-map-keys") or []
    if keys and list_type != "map":
        errs.append(required(path + ".x-kubernetes-list-type", "must be map if x-kubernetes-list-map-keys is "
                             "non-empty") if list_type is None else invalid(
            path + ".x-kubernetes-list-type", list_type, "must be map if x-kubernetes-list-map-keys is non-empty"))
    if list_type == "map":
        items = schema.get("items")
        if not keys:
            errs.append(required(path + ".x-kubernetes-list-map-keys", "must not be empty if x-kubernetes-list-type "
                                 "is map"))
        if not isinstance(items, dict):
            errs.append(required(path + ".items", "must have a schema if x-kubernetes-list-type is map"))
        else:
            if items.get("type") != "object":
                errs.append(invalid(path + ".items.type", items.get("type", ""), "must be object if parent array's "
                                    "x-kubernetes-list-type is map"))
            properties = items.get("properties") or {}
            if any(key not in properties for key in keys):
                errs.append(invalid(path + ".x-kubernetes-list-map-keys", keys,
                                    "entries must all be names of item properties"))
            for key in keys:
                prop = properties.get(key) or {}
                if key in properties and "default" not in prop and key not in (items.get("required") or ()):
                    errs.append(required(f"{path}.items.properties[{key}].default", "this property is in "
                                         "x-kubernetes-list-map-keys, so it must have a default or be a required "
                                         "property"))
    if schema.get("x-kubernetes-embedded-resource"):
        if in_metadata:
            errs.append(forbidden(path + ".x-kubernetes-embedded-resource", "must not be used inside of resource "
                                  "meta"))
        if kind != "object":
            errs.append(invalid(path + ".type", kind or "", "must be object if x-kubernetes-embedded-resource is "
                                "true") if kind else required(path + ".type", "must be object if "
                                                              "x-kubernetes-embedded-resource is true"))
        if not schema.get("properties") and not preserve:
            errs.append(required(path + ".properties", "must not be empty if x-kubernetes-embedded-resource is true "
                                 "without x-kubernetes-preserve-unknown-fields"))
    for name, child in (schema.get("properties") or {}).items():
        meta = (root or schema.get("x-kubernetes-embedded-resource")) and name in ("apiVersion", "kind", "metadata")
        if root and meta and name == "metadata" and set(child) - {"type", "description"}:
            errs.append(forbidden(f"{path}.properties[metadata]", "must not specify anything other than name and "
                                  "generateName, but metadata is implicitly specified"))
        errs.extend(_validate_schema(child, f"{path}.properties[{name}]", in_metadata=in_metadata or bool(meta)))
        if meta and name != "metadata" and child.get("type") not in (None, "string"):
            errs.append(invalid(f"{path}.properties[{name}].type", child.get("type"), "must be string"))
    if isinstance(schema.get("additionalProperties"), dict):
        errs.extend(_validate_schema(schema["additionalProperties"], path + ".additionalProperties",
                                     in_metadata=in_metadata))
    items = schema.get("items")
    if isinstance(items, list):
        errs.append(forbidden(path + ".items", "items must be a schema object and not an array"))
    elif isinstance(items, dict):
        errs.extend(_validate_schema(items, path + ".items", in_metadata=in_metadata))
    elif kind == "array":
        errs.append(required(path + ".items", "must be specified"))
    for index, rule in enumerate(schema.get("x-kubernetes-validations") or ()):
        where = f"{path}.x-kubernetes-validations[{index}]"
        if "message" in rule and not str(rule["message"]).strip():
            errs.append(invalid(where + ".message", rule["message"], "message must be non-empty if specified"))
        if rule.get("reason") and rule["reason"] not in ("FieldValueDuplicate", "FieldValueForbidden",
                                                         "FieldValueInvalid", "FieldValueRequired"):
            errs.append(not_supported(where + ".reason", rule["reason"], ["FieldValueDuplicate",
                                      "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"]))
    return errs


CUSTOM_RESOURCE_DEFINITION = Kind(
    group=GROUP,
    version="v1",
    kind="CustomResourceDefinition",
    plural="customresourcedefinitions",
    singular="customresourcedefinition",
    namespaced=False,
    schema=SCHEMA,
    etcd_prefix="/registry/apiextensions.k8s.io/customresourcedefinitions",
    strategy=CustomResourceDefinitionStrategy(),
    description=SCHEMA.description,
    short_names=("crd", "crds"),
    categories=("api-extensions",),
    subresources=(STATUS,),
    columns=(NAME, CREATED_AT),
)
