"""What a kind is: the one declarative definition the server derives everything else from.

A `Kind` names the resource (group, version, plural, scope, short names), its schema (the fields
besides kind/apiVersion/metadata), its Table columns, its field selectors and its strategy
(defaults, validation, generation rules). Discovery, OpenAPI, strict decoding, patching and the
generic registry read only this.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from apiserver.schema import Object, Schema
from apiserver.validation.field import ErrorList

Obj = dict[str, Any]


@dataclass(frozen=True)
class Column:
    """One Table column: its definition as the server prints it and the function filling a cell."""

    name: str
    cell: Callable[[Obj], Any]
    type: str = "string"
    format: str = ""
    description: str = ""
    priority: int = 0


@dataclass(frozen=True)
class Subresource:
    """A subresource as discovery lists it: its name, its verbs and the kind its requests and answers carry
    (the parent's unless named; `group`/`version` only when that kind is of another group, as policy/v1 Eviction).
    `streams`: a GET answers a byte stream (pods/log), not the object, though discovery names the parent kind.
    `schema`: the subresource kind's own (autoscaling/v1 Scale), for its protobuf form."""

    name: str
    verbs: tuple[str, ...]
    kind: str = ""
    group: str = ""
    version: str = ""
    streams: bool = False
    schema: Object | None = None

    @property
    def of_parent(self) -> bool:
        """Reads and writes the parent object itself (status, ephemeralcontainers, finalize)."""
        return not self.kind and not self.streams


STATUS = Subresource("status", ("get", "patch", "update"))
PROXY_VERBS = ("create", "delete", "get", "patch", "update")


class Strategy:
    """Per-kind rules applied by the generic registry, in the order kube-apiserver applies them.

    Create: prepare_for_create → validate → warnings. Update: prepare_for_update → validate_update
    → warnings. Canonicalize runs last on both. The base class is the behaviour of a kind with no
    special rules; kinds override what they need. Every method works on plain JSON dicts.
    """

    allow_create_on_update: bool = False
    # DELETE answers with the deleted object (Pods, Services) instead of a Success Status.
    return_deleted_object: bool = False
    tracks_generation: bool = False
    status_subresource: bool = False
    # Fields serialised even when empty (no omitempty upstream), so they appear in bookmark objects too.
    empty_fields: ClassVar[dict[str, Any]] = {}

    def default(self, obj: Obj) -> None:
        """Defaults that depend on other fields (upstream's SetDefaults_<Kind>, run at decoding): the registry
        fills them first, so they count as the request's own in managedFields (an apply's only after it merged)."""

    def prepare_for_create(self, obj: Obj) -> None:
        """Reset fields the client may not set on create (e.g. status for kinds with a status subresource)."""

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        """Carry over fields this verb may not change (e.g. status on the main resource)."""

    def prepare_for_status_update(self, obj: Obj, old: Obj) -> None:
        """For the status subresource: status and metadata as sent (the registry keeps the system fields), the rest
        (spec) as stored, as upstream's status strategies do."""
        status, meta = obj.get("status"), obj["metadata"]
        obj.clear()
        obj.update({k: v for k, v in old.items() if k not in ("status", "metadata")})
        obj["metadata"] = meta
        if status is not None:
            obj["status"] = status

    def for_subresource(self, subresource: str) -> Strategy:
        """The strategy of an update through `subresource` other than status (upstream's per-subresource
        strategies, e.g. namespaces/finalize); the kind's own by default."""
        return self

    def reset_fields(self, subresource: str) -> frozenset[tuple[str, ...]]:
        """The fields a write through `subresource` cannot set, so that it owns none of them (upstream's
        GetResetFields, as managedFields paths): status on the main resource and spec on /status."""
        if not self.status_subresource:
            return frozenset()
        return frozenset({("f:spec",)} if subresource == "status" else {("f:status",)})

    def grace_period(self, obj: Obj, requested: int | None) -> int | None:
        """The grace period of a first DELETE (CheckGracefulDelete), or None: the kind is deleted without one."""
        return None

    def validate(self, obj: Obj) -> ErrorList:
        return ErrorList()

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        return self.validate(obj)

    def warnings(self, obj: Obj, old: Obj | None) -> list[str]:
        return []

    def canonicalize(self, obj: Obj) -> None:
        """Rewrite the object into its stored form (e.g. Endpoints subsets repacking)."""

    def generation_changed(self, obj: Obj, old: Obj) -> bool:
        """Whether an update bumps metadata.generation: anything outside metadata changed."""
        return any(obj.get(k) != old.get(k) for k in set(obj) | set(old) if k not in ("metadata", "status"))


@dataclass(frozen=True)
class View:
    """Another API's form of a kind's stored objects (events.k8s.io/v1 Event of core/v1 Event): the same keys,
    converted from the stored form on every read and to it on every write."""

    of: Kind
    from_stored: Callable[[Obj], Obj]
    to_stored: Callable[[Obj], Obj]


@dataclass(frozen=True)
class Kind:
    """A served resource type, defined once."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    schema: Object
    etcd_prefix: str
    strategy: Strategy
    columns: tuple[Column, ...]
    description: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    extra_field_selectors: dict[str, Callable[[Obj], str]] = field(default_factory=dict)
    deprecation: str = ""
    deprecated_in: tuple[int, int] = (0, 0)  # the release (major, minor) from which `deprecation` is sent
    verbs: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
    # served as unstructured objects, as custom resources are: the items of a list keep their kind and apiVersion
    unstructured: bool = False
    # the OpenAPI v3 schema published for the kind when it is not derived from `schema` (a custom resource's, its
    # `$ref`s relative to `#/components/schemas/`)
    openapi: dict[str, Any] | None = None
    view: View | None = None  # when this kind is another API's form of a stored kind
    # annotations upstream's internal type holds as fields (a DaemonSet's templateGeneration): absent from the
    # metadata-only forms (Table rows, PartialObjectMetadata), which are made of the internal object
    internal_annotations: tuple[str, ...] = ()

    @property
    def resource_key(self) -> str:
        """The key of this kind's registry: the plural, qualified by the group for a view (`events.events.k8s.io`),
        whose plural the kind it shows has already."""
        return self.qualified_resource if self.view is not None else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def qualified_resource(self) -> str:
        """`endpointslices.discovery.k8s.io`, or the plural alone for the core group (used in messages)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """`EndpointSlice.discovery.k8s.io`, or the Kind alone for the core group (used in Invalid messages)."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def subresource(self, name: str) -> Subresource | None:
        """The declared subresource `name`, or None."""
        return next((sub for sub in self.subresources if sub.name == name), None)

    def property_schema(self, name: str) -> Schema | None:
        return self.schema.properties.get(name)
