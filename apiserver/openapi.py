"""OpenAPI v3 documents derived from the kind definitions, one self-contained document per group-version.

kubectl reads these for three things (kubectl.md §2.3): the validation probe (a PATCH operation
tagged with the kind's `x-kubernetes-group-version-kind` that takes `fieldValidation`), `explain`
(components tagged with the gvk, resolved through `$ref`/`allOf` inside the same document) and
client-side apply (the list and patch extensions, which decide the strategic merge patches it sends).
Paths, operation ids, parameters and the component layout follow the upstream documents in
kubernetes/kubernetes:api/openapi-spec/v3; the index and its hashes follow kube-openapi handler3.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

import orjson

from apiserver.discovery import release
from apiserver.kind_registry import KindRegistry
from apiserver.kinds.base import Kind, Subresource
from apiserver.kinds.meta import DELETE_OPTIONS, LIST_META, META, PATCH, STATUS, WATCH_EVENT, list_of
from apiserver.kinds.upstream import definition, scalar_schema, subresource_paths
from apiserver.schema import (
    JSON,
    Array,
    Boolean,
    FieldsV1,
    Free,
    Integer,
    IntOrString,
    Map,
    MicroTime,
    Object,
    Quantity,
    RawExtension,
    Schema,
    String,
    Time,
)

REF_PREFIX = "#/components/schemas/"
SCHEMA_REF = re.compile(re.escape(REF_PREFIX) + r"([\w.]+)")
# The scalar types upstream names as components of their own.
SCALAR_REFS: dict[type[Schema], str] = {
    Time: META + "Time", MicroTime: META + "MicroTime", FieldsV1: META + "FieldsV1",
    IntOrString: "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
    Quantity: "io.k8s.apimachinery.pkg.api.resource.Quantity", RawExtension: "io.k8s.apimachinery.pkg.runtime.RawExtension",
}
PATCH_CONTENT_TYPES = (  # in the order OpenAPI v2 lists them (v3 sorts its content map)
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
STRATEGIC = "application/strategic-merge-patch+json"
RESPONSE_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
STREAM_TYPES = (*RESPONSE_TYPES, "application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch")

# Query parameters, described as upstream words them; any not listed as boolean or integer is a string.

BOOLEAN_PARAMS = frozenset({"allowWatchBookmarks", "force", "ignoreStoreReadErrorWithClusterBreakingPotential",
                            "orphanDependents", "sendInitialEvents", "watch"})
INTEGER_PARAMS = frozenset({"gracePeriodSeconds", "limit", "timeoutSeconds"})
PARAMETER_DOCS: dict[str, str] = {
    "allowWatchBookmarks": (
        "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement "
        "bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should "
        "not assume bookmarks are returned at any specific interval, nor may they assume the server will "
        "send any BOOKMARK event during a session. If this is not a watch, this field is ignored."
    ),
    "continue": (
        "The continue option should be set when retrieving more results from the server. Since this value is "
        "server defined, clients may only use the continue value from a previous query result with identical "
        "query parameters (except for the value of continue) and the server may reject a continue value it "
        "does not recognize. If the specified continue value is no longer valid whether due to expiration "
        "(generally five to fifteen minutes) or a configuration change on the server, the server will "
        "respond with a 410 ResourceExpired error together with a continue token. If the client needs a "
        "consistent list, it must restart their list without the continue field. Otherwise, the client may "
        "send another list request with the token received with the 410 error, the server will respond with "
        "a list starting from the next key, but from the latest snapshot, which is inconsistent from the "
        "previous list results - objects that are created, modified, or deleted after the first list request "
        "will be included in the response, as long as their keys are after the \"next key\".\n\nThis field is "
        "not supported when watch is true. Clients may start a watch from the last resourceVersion value "
        "returned by the server and not miss any modifications."
    ),
    "dryRun": (
        "When present, indicates that modifications should not be persisted. An invalid or unrecognized "
        "dryRun directive will result in an error response and no further processing of the request. Valid "
        "values are: - All: all dry run stages will be processed"
    ),
    "fieldManager": (
        "fieldManager is a name associated with the actor or entity that is making these changes. The value "
        "must be less than or 128 characters long, and only contain printable characters, as defined by "
        "https://golang.org/pkg/unicode/#IsPrint."
    ),
    "fieldSelector": (
        "A selector to restrict the list of returned objects by their fields. Defaults to everything."
    ),
    "fieldValidation": (
        "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) "
        "containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown "
        "fields that are silently dropped from the object, and will ignore all but the last duplicate field "
        "that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a "
        "warning via the standard warning response header for each unknown field that is dropped from the "
        "object, and for each duplicate field that is encountered. The request will still succeed if there "
        "are no other errors, and will only persist the last of any duplicate fields. This is the default in "
        "v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be "
        "dropped from the object, or if any duplicate fields are present. The error returned from the server "
        "will contain all unknown and duplicate fields encountered."
    ),
    "force": (
        "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by "
        "other people. Force flag must be unset for non-apply patch requests."
    ),
    "gracePeriodSeconds": (
        "The duration in seconds before the object should be deleted. Value must be non-negative integer. "
        "The value zero indicates delete immediately. If this value is nil, the default grace period for the "
        "specified type will be used. Defaults to a per object value if not specified. zero means delete "
        "immediately."
    ),
    "ignoreStoreReadErrorWithClusterBreakingPotential": (
        "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow "
        "fails with a corrupt object error. A resource is considered corrupt if it can not be retrieved from "
        "the underlying storage successfully because of a) its data can not be transformed e.g. decryption "
        "failure, or b) it fails to decode into an object. NOTE: unsafe deletion ignores finalizer "
        "constraints, skips precondition checks, and removes the object from the storage. WARNING: This may "
        "potentially break the cluster if the workload associated with the resource being unsafe-deleted "
        "relies on normal deletion flow. Use only if you REALLY know what you are doing. The default value "
        "is false, and the user must opt in to enable it"
    ),
    "labelSelector": (
        "A selector to restrict the list of returned objects by their labels. Defaults to everything."
    ),
    "limit": (
        "limit is a maximum number of responses to return for a list call. If more items exist, the server "
        "will set the `continue` field on the list metadata to a value that can be used with the same "
        "initial query to retrieve the next set of results. Setting a limit may return fewer than the "
        "requested amount of items (up to zero items) in the event all requested objects are filtered out "
        "and clients should only use the presence of the continue field to determine whether more results "
        "are available. Servers may choose not to support the limit argument and will return all of the "
        "available results. If limit is specified and the continue field is empty, clients may assume that "
        "no more results are available. This field is not supported if watch is true.\n\nThe server guarantees "
        "that the objects returned when using continue will be identical to issuing a single list call "
        "without a limit - that is, no objects created, modified, or deleted after the first request is "
        "issued will be included in any subsequent continued requests. This is sometimes referred to as a "
        "consistent snapshot, and ensures that a client that is using limit to receive smaller chunks of a "
        "very large result can ensure they see all possible objects. If objects are updated during a chunked "
        "list the version of the object that was present at the time the first list result was calculated is "
        "returned."
    ),
    "orphanDependents": (
        "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the "
        "dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from "
        "the object's finalizers list. Either this field or PropagationPolicy may be set, but not both."
    ),
    "pretty": (
        "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a "
        "browser or command-line HTTP tool (curl and wget)."
    ),
    "propagationPolicy": (
        "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be "
        "set, but not both. The default policy is decided by the existing finalizer set in the "
        "metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - "
        "orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the "
        "background; 'Foreground' - a cascading policy that deletes all dependents in the foreground."
    ),
    "resourceVersion": (
        "resourceVersion sets a constraint on what resource versions a request may be served from. See "
        "https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\n"
        "Defaults to unset"
    ),
    "resourceVersionMatch": (
        "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly "
        "recommended that resourceVersionMatch be set for list calls where resourceVersion is set See "
        "https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\n"
        "Defaults to unset"
    ),
    "sendInitialEvents": (
        "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will "
        "begin with synthetic events to produce the current state of objects in the collection. Once all "
        "such events have been sent, a synthetic \"Bookmark\" event  will be sent. The bookmark will report "
        "the ResourceVersion (RV) corresponding to the set of objects, and be marked with "
        "`\"k8s.io/initial-events-end\": \"true\"` annotation. Afterwards, the watch stream will proceed as "
        "usual, sending watch events corresponding to changes (subsequent to the RV) to objects watched.\n\n"
        "When `sendInitialEvents` option is set, we require `resourceVersionMatch` option to also be set. "
        "The semantic of the watch request is as following: - `resourceVersionMatch` = NotOlderThan\n  is "
        "interpreted as \"data at least as new as the provided `resourceVersion`\"\n  and the bookmark event is "
        "send when the state is synced\n  to a `resourceVersion` at least as fresh as the one provided by the "
        "ListOptions.\n  If `resourceVersion` is unset, this is interpreted as \"consistent read\" and the\n  "
        "bookmark event is send when the state is synced at least to the moment\n  when request started being "
        "processed.\n- `resourceVersionMatch` set to any other value or unset\n  Invalid error is returned.\n\n"
        "Defaults to true if `resourceVersion=\"\"` or `resourceVersion=\"0\"` (for backward compatibility "
        "reasons) and to false otherwise."
    ),
    "timeoutSeconds": (
        "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity "
        "or inactivity."
    ),
    "watch": (
        "Watch for changes to the described resources and return them as a stream of add, update, and remove "
        "notifications. Specify resourceVersion."
    ),
}
# PATCH says more about fieldManager than the other verbs do.
PATCH_PARAMETER_DOCS = {"fieldManager": (
    "fieldManager is a name associated with the actor or entity that is making these changes. The value "
    "must be less than or 128 characters long, and only contain printable characters, as defined by "
    "https://golang.org/pkg/unicode/#IsPrint. This field is required for apply requests "
    "(application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, "
    "StrategicMergePatch)."
)}
LIST_PARAMS = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion",
               "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch")
WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
# kube-apiserver accepts ignoreStoreReadErrorWithClusterBreakingPotential and, with its feature gate off (the
# default), deletes as usual; this server has no unsafe deletion of corrupt objects either.
DELETE_PARAMS = ("dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential", "orphanDependents",
                 "propagationPolicy")
DELETE_COLLECTION_PARAMS = DELETE_PARAMS + tuple(p for p in LIST_PARAMS if p not in ("allowWatchBookmarks", "watch"))


class Components:
    """`components.schemas` of one document, filled by walking schema trees.

    Every Object node with a `ref` becomes one named component; other nodes are inlined where they are
    used. Two different nodes under one name would make the document lie about one of them, so that is
    an error.
    """

    def __init__(self) -> None:
        self.schemas: dict[str, JSON] = {}
        self._rendered: dict[str, dict[str, Schema]] = {}  # the properties each component was rendered from

    def ref(self, node: Object) -> JSON:
        """Register `node` (and everything under it) and return a plain `$ref` to it. A type's uses share their
        properties, so a component already rendered from the same ones is not rendered again."""
        if self._rendered.get(node.ref) is not node.properties:
            component = self._object(node)
            existing = self.schemas.setdefault(node.ref, component)
            if existing != component:
                raise ValueError(f"two different schemas are named {node.ref}")
            self._rendered[node.ref] = node.properties
        return {"$ref": REF_PREFIX + node.ref}

    def field(self, node: Schema, described: bool = True) -> JSON:
        """The schema of a property (`described`) or of list items / map values.

        A named type is a `$ref`, wrapped in `allOf` (as upstream does) when it has siblings: the property's
        description and, for a Go struct value, `default: {}`.
        """
        if isinstance(node, Object) and node.ref:
            ref, about = self.ref(node), node.about
        elif type(node) in SCALAR_REFS:
            name = SCALAR_REFS[type(node)]
            self.schemas.setdefault(name, scalar_schema(name))
            ref, about = {"$ref": REF_PREFIX + name}, node.description
        else:
            out = self._inline(node)
            if described and node.description:
                out["description"] = node.description
            return out
        siblings: JSON = {"description": about} if described and about else {}
        if isinstance(node, Object) and not node.pointer:
            siblings["default"] = {}
        if isinstance(node, Object) and node.patch_strategy:
            siblings["x-kubernetes-patch-strategy"] = node.patch_strategy
        return {"allOf": [ref], **siblings} if siblings else ref

    def _inline(self, node: Schema) -> JSON:
        if isinstance(node, Object):
            return self._object(node)
        if isinstance(node, Array):
            out: JSON = {"type": "array", "items": self.field(node.items, described=False)}
            if node.list_type:
                out["x-kubernetes-list-type"] = node.list_type
            if node.map_keys:
                out["x-kubernetes-list-map-keys"] = list(node.map_keys)
            if node.merge_key:
                out["x-kubernetes-patch-merge-key"] = node.merge_key
            if node.patch_strategy:
                out["x-kubernetes-patch-strategy"] = node.patch_strategy
            return out
        if isinstance(node, Map):
            out = {"type": "object", "additionalProperties": self.field(node.values, described=False)}
            if node.atomic:
                out["x-kubernetes-map-type"] = "atomic"
            return out
        if isinstance(node, String):
            out = {"type": "string"}
            if node.format:
                out["format"] = node.format
            if node.enum:
                out["enum"] = list(node.enum)
            if node.default is not None:
                out["default"] = node.default
            return out
        if isinstance(node, Integer):
            out = {"type": "integer", "format": node.format}
            if node.default is not None:
                out["default"] = node.default
            return out
        if isinstance(node, Boolean):
            return {"type": "boolean"} if node.default is None else {"type": "boolean", "default": node.default}
        if isinstance(node, IntOrString):
            return {"format": "int-or-string", "x-kubernetes-int-or-string": True}
        if isinstance(node, Time):
            return {"type": "string", "format": "date-time"}
        if isinstance(node, Free):
            return {"x-kubernetes-preserve-unknown-fields": True}
        raise TypeError(f"no OpenAPI form for {type(node).__name__}")

    def _object(self, node: Object) -> JSON:
        out: JSON = {"type": "object"}
        if node.description:
            out["description"] = node.description
        if node.properties:
            out["properties"] = {name: self.field(child) for name, child in node.properties.items()}
        if node.required:
            out["required"] = list(node.required)
        if node.atomic:
            out["x-kubernetes-map-type"] = "atomic"
        if node.unions:
            out["x-kubernetes-unions"] = list(node.unions)
        if node.keep_unknown:
            out["x-kubernetes-preserve-unknown-fields"] = True
        return out


def published(schema: JSON, ref_prefix: str) -> JSON:
    """A kind's own published schema (`Kind.openapi`) with its `$ref`s under `ref_prefix`."""
    text = orjson.dumps(schema).decode().replace('"$ref":"#/components/schemas/', f'"$ref":"{ref_prefix}')
    out: JSON = orjson.loads(text)
    return out


def published_list(kind: Kind) -> JSON:
    """The list of a kind with its own published schema, as upstream's CRD OpenAPI builder writes it."""
    own = kind.openapi or {}
    meta = own.get("properties") or {}
    return {"description": f"{kind.list_kind} is a list of {kind.kind}", "type": "object", "required": ["items"],
            "properties": {
                "apiVersion": meta.get("apiVersion", {"type": "string"}),
                "items": {"description": f"List of {kind.plural}. More info: "
                          "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md",
                          "items": {"$ref": REF_PREFIX + kind.schema.ref}, "type": "array"},
                "kind": meta.get("kind", {"type": "string"}),
                "metadata": {"allOf": [{"$ref": REF_PREFIX + LIST_META.ref}], "description": "Standard list metadata. "
                             "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/"
                             "api-conventions.md#types-kinds"}},
            "x-kubernetes-selectable-fields": own.get("x-kubernetes-selectable-fields", [])}


def gvk(group: str, version: str, kind: str) -> JSON:
    return {"group": group, "kind": kind, "version": version}


def list_schema(kind: Kind) -> Object:
    """The `<Kind>List` object, which exists only on the wire and so is not part of the kind's definition: upstream's
    for a built-in kind, else the generic list of the kind's objects."""
    try:
        return definition(kind.schema.ref + "List")
    except KeyError:
        return list_of(kind.schema, kind.schema.ref + "List")


# Paths and operations.


def _parameter(name: str, location: str = "query", description: str = "") -> JSON:
    """One parameter as upstream writes it (including its odd `uniqueItems` on scalars)."""
    kind = "boolean" if name in BOOLEAN_PARAMS else "integer" if name in INTEGER_PARAMS else "string"
    param: JSON = {"description": description or PARAMETER_DOCS[name], "in": location, "name": name}
    if location == "path":
        param["required"] = True
    param["schema"] = {"type": kind, "uniqueItems": True}
    return param


def _query(names: Iterable[str], docs: Mapping[str, str] | None = None) -> list[JSON]:
    """Query parameters sorted by name; `docs` words some of them differently from PARAMETER_DOCS."""
    return [_parameter(name, description=(docs or {}).get(name, "")) for name in sorted(names)]


def _content(ref: str, types: Iterable[str]) -> JSON:
    return {media: {"schema": {"$ref": REF_PREFIX + ref}} for media in types}


def _responses(ref: str, codes: Mapping[str, str], types: Iterable[str] = RESPONSE_TYPES) -> JSON:
    responses: JSON = {code: {"content": _content(ref, types), "description": text} for code, text in codes.items()}
    responses["401"] = {"description": "Unauthorized"}
    return responses


def _article(noun: str) -> str:
    """The article of the installer's descriptions ("create an EndpointSlice"); nouns ending in one `s` take none."""
    if noun.endswith("s") and not noun.endswith("ss"):
        return ""
    return "an " if noun[0].lower() in "aeiou" else "a "


class _PathBuilder:
    """The paths of one kind, laid out as kube-apiserver's installer does, for the verbs the kind has."""

    def __init__(self, kind: Kind, prefix: str, tag: str, id_infix: str) -> None:
        self.kind = kind
        self.verbs = set(kind.verbs)
        self.tag = tag
        self.id_infix = id_infix  # e.g. "DiscoveryV1", between the verb and the kind in operation ids
        self.gvk = gvk(kind.group, kind.version, kind.kind)
        scope = "/namespaces/{namespace}" if kind.namespaced else ""
        self.collection_path = f"{prefix}{scope}/{kind.plural}"
        self.item_path = self.collection_path + "/{name}"
        self.watch_path = f"{prefix}/watch{scope}/{kind.plural}"
        self.prefix = prefix
        self.scope_params = (
            [_parameter("namespace", "path", "object name and auth scope, such as for teams and projects")]
            if kind.namespaced
            else []
        )
        self.name_params = [_parameter("name", "path", f"name of the {kind.kind}")]

    def build(self) -> dict[str, JSON]:
        paths = {
            self.collection_path: self._collection(),
            self.item_path: self._item(),
            **{f"{self.item_path}/{sub.name}": self._subresource(sub) for sub in self.kind.subresources
               if sub.of_parent},
            **self._watches(),
        }
        if self.kind.namespaced and "list" in self.verbs:
            get = self._list(self._op_id("list", "ForAllNamespaces", namespaced=False), ())
            paths[f"{self.prefix}/{self.kind.plural}"] = {"get": get, "parameters": _query(LIST_PARAMS)}
        return {**{path: _with_path_params(item) for path, item in paths.items() if item}, **self.upstream_paths()}

    def upstream_paths(self) -> dict[str, JSON]:
        """The subresources that are no read or write of the kind (log, exec, eviction, proxy…), as upstream's
        paths: their query parameters and bodies are the options and objects of upstream's types."""
        return {path: item for sub in self.kind.subresources if not sub.of_parent
                for path, item in subresource_paths(f"{self.item_path}/{sub.name}").items()}

    def _op_id(self, verb: str, suffix: str = "", collection: str = "", namespaced: bool = True) -> str:
        scope = "Namespaced" if namespaced and self.kind.namespaced else ""
        return f"{verb}{self.id_infix}{collection}{scope}{self.kind.kind}{suffix}"

    def _operation(self, action: str, op_id: str, description: str, parameters: list[JSON]) -> JSON:
        op: JSON = {"description": description, "operationId": op_id}
        if parameters:
            op["parameters"] = parameters
        op["tags"] = [self.tag]
        op["x-kubernetes-action"] = action
        op["x-kubernetes-group-version-kind"] = self.gvk
        return op

    def _list(self, op_id: str, params: Iterable[str]) -> JSON:
        kind = self.kind
        get = self._operation("list", op_id, f"list or watch objects of kind {kind.kind}", _query(params))
        get["responses"] = _responses(kind.schema.ref + "List", {"200": "OK"}, STREAM_TYPES)
        return get

    def _collection(self) -> JSON:
        kind, ref = self.kind, self.kind.schema.ref
        ops: JSON = {}
        if "list" in self.verbs:
            ops["get"] = self._list(self._op_id("list"), LIST_PARAMS)
        if "create" in self.verbs:
            post = self._operation("post", self._op_id("create"), f"create {_article(kind.kind)}{kind.kind}",
                                   _query(WRITE_PARAMS))
            post["requestBody"] = {"content": _content(ref, ("*/*",)), "required": True}
            post["responses"] = _responses(ref, {"200": "OK", "201": "Created", "202": "Accepted"})
            ops["post"] = post
        if "deletecollection" in self.verbs:
            delete = self._operation("deletecollection", self._op_id("delete", collection="Collection"),
                                     f"delete collection of {kind.kind}", _query(DELETE_COLLECTION_PARAMS))
            delete["requestBody"] = {"content": _content(DELETE_OPTIONS.ref, ("*/*",))}
            delete["responses"] = _responses(STATUS.ref, {"200": "OK"})
            ops["delete"] = delete
        return {**ops, "parameters": self.scope_params} if ops else {}

    def _item(self) -> JSON:
        kind, ref = self.kind, self.kind.schema.ref
        ops: JSON = {}
        if "get" in self.verbs:
            ops["get"] = self._operation("get", self._op_id("read"), f"read the specified {kind.kind}", [])
            ops["get"]["responses"] = _responses(ref, {"200": "OK"})
        if "update" in self.verbs:
            ops["put"] = self._put(self._op_id("replace"), f"replace the specified {kind.kind}")
        if "patch" in self.verbs:
            ops["patch"] = self._patch(self._op_id("patch"), f"partially update the specified {kind.kind}")
        if "delete" in self.verbs:
            delete = self._operation("delete", self._op_id("delete"), f"delete {_article(kind.kind)}{kind.kind}",
                                     _query(DELETE_PARAMS))
            delete["requestBody"] = {"content": _content(DELETE_OPTIONS.ref, ("*/*",))}
            deleted = ref if kind.strategy.return_deleted_object else STATUS.ref
            delete["responses"] = _responses(deleted, {"200": "OK", "202": "Accepted"})
            ops["delete"] = delete
        return {**ops, "parameters": self.name_params + self.scope_params} if ops else {}

    def _subresource(self, sub: Subresource) -> JSON:
        """A subresource read and written as the kind itself (status, ephemeralcontainers, finalize)."""
        kind, suffix = self.kind, sub.name.capitalize()
        ops: JSON = {}
        if "get" in sub.verbs:
            ops["get"] = self._operation("get", self._op_id("read", suffix), f"read {sub.name} of the specified "
                                         f"{kind.kind}", [])
            ops["get"]["responses"] = _responses(kind.schema.ref, {"200": "OK"})
        if "update" in sub.verbs:
            ops["put"] = self._put(self._op_id("replace", suffix), f"replace {sub.name} of the specified {kind.kind}")
        if "patch" in sub.verbs:
            ops["patch"] = self._patch(self._op_id("patch", suffix), f"partially update {sub.name} of the specified "
                                       f"{kind.kind}")
        return {**ops, "parameters": self.name_params + self.scope_params}

    def _watches(self) -> dict[str, JSON]:
        """The deprecated `/watch/` paths; every list parameter sits on the path, as upstream."""
        if "watch" not in self.verbs:
            return {}
        kind = self.kind
        many = f"watch individual changes to a list of {kind.kind}. deprecated: use the 'watch' parameter with a " \
               "list operation instead."
        one = f"watch changes to an object of kind {kind.kind}. deprecated: use the 'watch' parameter with a list " \
              "operation instead, filtered to a single item with the 'fieldSelector' parameter."
        watches = [
            (self.watch_path, "watchlist", self._op_id("watch", "List"), many, self.scope_params),
            (self.watch_path + "/{name}", "watch", self._op_id("watch"), one, self.name_params + self.scope_params),
        ]
        if kind.namespaced:
            op_id = self._op_id("watch", "ListForAllNamespaces", namespaced=False)
            watches.append((f"{self.prefix}/watch/{kind.plural}", "watchlist", op_id, many, []))
        paths: dict[str, JSON] = {}
        for path, action, op_id, description, path_params in watches:
            get = self._operation(action, op_id, description, [])
            get["responses"] = _responses(WATCH_EVENT.ref, {"200": "OK"}, STREAM_TYPES)
            paths[path] = {"get": get, "parameters": path_params + _query(LIST_PARAMS)}
        return paths

    def _put(self, op_id: str, description: str) -> JSON:
        ref = self.kind.schema.ref
        put = self._operation("put", op_id, description, _query(WRITE_PARAMS))
        put["requestBody"] = {"content": _content(ref, ("*/*",)), "required": True}
        put["responses"] = _responses(ref, {"200": "OK", "201": "Created"})
        return put

    def _patch(self, op_id: str, description: str) -> JSON:
        """kubectl's validation probe looks for the gvk and `fieldValidation` on every PATCH of the kind."""
        patch = self._operation("patch", op_id, description, _query((*WRITE_PARAMS, "force"), PATCH_PARAMETER_DOCS))
        # a custom resource has no strategic merge patch: kubectl apply then sends a JSON merge patch
        types = [t for t in PATCH_CONTENT_TYPES if t != STRATEGIC] if self.kind.unstructured else PATCH_CONTENT_TYPES
        patch["requestBody"] = {"content": _content(PATCH.ref, types), "required": True}
        patch["responses"] = _responses(self.kind.schema.ref, {"200": "OK", "201": "Created"})
        return patch


def _with_path_params(item: JSON) -> JSON:
    """Add `pretty` to a path's shared parameters, and the query parameters every operation has (all of them for a
    path of one operation), sorted by name, as upstream lists them."""
    ops = {method: op for method, op in item.items() if method != "parameters"}
    shared = [p for p in next(iter(ops.values())).get("parameters", [])
              if all(p in op.get("parameters", []) for op in ops.values())]
    if shared:
        for method, op in ops.items():
            rest = [p for p in op["parameters"] if p not in shared]
            item = {**item, method: {**op, "parameters": rest} if rest else
                    {k: v for k, v in op.items() if k != "parameters"}}
    params = [*item["parameters"], *shared, _parameter("pretty")]
    return {**item, "parameters": sorted(params, key=lambda p: str(p["name"]))}


def document_name(api_version: str) -> str:
    """"v1" -> "api/v1", "discovery.k8s.io/v1" -> "apis/discovery.k8s.io/v1"."""
    return f"apis/{api_version}" if "/" in api_version else f"api/{api_version}"


def openapi_group_versions(kinds: KindRegistry) -> list[str]:
    """The document names this server serves ("api/v1", "apis/discovery.k8s.io/v1"), as in the index."""
    return [document_name(api_version) for api_version in kinds.group_versions()]


def _operation_infix(group: str, version: str) -> str:
    """"" -> "CoreV1", "discovery.k8s.io" -> "DiscoveryV1", "flowcontrol.apiserver.k8s.io" -> "FlowcontrolApiserverV1"."""
    words = group.removesuffix(".k8s.io").replace("-", ".").split(".") if group else ["core"]
    return "".join(word[:1].upper() + word[1:] for word in words) + version[:1].upper() + version[1:]


def _resource_list_path(tag: str, infix: str) -> JSON:
    """The group-version's own path (`/apis/<group>/<version>/`): its APIResourceList."""
    schema = {"schema": {"$ref": f"#/components/schemas/{META}APIResourceList"}}
    return {"get": {"tags": [tag], "description": "get available resources", "operationId": f"get{infix}APIResources",
                    "responses": {"200": {"description": "OK", "content": {
                        media: schema for media in ("application/json", "application/vnd.kubernetes.protobuf",
                                                    "application/yaml")}},
                        "401": {"description": "Unauthorized"}}}}


def openapi_v3(served: KindRegistry, group_version: str) -> JSON:
    """The OpenAPI v3 document for one group-version ("api/v1" or "apis/<group>/<version>").

    Raises KeyError when this server does not serve `group_version`.
    """
    by_key = {document_name(api_version): kinds for api_version, kinds in served.group_versions().items()}
    kinds = by_key[group_version]
    group, version = kinds[0].group, kinds[0].version
    infix = _operation_infix(group, version)
    tag = f"{group.removesuffix('.k8s.io').replace('.', '_') if group else 'core'}_{version}"
    prefix = "/" + group_version

    components = Components()
    paths: dict[str, JSON] = {}
    for kind in kinds:
        components.ref(kind.schema)
        components.ref(list_schema(kind))
        if kind.openapi is not None:
            components.schemas[kind.schema.ref] = published(kind.openapi, REF_PREFIX)
            components.schemas[kind.schema.ref + "List"] = published(published_list(kind), REF_PREFIX)
        components.schemas[kind.schema.ref]["x-kubernetes-group-version-kind"] = [gvk(group, version, kind.kind)]
        components.schemas[kind.schema.ref + "List"]["x-kubernetes-group-version-kind"] = [
            gvk(group, version, kind.list_kind)
        ]
        builder = _PathBuilder(kind, prefix, tag, infix)
        paths.update(builder.build())
        bodies = SCHEMA_REF.findall(orjson.dumps(builder.upstream_paths()).decode())  # Binding, Eviction
        for name in sorted(set(bodies) - set(components.schemas)):
            components.ref(definition(name))

    paths[prefix + "/"] = _resource_list_path(tag, infix)
    components.ref(PATCH)
    # Status belongs to core/v1 only; DeleteOptions and WatchEvent are registered in every group-version.
    shared = [("", "v1"), (group, version)] if group else [("", "v1")]
    for meta, gvs in ((STATUS, [("", "v1")]), (DELETE_OPTIONS, shared), (WATCH_EVENT, shared),
                      (definition(META + "APIResourceList"), [("", "v1")])):
        components.ref(meta)
        name = meta.ref.rsplit(".", 1)[1]
        components.schemas[meta.ref]["x-kubernetes-group-version-kind"] = [gvk(g, v, name) for g, v in gvs]

    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "{}.{}".format(*release())},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(components.schemas.items())), "securitySchemes": SECURITY_SCHEMES},
    }


# Every v3 document names the bearer token kube-apiserver accepts (its v2 document's securityDefinitions).
SECURITY_SCHEMES = {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication",
                                    "name": "authorization", "in": "header"}}


def document_hash(data: bytes) -> str:
    """kube-openapi's hash of a served document: the upper-case hex SHA-512 of its bytes."""
    return hashlib.sha512(data).hexdigest().upper()


def openapi_v3_index(docs: Mapping[str, bytes]) -> JSON:
    """The `/openapi/v3` index: each document's URL, pinned to the hash of its bytes.

    The hash must change whenever a document does: kubectl caches a hashed URL as immutable.
    """
    return {
        "paths": {
            name: {"serverRelativeURL": f"/openapi/v3/{name}?hash={document_hash(data)}"}
            for name, data in sorted(docs.items())
        }
    }
