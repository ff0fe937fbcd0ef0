"""core/v1 Namespace (upstream's type): the cluster-scoped container of every other kind served here."""

from __future__ import annotations

from apiserver.kinds.base import STATUS, Column, Kind, Obj, Strategy, Subresource
from apiserver.kinds.columns import AGE, NAME
from apiserver.kinds.upstream import CORE, definition
from apiserver.validation.field import ErrorList
from apiserver.validation.namespace import validate_namespace, validate_namespace_update
from apiserver.validation.objectmeta import validate_finalizers, validate_kube_finalizer_name

SCHEMA = definition(CORE + "Namespace")


class NamespaceStrategy(Strategy):
    """A new namespace is Active with the `kubernetes` finalizer; its name must be a DNS label."""

    status_subresource = True

    def default(self, obj: Obj) -> None:
        """The `kubernetes.io/metadata.name` label and phase Active are defaults (upstream's SetDefaults_Namespace
        and SetDefaults_NamespaceStatus)."""
        meta = obj["metadata"]
        if meta.get("name"):
            meta["labels"] = {**(meta.get("labels") or {}), "kubernetes.io/metadata.name": meta["name"]}
        status = obj.get("status")
        obj["status"] = {**status, "phase": status.get("phase") or "Active"} if isinstance(status, dict) else \
            {"phase": "Active"}

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Active"}
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"].get("name", "")

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        obj["status"] = old.get("status", {})
        obj["spec"] = old.get("spec", {})
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"].get("name", "")

    def validate(self, obj: Obj) -> ErrorList:
        return validate_namespace(obj)

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        return validate_namespace_update(obj, old)

    def for_subresource(self, subresource: str) -> Strategy:
        return FINALIZE if subresource == "finalize" else self


class NamespaceFinalizeStrategy(NamespaceStrategy):
    """namespaces/finalize: metadata and spec.finalizers as sent, the status as stored."""

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        obj["status"] = old.get("status", {})
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"].get("name", "")

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        """ValidateNamespaceFinalizeUpdate: the metadata update rules, then each finalizer name (indexed)."""
        errs = validate_namespace_update(obj, old)
        for i, name in enumerate((obj.get("spec") or {}).get("finalizers") or []):
            errs.extend(validate_finalizers([name], f"spec.finalizers[{i}]"))
            errs.extend(validate_kube_finalizer_name(name, f"spec.finalizers[{i}]"))
        return errs


FINALIZE = NamespaceFinalizeStrategy()


NAMESPACE = Kind(
    group="",
    version="v1",
    kind="Namespace",
    plural="namespaces",
    singular="namespace",
    namespaced=False,
    schema=SCHEMA,
    etcd_prefix="/registry/namespaces",
    strategy=NamespaceStrategy(),
    description=SCHEMA.description,
    short_names=("ns",),
    subresources=(STATUS, Subresource("finalize", ("update",))),
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),  # no deletecollection, as upstream
    extra_field_selectors={"status.phase": lambda o: o.get("status", {}).get("phase", "")},
    columns=(
        NAME,
        Column(name="Status", description="The status of the namespace",
               cell=lambda o: o.get("status", {}).get("phase", "")),
        AGE,
    ),
)
