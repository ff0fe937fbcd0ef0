"""Declarative schema nodes: the one description of a kind's fields.

A kind's schema is a tree of these nodes, built from upstream's API definitions (`apiserver.kinds.upstream`: the
Go types and OpenAPI documents of the release served). Everything that depends on the shape of an object is
derived from it: OpenAPI v3 components, strict decoding (unknown fields, wrong types), defaulting,
the list semantics used by strategic merge patch and server-side apply, and `kubectl explain`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

ListType = Literal["atomic", "set", "map", ""]  # "": undeclared (atomic), as the items of a List kind


@dataclass(frozen=True)
class Schema:
    """Base of every node; `description` feeds OpenAPI and `kubectl explain`.

    `proto` is the property's field number in upstream's generated.proto (0: not in the protobuf form) and
    `pointer` says the Go field is a pointer, which protobuf writes only when set: gogo writes every other
    field, even at its zero value. Both describe the property in its parent: `numbered` sets them on a shared node.
    """

    description: str = ""
    proto: int = field(default=0, compare=False, kw_only=True)
    pointer: bool = field(default=False, compare=False, kw_only=True)


@dataclass(frozen=True)
class String(Schema):
    enum: tuple[str, ...] = ()
    default: str | None = None
    format: str = ""


@dataclass(frozen=True)
class Bytes(String):
    """A Go []byte: base64 text in JSON (`format: byte`), the raw bytes in protobuf."""


@dataclass(frozen=True)
class Integer(Schema):
    format: Literal["int32", "int64"] = "int32"
    default: int | None = None


@dataclass(frozen=True)
class Boolean(Schema):
    default: bool | None = None


@dataclass(frozen=True)
class IntOrString(Schema):
    """A value that is either an integer or a string (e.g. a Service's targetPort)."""


@dataclass(frozen=True)
class Time(Schema):
    """An RFC 3339 timestamp with second precision, serialised as a string."""


@dataclass(frozen=True)
class MicroTime(Time):
    """metav1.MicroTime: an RFC 3339 timestamp with microseconds."""


@dataclass(frozen=True)
class Quantity(IntOrString):
    """resource.Quantity: a number with an SI suffix (`500m`, `1Gi`), written as a string, read from either form."""


@dataclass(frozen=True)
class Free(Schema):
    """Any JSON value, not checked (e.g. managedFields' fieldsV1)."""


@dataclass(frozen=True)
class FieldsV1(Free):
    """metav1.FieldsV1: a managedFields entry's field set, JSON held as bytes."""


@dataclass(frozen=True)
class RawExtension(Free):
    """runtime.RawExtension: an embedded object of any kind, JSON held as bytes."""


@dataclass(frozen=True)
class Map(Schema):
    """A JSON object with arbitrary keys whose values all follow `values`; merged key by key, unless `atomic`
    (`+mapType=atomic`: owned and replaced as a unit by server-side apply)."""

    values: Schema = field(default_factory=String)
    atomic: bool = False


@dataclass(frozen=True)
class Object(Schema):
    """A JSON object with known properties.

    `ref` names the OpenAPI component (e.g. "io.k8s.api.discovery.v1.EndpointPort"); nodes
    without one are inlined. `atomic` marks `+structType=atomic` (replaced as a unit by apply). `always`
    names the properties Go serialises even when empty (no `omitempty`, struct values, `metav1.Time`): in
    the object as kube-apiserver sees it they are present, as their zero value (`null` for lists, maps and
    times, `{}` for structs), which decides what a write changes and so what it owns.
    `default` is the value an absent field gets at decoding (`{}` for a Go struct that is always
    serialised, such as a container's `resources`); `defaulter` fills the defaults that depend on other
    fields (upstream's `SetDefaults_<Type>`, e.g. imagePullPolicy from the image's tag), after the
    declared defaults of the node and of everything under it.
    `unions` are upstream's `+union` markers (`x-kubernetes-unions`: a discriminator and the fields it selects).
    `keep_unknown` keeps fields it does not declare (`x-kubernetes-preserve-unknown-fields` on a custom resource's
    object with properties, such as an embedded resource): they are neither pruned nor checked.
    `about` is what the parent says of this property (upstream's property description, besides the type's).
    `embedded` are the Go structs embedded inline with a message of their own (a Volume's VolumeSource, numbered
    by `proto`): their properties are also this node's (unnumbered here), as JSON flattens them.
    """

    properties: dict[str, Schema] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    ref: str = ""
    atomic: bool = False
    always: tuple[str, ...] = ()
    default: dict[str, Any] | None = field(default=None, compare=False)
    defaulter: Callable[[dict[str, Any]], None] | None = field(default=None, compare=False)
    embedded: tuple[Object, ...] = field(default=(), compare=False)
    about: str = field(default="", compare=False)
    unions: tuple[dict[str, Any], ...] = ()
    keep_unknown: bool = False
    patch_strategy: str = field(default="", compare=False)  # the parent's tag on this property (retainKeys)


@dataclass(frozen=True)
class Array(Schema):
    """A JSON list.

    `list_type` is the server-side apply semantics (`x-kubernetes-list-type`), `map_keys` its
    keys for "map" lists. `merge_key`/`patch_strategy` are the strategic-merge-patch tags
    (`x-kubernetes-patch-merge-key`, `x-kubernetes-patch-strategy`); without them a strategic
    merge patch replaces the list whole.
    """

    items: Schema = field(default_factory=String)
    list_type: ListType = "atomic"
    map_keys: tuple[str, ...] = ()
    merge_key: str = ""
    patch_strategy: str = ""


S = TypeVar("S", bound=Schema)


def numbered(node: S, proto: int, pointer: bool = False) -> S:
    """A shared node (ObjectMeta, ObjectReference, Condition) as the property numbered `proto` of its parent."""
    return replace(node, proto=proto, pointer=pointer)


def walk_property(node: Schema, name: str) -> Schema | None:
    """The schema of child `name` of an object or map node, or None when it is unknown."""
    if isinstance(node, Object):
        return node.properties.get(name)
    if isinstance(node, Map):
        return node.values
    if isinstance(node, Free):
        return node
    return None


def json_type(node: Schema) -> str:
    """The OpenAPI `type` of a node ("" for nodes that accept several)."""
    kinds: dict[type, str] = {
        String: "string",
        Time: "string",
        Integer: "integer",
        Boolean: "boolean",
        Object: "object",
        Map: "object",
        Array: "array",
    }
    return kinds.get(type(node), "")


def is_scalar(node: Schema) -> bool:
    return isinstance(node, (String, Integer, Boolean, IntOrString, Time))


JSON = dict[str, Any]
