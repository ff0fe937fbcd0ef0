"""Strategic merge patch (`application/strategic-merge-patch+json`), driven by the schema nodes.

Follows k8s.io/apimachinery pkg/util/strategicpatch (StrategicMergeMapPatch, the server-side half):
objects merge recursively and `null` deletes; a list merges only when its Array node has a "merge"
`patch_strategy` (by `merge_key` for objects, as a set for primitives) and is replaced otherwise.
A field without schema is merged like a JSON merge patch. Directives:

- `$patch: replace` (map: the patch replaces the map; list element: the patch list replaces the list),
  `$patch: delete` (map: becomes {}; list element: removes the elements with that merge key),
  `$patch: merge` on a map (the default, accepted and ignored);
- `$retainKeys: [...]`: drop the original's keys not listed;
- `$setElementOrder/<list>`: the final order of a merged list (patch items by this order, items only
  on the server keep their relative place);
- `$deleteFromPrimitiveList/<list>`: remove these values from a list of primitives.

Where upstream stores patch values raw (a key the original lacks, an element appended to a merged
list), directives and nulls inside them are still applied here, so no `$patch` ever reaches storage.
Error messages and codes are upstream's (mergepatch errors, interpretStrategicMergePatchError).
"""

from __future__ import annotations

import copy
from typing import Any

from apiserver.decoding import go_json_kind
from apiserver.patch.errors import PatchError
from apiserver.schema import Array, Map, Object, Schema, walk_property

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ELEMENT_ORDER = "$setElementOrder"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"


def strategic_merge_patch(original: dict[str, Any], patch: dict[str, Any], schema: Object) -> dict[str, Any]:
    """Apply `patch` to `original` as described by `schema`; returns a new object, inputs untouched.

    Raises:
        PatchError: 400 for a malformed directive or a patch that is not an object, 422 for lists of
            lists, 500 (as upstream) for the other merge failures, e.g. an element without its merge key.
    """
    if not isinstance(patch, dict):
        kind = go_json_kind(patch)
        raise PatchError(400, f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}")
    return _merge_map(copy.deepcopy(original), copy.deepcopy(patch), schema)


def _merge_map(original: dict[str, Any], patch: dict[str, Any], node: Schema | None) -> dict[str, Any]:
    """Merge `patch` into `original` (both owned by the caller, both mutated) and return the result."""
    if DIRECTIVE in patch:
        directive = patch.pop(DIRECTIVE)
        if directive == "replace":
            return _merge_map({}, patch, node)
        if directive == "delete":
            return {}
        if directive != "merge":
            patch[DIRECTIVE] = directive
            raise PatchError(500, f"unknown patch type: {go_format(directive)} in map: {go_format(patch)}")
    _apply_retain_keys(original, patch)
    _merge_ordered_lists(original, patch, node)
    for key, value in patch.items():
        if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            _delete_from_primitive_list(original, _strip_prefix(key, DELETE_FROM_PRIMITIVE_LIST), value)
            continue
        if value is None:
            original.pop(key, None)
            continue
        child = walk_property(node, key) if node is not None else None
        current = original.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            original[key] = _merge_map(current, value, child)
        elif isinstance(current, list) and isinstance(value, list):
            original[key] = _merge_list(current, value, child)
        else:
            original[key] = _fresh(value, child)
    return original


def _fresh(value: Any, node: Schema | None) -> Any:
    """A patch value with no counterpart of its type in the original, with its directives applied."""
    if isinstance(value, dict):
        return _merge_map({}, value, node)
    if isinstance(value, list):
        return _merge_list([], value, node)
    return value


def _merge_list(original: list[Any], patch: list[Any], node: Schema | None) -> list[Any]:
    """A list field: merged when its schema says so, otherwise replaced by the patch."""
    if isinstance(node, Array) and "merge" in node.patch_strategy.split(","):
        return _merge_slice(original, patch, node)
    return patch


def _merge_slice(original: list[Any], patch: list[Any], node: Array) -> list[Any]:
    """mergeSlice: a merge list, by key for objects and as a set for primitives, then ordered."""
    if not original and not patch:
        return original
    of_maps = _elements_are_maps(original, patch)
    key = node.merge_key if of_maps else ""
    if not of_maps:
        merged = _dedupe(original + patch)
    else:
        if not key:
            raise PatchError(500, f"cannot merge lists without merge key for type {_go_kind(node.items)}")
        original, patch = _apply_list_directives(original, patch, key, node.items)
        merged = _merge_by_key(original, patch, key, node.items)
    in_patch, server_only = _partition(merged, patch, key)
    return _normalize_order(in_patch, server_only, patch, original, key)


def _apply_list_directives(
    original: list[Any], patch: list[Any], key: str, items: Schema
) -> tuple[list[Any], list[Any]]:
    """mergeSliceWithSpecialElements: handle `$patch` elements; returns (original, rest of patch)."""
    rest: list[Any] = []
    replace = False
    for element in patch:
        if DIRECTIVE not in element:
            rest.append(element)
            continue
        directive = element[DIRECTIVE]
        if directive == "delete":
            if key not in element:
                raise _no_merge_key(element, key)
            original = [item for item in original if not (key in item and item[key] == element[key])]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise PatchError(500, "merging lists cannot yet be specified in the patch")
        else:
            raise PatchError(500, f"unknown patch type: {go_format(directive)} in map: {go_format(element)}")
    if replace:
        return [_merge_map({}, element, items) for element in rest], []
    return original, rest


def _merge_by_key(original: list[Any], patch: list[Any], key: str, items: Schema) -> list[Any]:
    """mergeSliceWithoutSpecialElements: merge elements sharing a key value, append the others."""
    merged = list(original)
    for element in patch:
        if key not in element:
            raise _no_merge_key(element, key)
        index = next((i for i, item in enumerate(merged) if key in item and item[key] == element[key]), -1)
        if index >= 0:
            merged[index] = _merge_map(merged[index], element, items)
        else:
            merged.append(_merge_map({}, element, items))
    return merged


def _delete_from_primitive_list(original: dict[str, Any], field: str, values: Any) -> None:
    """`$deleteFromPrimitiveList/<field>`: drop `values` from the list (nothing to do when absent)."""
    if not isinstance(values, list):
        raise _bad_arg_type([], values)
    current = original.get(field)
    if isinstance(current, list):
        original[field] = [item for item in current if item not in values]


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    """applyRetainKeysDirective: every set key of the patch must be retained; clear the others."""
    if RETAIN_KEYS not in patch:
        return
    retained = patch.pop(RETAIN_KEYS)
    if not isinstance(retained, list):
        raise PatchError(400, "invalid patch format of retainKeys")
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER)):
            continue
        if key not in retained:
            raise PatchError(400, "invalid patch format of retainKeys")
    for key in [key for key in original if key not in retained]:
        del original[key]


def _merge_ordered_lists(original: dict[str, Any], patch: dict[str, Any], node: Schema | None) -> None:
    """mergePatchIntoOriginal: merge each list named by `$setElementOrder/<field>` and order it.

    Both the directive and the list are removed from `patch`, so the main loop skips them.
    """
    for directive in [key for key in patch if key.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(directive)
        if not isinstance(order, list):
            raise _bad_arg_type([], order)
        field = _strip_prefix(directive, SET_ELEMENT_ORDER)
        in_original, in_patch = field in original, field in patch
        if not in_original and not in_patch:
            continue
        current, update = original.get(field, []), patch.pop(field, [])
        for value in (current, update):
            if not isinstance(value, list):
                raise _bad_arg_type([], value)
        child = walk_property(node, field) if node is not None else None
        key = child.merge_key if isinstance(child, Array) and _elements_are_maps(current, update) else ""
        _validate_order(update, order, key)
        merged = _merge_list(current, update, child) if in_patch else current
        in_order, server_only = _partition(merged, order, key)
        original[field] = _normalize_order(in_order, server_only, order, current, key)


def _validate_order(patch: list[Any], order: list[Any], key: str) -> None:
    """validatePatchWithSetOrderList: the patch items must appear in `order`, in the same order."""
    if not patch or not order:
        return
    items = patch
    if key:
        for item in patch:
            if not isinstance(item, dict):
                raise _bad_arg_type({}, item)
        items = [item for item in patch if item.get(DIRECTIVE) != "delete"]
    p = s = 0
    while p < len(items) and s < len(order):
        if isinstance(items[p], dict) and DIRECTIVE in items[p]:
            p += 1
            continue
        if _key_equal(items[p], order[s], key):
            p += 1
        s += 1
    if p < len(items) and s >= len(order):
        raise PatchError(500, f"The order in patch list:\n{go_format(patch)}\n doesn't match {SET_ELEMENT_ORDER} "
                              f"list:\n{go_format(order)}\n")


def _key_equal(left: Any, right: Any, key: str) -> bool:
    """mergeKeyValueEqual: primitives compare whole, objects by their merge key."""
    if not key:
        return bool(left == right)
    for item in (left, right):
        if not isinstance(item, dict):
            raise _bad_arg_type({}, item)
        if key not in item:
            raise _no_merge_key(item, key)
    return bool(left[key] == right[key])


def _partition(items: list[Any], by: list[Any], key: str) -> tuple[list[Any], list[Any]]:
    """Split `items` into those present in `by` (by merge key for objects) and the others."""
    wanted = [_identity(item, key) for item in by]
    present: list[Any] = []
    others: list[Any] = []
    for item in items:
        if key:
            if not isinstance(item, dict):
                raise _bad_arg_type({}, item)
            if key not in item:
                raise _no_merge_key(item, key)
        (present if _identity(item, key) in wanted else others).append(item)
    return present, others


def _normalize_order(
    in_patch: list[Any], server_only: list[Any], patch_order: list[Any], server_order: list[Any], key: str
) -> list[Any]:
    """normalizeElementOrder: sort each part by its own order, then interleave them.

    Patch items follow `patch_order`; server-only items keep their order in `server_order` and are
    slotted in before the first patch item that comes after them on the server.
    """
    if key:
        for items in (in_patch, patch_order, server_only, server_order):
            for item in items:
                if not isinstance(item, dict):
                    raise _bad_arg_type({}, item)
                if key not in item:
                    raise _no_merge_key(item, key)
    right = _sorted_by(in_patch, patch_order, key)
    left = _sorted_by(server_only, server_order, key)
    server_index = [_identity(item, key) for item in server_order]

    def position(item: Any) -> int:
        identity = _identity(item, key)
        return server_index.index(identity) if identity in server_index else -1

    result: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if j >= len(right):
            result.append(left[i])
            i += 1
        elif i >= len(left):
            result.append(right[j])
            j += 1
        elif 0 <= position(left[i]) < position(right[j]):
            result.append(left[i])
            i += 1
        else:
            result.append(right[j])
            j += 1
    return result


def _sorted_by(items: list[Any], order: list[Any], key: str) -> list[Any]:
    """Stable sort of `items` by their place in `order`; items not in it go last."""
    identities = [_identity(item, key) for item in order]

    def place(item: Any) -> int:
        identity = _identity(item, key)
        return identities.index(identity) if identity in identities else len(identities)

    return sorted(items, key=place)


def _identity(item: Any, key: str) -> Any:
    """What list items are matched by: the merge key's value for objects, the item itself otherwise."""
    return item.get(key) if key and isinstance(item, dict) else item


def _elements_are_maps(*lists: list[Any]) -> bool:
    """sliceElementType: all elements share one type, and lists of lists are refused."""
    first: type | None = None
    for values in lists:
        for value in values:
            if isinstance(value, list):
                raise PatchError.rejected("lists of lists are not supported")
            if first is None:
                first = type(value)
            elif type(value) is not first:
                raise PatchError(500, f"list element types are not identical: {go_format(list(lists))}")
    return first is dict


def _dedupe(values: list[Any]) -> list[Any]:
    result: list[Any] = []
    for value in values:
        if value not in result:
            result.append(value)
    return result


def _strip_prefix(key: str, prefix: str) -> str:
    """extractKey: `<prefix>/<field>` → field, or upstream's 400 for a malformed directive key."""
    head, sep, field = key.partition("/")
    if head != prefix or not sep:
        what = "primitive list" if prefix == DELETE_FROM_PRIMITIVE_LIST else "setElementOrder list"
        raise PatchError(400, f"invalid patch format of {what}")
    return field


def _no_merge_key(item: dict[str, Any], key: str) -> PatchError:
    return PatchError(500, f"map: {go_format(item)} does not contain declared merge key: {key}")


def _bad_arg_type(expected: Any, actual: Any) -> PatchError:
    return PatchError(500, f"expected a {_go_type(expected)}, but received a {_go_type(actual)}")


def _go_kind(node: Schema) -> str:
    """reflect.Kind of a list element type, for upstream's 'cannot merge lists' message."""
    if isinstance(node, Object):
        return "struct"
    if isinstance(node, Map):
        return "map"
    return "interface"


def _go_type(value: Any) -> str:
    """reflect.TypeOf(value) as Go prints it, for a decoded JSON value."""
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return "%!s(<nil>)"


def go_format(value: Any) -> str:
    """Go's `%v` of a decoded JSON value (maps print with sorted keys)."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{key}:{go_format(value[key])}" for key in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_format(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)
