"""ObjectMeta validation (apimachinery pkg/api/validation/objectmeta.go plus core's finalizer rule).

Paths start with `metadata.`. Label and annotation errors carry the map's path without a key, and
the apimachinery finalizer check reports on `metadata.finalizers` while core's reports on
`metadata.finalizers[i]`, exactly as upstream does.
"""

from __future__ import annotations

import datetime
from typing import Any

from apiserver.validation.field import ErrorList, GoSyntax, Pointer, forbidden, go_strings, invalid, required, too_long
from apiserver.validation.names import (
    NameFn,
    is_label_value,
    is_qualified_name,
    name_is_dns_label,
    name_is_dns_subdomain,
)

FIELD_IMMUTABLE = "field is immutable"
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})
_BANNED_OWNERS = {("", "v1", "Event")}


def validate_labels(labels: dict[str, Any] | None, path: str) -> ErrorList:
    """Keys are qualified names, values label values; every error is reported on `path` itself."""
    errs = ErrorList()
    for key, value in (labels or {}).items():
        errs.extend(invalid(path, key, msg) for msg in is_qualified_name(key))
        errs.extend(invalid(path, value, msg) for msg in is_label_value(str(value)))
    return errs


def validate_annotations(annotations: dict[str, Any] | None, path: str) -> ErrorList:
    """Keys are case-insensitive qualified names; keys plus values total at most 256 KiB."""
    errs = ErrorList()
    total = 0
    for key, value in (annotations or {}).items():
        errs.extend(invalid(path, key, msg) for msg in is_qualified_name(key.lower()))
        total += len(key.encode()) + len(str(value).encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, "", TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def _group_version(api_version: str) -> tuple[str, str]:
    """schema.ParseGroupVersion; an unparsable value gives an empty group and version."""
    if api_version.count("/") > 1:
        return "", ""
    group, _, version = api_version.rpartition("/")
    return group, version


def _owner_reference_json(ref: dict[str, Any]) -> dict[str, Any]:
    """metav1.OwnerReference in its JSON field order (omitempty fields dropped)."""
    out = {k: ref.get(k, "") for k in ("apiVersion", "kind", "name", "uid")}
    out.update({k: ref[k] for k in ("controller", "blockOwnerDeletion") if ref.get(k) is not None})
    return out


def validate_owner_references(refs: list[dict[str, Any]] | None, path: str) -> ErrorList:
    errs = ErrorList()
    controller = ""
    for ref in refs or []:
        api_version, kind = ref.get("apiVersion", ""), ref.get("kind", "")
        group, version = _group_version(api_version)
        if not version:
            errs.append(invalid(path + ".apiVersion", api_version, "version must not be empty"))
        if not kind:
            errs.append(invalid(path + ".kind", kind, "must not be empty"))
        if not ref.get("name"):
            errs.append(invalid(path + ".name", ref.get("name", ""), "must not be empty"))
        if not ref.get("uid"):
            errs.append(invalid(path + ".uid", Pointer(ref.get("uid", "")), "must not be empty"))
        if (group, version, kind) in _BANNED_OWNERS:
            banned = f"{group}/{version}, Kind={kind} is disallowed from being an owner"
            errs.append(invalid(path, _owner_reference_json(ref), banned))
        if ref.get("controller") is True:
            name = f"{kind}/{ref.get('name', '')}"
            if controller:
                errs.append(invalid(path, [_owner_reference_json(r) for r in refs or []],
                                    "Only one reference can have Controller set to true. "
                                    f'Found "true" in references for {controller} and {name}'))
            else:
                controller = name
    return errs


def validate_finalizers(finalizers: list[str] | None, path: str) -> ErrorList:
    """apimachinery ValidateFinalizers: qualified names, and not both orphan and foregroundDeletion."""
    errs = ErrorList()
    for name in finalizers or []:
        errs.extend(invalid(path, name, msg) for msg in is_qualified_name(name))
    if finalizers and "orphan" in finalizers and "foregroundDeletion" in finalizers:
        errs.append(invalid(path, finalizers, "finalizer orphan and foregroundDeletion cannot be both set"))
    return errs


def validate_kube_finalizer_name(name: str, path: str) -> ErrorList:
    """core's extra rule: a finalizer without a `/` prefix must be one of the standard names."""
    if "/" not in name and name not in STANDARD_FINALIZERS:
        return ErrorList([invalid(path, name, "name is neither a standard finalizer name nor is it fully qualified")])
    return ErrorList()


def _kube_finalizers(meta: dict[str, Any]) -> ErrorList:
    errs = ErrorList()
    for i, name in enumerate(meta.get("finalizers") or []):
        errs.extend(validate_kube_finalizer_name(name, f"metadata.finalizers[{i}]"))
    return errs


def validate_object_meta(meta: dict[str, Any], namespaced: bool, name_fn: NameFn = name_is_dns_subdomain,
                         core_finalizers: bool = True) -> ErrorList:
    """ObjectMeta on create, after name generation: generateName, name, namespace by scope, generation,
    labels, annotations, ownerReferences, finalizers (with core's rule on their names unless `core_finalizers`
    is False: apimachinery's ValidateObjectMeta, as kinds outside core's validation use it)."""
    errs = ErrorList()
    name, generate_name = meta.get("name") or "", meta.get("generateName") or ""
    if generate_name:
        errs.extend(invalid("metadata.generateName", generate_name, msg) for msg in name_fn(generate_name, True))
    if not name:
        errs.append(required("metadata.name", "name or generateName is required"))
    else:
        errs.extend(invalid("metadata.name", name, msg) for msg in name_fn(name, False))
    namespace = meta.get("namespace") or ""
    if namespaced:
        if not namespace:
            errs.append(required("metadata.namespace"))
        else:
            errs.extend(invalid("metadata.namespace", namespace, msg) for msg in name_is_dns_label(namespace, False))
    elif namespace:
        errs.append(forbidden("metadata.namespace", "not allowed on this type"))
    generation = meta.get("generation") or 0
    if generation < 0:
        errs.append(invalid("metadata.generation", generation, "must be greater than or equal to 0"))
    errs.extend(_maps_and_owners(meta))
    errs.extend(validate_finalizers(meta.get("finalizers"), "metadata.finalizers"))
    if core_finalizers:
        errs.extend(_kube_finalizers(meta))
    return errs


def _immutable(new: dict[str, Any], old: dict[str, Any], key: str, pointer: bool = False) -> ErrorList:
    value = new.get(key)
    if value == old.get(key):
        return ErrorList()
    shown = Pointer(value) if pointer or value is None else value
    if key.endswith("Timestamp") and isinstance(value, str):
        shown = _go_time(value)
    return ErrorList([invalid(f"metadata.{key}", shown, FIELD_IMMUTABLE)])


def _go_time(value: str) -> GoSyntax | str:
    """A timestamp as a bad value: Go prints a metav1.Time with its String() (`2020-01-01 00:00:00 +0000 UTC`)."""
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return value
    return GoSyntax(parsed.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC"))


def forbid_new_finalizers(new: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    """No finalizer may be added to an object being deleted (the new ones listed sorted, as a Go []string)."""
    errs = ErrorList()
    if old.get("deletionTimestamp"):
        added = sorted(set(new.get("finalizers") or []) - set(old.get("finalizers") or []))
        if added:
            detail = "no new finalizers can be added if the object is being deleted, found new finalizers "
            errs.append(forbidden("metadata.finalizers", detail + go_strings(added).text))
    return errs


def validate_object_meta_update(new: dict[str, Any], old: dict[str, Any], core_finalizers: bool = True) -> ErrorList:
    """ObjectMeta on update: no new finalizers while deleting, generation never decreases, name,
    namespace, uid, creationTimestamp, deletionTimestamp and deletionGracePeriodSeconds immutable;
    labels, annotations, ownerReferences and finalizer names of the new object valid.

    The `resourceVersion must be specified for an update` check is left out: the registry fills in
    the stored resourceVersion before validating an unconditional update.
    """
    errs = forbid_new_finalizers(new, old)
    new_generation, old_generation = new.get("generation") or 0, old.get("generation") or 0
    if new_generation < old_generation:
        errs.append(invalid("metadata.generation", new_generation, "must not be decremented"))
    for key in ("name", "namespace", "uid"):
        errs.extend(_immutable({key: new.get(key) or ""}, {key: old.get(key) or ""}, key, pointer=key == "uid"))
    for key in ("creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
        errs.extend(_immutable(new, old, key, pointer=True))
    errs.extend(_maps_and_owners(new))
    if core_finalizers:
        errs.extend(_kube_finalizers(new))
    return errs


def _maps_and_owners(meta: dict[str, Any]) -> ErrorList:
    errs = ErrorList()
    errs.extend(validate_labels(meta.get("labels"), "metadata.labels"))
    errs.extend(validate_annotations(meta.get("annotations"), "metadata.annotations"))
    errs.extend(validate_owner_references(meta.get("ownerReferences"), "metadata.ownerReferences"))
    return errs
