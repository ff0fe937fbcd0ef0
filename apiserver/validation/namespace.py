"""core/v1 Namespace validation: the name is a DNS-1123 label; spec.finalizers are finalizer names."""

from __future__ import annotations

from typing import Any

from apiserver.validation.field import ErrorList
from apiserver.validation.names import name_is_dns_label
from apiserver.validation.objectmeta import (
    validate_finalizers,
    validate_kube_finalizer_name,
    validate_object_meta,
    validate_object_meta_update,
)


def validate_namespace(obj: dict[str, Any]) -> ErrorList:
    """A Namespace on create (cluster-scoped, so metadata.namespace is forbidden)."""
    errs = validate_object_meta(obj.get("metadata") or {}, namespaced=False, name_fn=name_is_dns_label)
    for name in (obj.get("spec") or {}).get("finalizers") or []:
        # Upstream reports spec finalizers on the list path, without an index.
        errs.extend(validate_finalizers([name], "spec.finalizers"))
        errs.extend(validate_kube_finalizer_name(name, "spec.finalizers"))
    return errs


def validate_namespace_update(obj: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    """A Namespace on update: only the metadata update rules (spec.finalizers changes via /finalize)."""
    return validate_object_meta_update(obj.get("metadata") or {}, old.get("metadata") or {})
