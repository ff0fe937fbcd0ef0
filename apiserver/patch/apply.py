"""Server-side apply (`application/apply-patch+yaml`), after structured-merge-diff's Updater.Apply.

`apply` merges an applied configuration into the live object by the schema's list and map
semantics, prunes what the manager applied before and no longer applies (unless someone else
owns it), detects conflicts with other managers' fields and records ownership in managedFields.
Field sets, comparison and entry handling live in `apiserver.managedfields`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

from apiserver.managedfields import (
    EMPTY,
    Entry,
    FieldSet,
    FieldSetError,
    Path,
    child_schema,
    compare,
    decode_entries,
    field_set,
    finish_entries,
    go_form,
    granular,
    item_element,
    iterate,
    json_equal,
    keyed_items,
    path_string,
    record_update,
    reset_filter,
    strip_server_fields,
)
from apiserver.schema import JSON, Array, Map, Object, Schema

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
UPGRADING_MANAGER = "kubectl"  # only kubectl's own server-side apply upgrades from client-side apply
BEFORE_FIRST_APPLY = "before-first-apply"


class ApplyConflict(Exception):
    """Fields the configuration changes that other managers own (409 Conflict, reason Conflict).

    `conflicts` are (manager, path) pairs. A manager is upstream's identifier, the JSON of its
    entry without fields and time (`{"manager":"m","operation":"Update","apiVersion":"v1"}`), so
    messages can say "using v1" for Update managers; a plain name is printed quoted as it is.
    """

    def __init__(self, conflicts: list[tuple[str, str]]) -> None:
        self.conflicts = list(conflicts)
        self.message = _conflict_message(self.conflicts)
        super().__init__(self.message)

    def causes(self) -> list[dict[str, str]]:
        """The Status `details.causes`, one FieldManagerConflict per conflicting field."""
        return [
            {"reason": "FieldManagerConflict", "message": f"conflict with {_print_manager(m)}", "field": path}
            for m, path in self.conflicts
        ]

    def __repr__(self) -> str:
        return f"ApplyConflict(conflicts={self.conflicts!r})"


def _print_manager(manager: str) -> str:
    """Upstream's printManager: `"name"`, plus `with subresource "s"` and `using <apiVersion>` for Update."""
    try:
        entry = json.loads(manager)
    except ValueError:
        entry = None
    if not isinstance(entry, dict):
        return json.dumps(manager, ensure_ascii=False)
    text = json.dumps(str(entry.get("manager", "")), ensure_ascii=False)
    if entry.get("subresource"):
        text += f" with subresource {json.dumps(str(entry['subresource']), ensure_ascii=False)}"
    if entry.get("operation") == "Update":
        text += f" using {entry.get('apiVersion', '')}"
    return text


def _conflict_message(conflicts: list[tuple[str, str]]) -> str:
    """Upstream's getConflictMessage: one line for one conflict, else grouped by sorted manager."""
    if len(conflicts) == 1:
        manager, path = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {_print_manager(manager)}: {path}"
    by_manager: dict[str, list[str]] = {}
    for manager, path in conflicts:
        by_manager.setdefault(manager, []).append(path)
    lines: list[str] = []
    for manager in sorted(by_manager):
        lines.append(f"conflicts with {_print_manager(manager)}:")
        lines.extend(f"- {path}" for path in by_manager[manager])
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Merge


def _merge(live: Any, config: Any, node: Schema | None) -> Any:
    """`config` merged into `live`: granular nodes member by member, everything else replaced."""
    if live is None or not granular(node) or type(live) is not type(config) or not isinstance(config, (dict, list)):
        return copy.deepcopy(config)
    if isinstance(config, dict):
        out = dict(live)
        for key, value in config.items():
            child = child_schema(node, key)
            if value is None and granular(child):
                continue
            out[key] = _merge(live.get(key), value, child)
        return out
    assert isinstance(node, Array)
    return _merge_list(live, config, node)


def _merge_list(live: list[Any], config: list[Any], node: Array) -> list[Any]:
    """Set/map-list merge as SMD orders it: shared items in the config's order, the others where they stood.

    Walking both lists, a live-only item is emitted when reached, a config item when the live side
    waits at the next shared item, and a shared item when both sides reach it.
    """
    lhs, rhs = keyed_items(live, node), keyed_items(config, node)
    left, right = list(lhs), list(rhs)
    shared = [pe for pe in right if pe in lhs]
    out: list[Any] = []
    li = ri = si = 0
    while li < len(left) or ri < len(right):
        if li < len(left) and ri < len(right):
            pe = left[li]
            if pe == right[ri]:
                out.append(_merge(lhs[pe], rhs[pe], node.items))
                li, ri, si = li + 1, ri + 1, si + 1
                continue
            if pe in rhs and si < len(shared) and shared[si] != pe:
                li += 1
                continue
        if li < len(left) and left[li] not in rhs:
            out.append(lhs[left[li]])
            li += 1
        elif ri < len(right):
            pe = right[ri]
            out.append(_merge(lhs.get(pe), rhs[pe], node.items))
            ri += 1
            if si < len(shared) and shared[si] == pe:
                si += 1
        else:
            li += 1  # a shared item the config already placed
    return out


# ---------------------------------------------------------------------------------------------
# Prune


def _step(value: Any, node: Schema | None, pe: str) -> tuple[Any, Schema | None, Any]:
    """The child at `pe`: (child, its node, its key or index in `value`), or (None, None, None)."""
    if pe.startswith("f:") and isinstance(value, dict) and pe[2:] in value:
        return value[pe[2:]], child_schema(node, pe[2:]), pe[2:]
    if pe[:2] in ("k:", "v:") and isinstance(value, list) and isinstance(node, Array):
        for i, item in enumerate(value):
            if item is not None and item_element(item, node) == pe:
                return item, node.items, i
    return None, None, None


def _remove(obj: JSON, path: Path, schema: Object) -> None:
    """Delete the value at `path`; a map or list this leaves empty goes too (as Go's omitempty would)."""
    trail: list[tuple[Any, Schema | None, Any]] = [(obj, schema, None)]
    for pe in path:
        child, node, slot = _step(trail[-1][0], trail[-1][1], pe)
        if slot is None:
            return
        trail.append((child, node, slot))
    _, _, slot = trail.pop()
    parent, parent_node, parent_slot = trail[-1]
    del parent[slot]
    if not parent and isinstance(parent_node, (Map, Array)) and len(trail) > 1:
        del trail[-2][0][parent_slot]


def _parent(path: Path, schema: Object) -> Schema | None:
    """The schema node holding the last element of `path`."""
    node: Schema | None = schema
    for pe in path[:-1]:
        node = child_schema(node, pe[2:]) if pe.startswith("f:") else node.items if isinstance(node, Array) else None
    return node


def _prune(merged: JSON, dropped: FieldSet, owned: FieldSet, schema: Object) -> None:
    """Remove fields the manager no longer applies, outermost first, unless someone owns them (SMD's prune).

    A struct field is also kept while anyone owns something under it; a list item or map entry only if it is
    owned itself. A map-list item's key fields go only with their item."""
    for path in sorted(dropped, key=len):
        parent = _parent(path, schema)
        name = path[-1][2:] if path[-1].startswith("f:") else None
        if isinstance(parent, Object) and name in parent.properties:
            if any(len(o) > len(path) and o[: len(path)] == path for o in owned):
                continue
            grand = _parent(path[:-1], schema) if len(path) > 1 else None
            if isinstance(grand, Array) and grand.list_type == "map" and name in grand.map_keys:
                continue
        _remove(merged, path, schema)


# ---------------------------------------------------------------------------------------------
# Apply


def _gvk(api_version: str, kind: str) -> str:
    """A GroupVersionKind as Go prints it: `discovery.k8s.io/v1, Kind=EndpointSlice`, `/v1, Kind=Service`."""
    group_version = api_version if "/" in api_version else "/" + api_version
    return f"{group_version}, Kind={kind}"


def _last_applied_fields(live: JSON, schema: Object) -> FieldSet:
    """The fields of live's client-side apply annotation: conflicts on them are forced (upstream's
    lastAppliedManager), so `kubectl apply --server-side` takes over from `kubectl apply` without conflicts."""
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    try:
        last_applied = json.loads(annotations.get(LAST_APPLIED, ""))
        return field_set(last_applied, schema) if isinstance(last_applied, dict) else EMPTY
    except (ValueError, FieldSetError):
        return EMPTY


def apply(live: JSON | None, config: JSON, manager: str, force: bool, api_version: str, schema: Object,
          now: str, subresource: str = "", reset: FieldSet = EMPTY) -> JSON:
    """Server-side apply `config` (the parsed apply patch) as `manager`; returns the new object.

    `live` is None when the object does not exist yet (apply creates it from the kind's zero object).
    Server-managed metadata in `config` is ignored, and so are the strategy's `reset` fields. The
    manager's Apply entry becomes exactly the config's field set; fields it applied before and drops
    now are removed unless another manager owns them. Raises ApplyConflict when the config changes
    fields other managers own, unless `force`, which moves them to this manager. Raises FieldSetError
    when the config does not fit the schema (e.g. a map-list item without its key), which upstream
    answers with 500. The first apply to an object without managedFields gives its existing fields
    to `before-first-apply`. When the merge changes nothing the manager's time stays as it was.
    """
    config = strip_server_fields(config)
    base: JSON = copy.deepcopy(live) if live else go_form({}, schema)  # stored objects are in their Go form
    meta = base.get("metadata")
    original = meta.get("managedFields") if isinstance(meta, dict) else None
    try:
        before = decode_entries(original or [])
    except FieldSetError:
        original, before = None, []
    try:
        applied = reset_filter(field_set(config, schema), reset)
        merged: JSON = _merge(copy.deepcopy(base), config, schema)
    except FieldSetError as exc:
        raise FieldSetError(f"failed to create typed patch object ({_gvk(api_version, str(config.get('kind', '')))}): "
                            f"{exc}") from exc
    live_fields = strip_server_fields(base)
    entries = before or _before_first_apply(live_fields, api_version, schema, now, subresource, reset)

    me = Entry(manager, "Apply", api_version, None, subresource, applied)
    last = next((e for e in entries if e.identity == me.identity), None)
    others = [e for e in entries if e.identity != me.identity]
    owned = applied.union(*(e.fields for e in others))
    _prune(merged, (last.fields if last else EMPTY) - owned, owned, schema)

    merged_fields = strip_server_fields(merged)
    diff = compare(live_fields, merged_fields, schema).without(reset)
    conflicts = [(e.identity, p) for e in sorted(others, key=lambda e: e.identity)
                 for p in iterate(e.fields & diff.changed)]
    if conflicts and not force:
        allowed = _last_applied_fields(base, schema) if manager == UPGRADING_MANAGER else EMPTY
        remaining = [(m, path_string(p)) for m, p in conflicts if p not in allowed]
        if remaining:
            raise ApplyConflict(remaining)

    after = [e.with_fields(e.fields - diff.changed - diff.removed) for e in others]
    if not json_equal(live_fields, merged_fields):
        after.append(replace(me, time=now))
    elif last is not None and last.fields == applied and last.api_version == api_version:
        after.append(last)
    else:  # the object is unchanged: the manager keeps its time, or has none yet
        after.append(replace(me, time=last.time if last else None))
    finish_entries(merged.setdefault("metadata", {}), original, before, after)
    if manager == UPGRADING_MANAGER:
        _sync_last_applied(merged, config)
    return merged


def _before_first_apply(live: JSON, api_version: str, schema: Object, now: str, subresource: str,
                        reset: FieldSet) -> list[Entry]:
    """The entries of an object without managedFields at its first apply: one Update entry,
    `before-first-apply`, owning every field it has (upstream's skipNonAppliedManager)."""
    diff = compare(go_form({}, schema), live, schema).without(reset)
    return record_update([], diff, Entry(BEFORE_FIRST_APPLY, "Update", api_version, None, subresource, EMPTY), now)


def _sync_last_applied(obj: JSON, config: JSON) -> None:
    """Keep an existing last-applied annotation equal to what kubectl server-side applied (upstream's
    lastAppliedUpdater), so a later client-side apply diffs against the current configuration."""
    annotations = obj.get("metadata", {}).get("annotations")
    if not isinstance(annotations, dict) or LAST_APPLIED not in annotations:
        return
    applied = copy.deepcopy(config)
    meta = applied.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
        meta["annotations"].pop(LAST_APPLIED, None)
        if not meta["annotations"]:
            del meta["annotations"]
    text = json.dumps(applied, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # Go's encoding/json escapes these; the annotation is the object as json.Encoder writes it.
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                          ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    annotations[LAST_APPLIED] = text + "\n"
