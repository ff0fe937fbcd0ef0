"""Unit tests for the three patch types, with small schemas shaped like the real kinds'."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from apiserver.patch.errors import REJECTED, PatchError
from apiserver.patch.jsonpatch import json_patch
from apiserver.patch.merge import merge_patch
from apiserver.patch.strategic import strategic_merge_patch
from apiserver.schema import Array, Boolean, Free, Integer, IntOrString, Map, Object, String

OWNER_REFERENCE = Object(
    ref="io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference",
    properties={"apiVersion": String(), "kind": String(), "name": String(), "uid": String(), "controller": Boolean()},
)
METADATA = Object(
    ref="io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
    properties={
        "name": String(),
        "labels": Map(values=String()),
        "annotations": Map(values=String()),
        "ownerReferences": Array(items=OWNER_REFERENCE, merge_key="uid", patch_strategy="merge"),
        "finalizers": Array(items=String(), list_type="set", patch_strategy="merge"),
    },
)
SERVICE_PORT = Object(
    ref="io.k8s.api.core.v1.ServicePort",
    properties={"name": String(), "port": Integer(), "targetPort": IntOrString(), "protocol": String()},
)
SERVICE = Object(
    ref="io.k8s.api.core.v1.Service",
    properties={
        "apiVersion": String(),
        "kind": String(),
        "metadata": METADATA,
        "spec": Object(
            ref="io.k8s.api.core.v1.ServiceSpec",
            properties={
                "ports": Array(items=SERVICE_PORT, merge_key="port", patch_strategy="merge"),
                "selector": Map(values=String()),
                "strategy": Object(properties={"type": String(), "rollingUpdate": Free()}),
                "externalIPs": Array(items=String()),
                "matrix": Array(items=Array(items=String()), patch_strategy="merge"),
            },
        ),
    },
)
ENDPOINT = Object(
    ref="io.k8s.api.discovery.v1.Endpoint",
    properties={
        "addresses": Array(items=String(), list_type="set"),
        "conditions": Object(properties={"ready": Boolean()}),
        "nodeName": String(),
    },
)
ENDPOINT_SLICE = Object(
    ref="io.k8s.api.discovery.v1.EndpointSlice",
    properties={
        "apiVersion": String(),
        "kind": String(),
        "metadata": METADATA,
        "addressType": String(),
        "endpoints": Array(items=ENDPOINT),
        "ports": Array(items=Object(properties={"name": String(), "port": Integer(), "protocol": String()})),
    },
)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def smp(original: dict[str, Any], patch: dict[str, Any], schema: Object = SERVICE) -> dict[str, Any]:
    """Apply and check that neither input was touched."""
    before = copy.deepcopy((original, patch))
    result = strategic_merge_patch(original, patch, schema)
    assert (original, patch) == before
    return result


def smp_error(original: dict[str, Any], patch: dict[str, Any]) -> PatchError:
    with pytest.raises(PatchError) as info:
        strategic_merge_patch(original, patch, SERVICE)
    return info.value


def service(*ports: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", **metadata}, "spec": {"ports": list(ports)}}


# --- RFC 7386 merge patch -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [  # RFC 7386 appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_rfc7386_examples(target: Any, patch: Any, expected: Any) -> None:
    before = copy.deepcopy((target, patch))
    assert merge_patch(target, patch) == expected
    assert (target, patch) == before


def test_merge_patch_kubectl_label_and_unlabel() -> None:
    obj: dict[str, Any] = {"metadata": {"labels": {"foo": "bar", "keep": "1"}}, "endpoints": [{"addresses": ["a"]}]}
    result = merge_patch(obj, {"metadata": {"labels": {"foo": None, "new": "x"}}})
    assert result["metadata"]["labels"] == {"keep": "1", "new": "x"}
    result["endpoints"][0]["addresses"].append("b")
    assert obj["endpoints"][0]["addresses"] == ["a"]  # the result shares nothing with the input


# --- RFC 6902 JSON patch --------------------------------------------------------------------------


def test_json_patch_applies_every_operation() -> None:
    target = {"metadata": {"labels": {"a": "1"}}, "endpoints": [{"addresses": ["10.0.0.1"]}]}
    ops = [
        {"op": "test", "path": "/metadata/labels/a", "value": "1"},
        {"op": "add", "path": "/metadata/labels/b", "value": "2"},
        {"op": "replace", "path": "/metadata/labels/a", "value": "x"},
        {"op": "add", "path": "/endpoints/0/addresses/-", "value": "10.0.0.2"},
        {"op": "copy", "from": "/metadata/labels/b", "path": "/metadata/labels/c"},
        {"op": "move", "from": "/metadata/labels/c", "path": "/metadata/labels/d"},
        {"op": "remove", "path": "/metadata/labels/b"},
    ]
    before = copy.deepcopy(target)
    result = json_patch(target, ops)
    assert result == {
        "metadata": {"labels": {"a": "x", "d": "2"}},
        "endpoints": [{"addresses": ["10.0.0.1", "10.0.0.2"]}],
    }
    assert target == before


def test_json_patch_failed_test_is_422_with_the_generic_message() -> None:
    with pytest.raises(PatchError) as info:
        json_patch({"x": 1}, [{"op": "test", "path": "/x", "value": 2}])
    assert (info.value.code, info.value.reason, info.value.message) == (422, "Invalid", REJECTED)
    assert info.value.detail == "testing value /x failed: test failed"


@pytest.mark.parametrize(
    ("op", "detail"),
    [
        ({"op": "remove", "path": "/x"}, 'remove operation does not apply: doc is missing path: "/x": missing value'),
        ({"op": "replace", "path": "/x", "value": 1}, 'replace operation does not apply: doc is missing path: "/x"'),
        ({"op": "add", "path": "/x/y", "value": 1}, 'add operation does not apply: doc is missing path: "/x/y"'),
        ({"op": "move", "from": "/x", "path": "/y"}, 'move operation does not apply: doc is missing path: "/x"'),
        ({"op": "test", "path": "/x", "value": 1}, "test operation does not apply: is missing path: /x"),
        ({"op": "bogus", "path": "/x"}, "Unknown operation 'bogus'"),
    ],
)
def test_json_patch_missing_path_is_422(op: dict[str, Any], detail: str) -> None:
    with pytest.raises(PatchError) as info:
        json_patch({"a": 1}, [op])
    assert info.value.code == 422
    assert info.value.message == REJECTED
    assert info.value.detail.startswith(detail)


def test_json_patch_limits_operations_to_10000() -> None:
    op = {"op": "add", "path": "/x", "value": "y"}
    assert json_patch({}, [op] * 10000) == {"x": "y"}
    with pytest.raises(PatchError) as info:
        json_patch({}, [op] * 10001)
    assert info.value.code == 413
    assert info.value.message == (
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"op": "add"}, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
        ("x", "json: cannot unmarshal string into Go value of type jsonpatch.Patch"),
        ([1], "json: cannot unmarshal number into Go value of type jsonpatch.Operation"),
    ],
)
def test_json_patch_body_must_be_an_array_of_objects(body: Any, message: str) -> None:
    with pytest.raises(PatchError) as info:
        json_patch({}, body)
    assert (info.value.code, info.value.message) == (400, message)


def test_json_patch_result_must_be_an_object() -> None:
    with pytest.raises(PatchError) as info:
        json_patch({"a": 1}, [{"op": "replace", "path": "", "value": [1]}])
    assert info.value.code == 422


# --- strategic merge patch: what kubectl sends ----------------------------------------------------


def test_kubectl_service_port_change_add_and_delete() -> None:
    original = service(
        {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"},
    )
    patch = {
        "spec": {
            "$setElementOrder/ports": [{"port": 80}, {"port": 9090}],
            "ports": [
                {"port": 80, "targetPort": 8081},
                {"name": "metrics", "port": 9090},
                {"$patch": "delete", "port": 443},
            ],
        }
    }
    assert smp(original, patch)["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": 8081, "protocol": "TCP"},
        {"name": "metrics", "port": 9090},
    ]


def test_client_side_apply_patch_on_endpointslice() -> None:
    """EndpointSlice lists carry no merge tags: kubectl sends them whole and they are replaced."""
    live = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "web-abc", "labels": {"app": "web"}, "annotations": {LAST_APPLIED: "{}\n", "other": "x"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
    }
    applied = {"metadata": {"name": "web-abc", "labels": {"tier": "fe"}}, "endpoints": [{"addresses": ["10.0.0.1"]}]}
    patch = {
        "metadata": {"annotations": {LAST_APPLIED: json.dumps(applied) + "\n"}, "labels": {"tier": "fe", "app": None}},
        "endpoints": [
            {"addresses": ["10.0.0.1"], "conditions": {"ready": True}, "nodeName": "node-1"},
            {"addresses": ["10.0.0.3"], "conditions": {"ready": False}},
        ],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }
    result = smp(live, patch, ENDPOINT_SLICE)
    assert result["metadata"] == {
        "name": "web-abc",
        "labels": {"tier": "fe"},
        "annotations": {LAST_APPLIED: json.dumps(applied) + "\n", "other": "x"},
    }
    assert result["endpoints"] == patch["endpoints"]
    assert result["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert result["addressType"] == "IPv4"


def test_owner_references_merge_by_uid() -> None:
    a = {"apiVersion": "v1", "kind": "Service", "name": "a", "uid": "u-a"}
    b = {"apiVersion": "v1", "kind": "Service", "name": "b", "uid": "u-b"}
    c = {"apiVersion": "v1", "kind": "Service", "name": "c", "uid": "u-c"}
    original = service(ownerReferences=[a, b])
    patch = {
        "metadata": {
            "$setElementOrder/ownerReferences": [{"uid": "u-a"}, {"uid": "u-c"}],
            "ownerReferences": [{"uid": "u-a", "controller": True}, c, {"$patch": "delete", "uid": "u-b"}],
        }
    }
    assert smp(original, patch)["metadata"]["ownerReferences"] == [{**a, "controller": True}, c]


def test_finalizers_are_a_set() -> None:
    original = service(finalizers=["a", "b"])
    assert smp(original, {"metadata": {"finalizers": ["b", "c"]}})["metadata"]["finalizers"] == ["a", "b", "c"]
    patch = {
        "metadata": {
            "$deleteFromPrimitiveList/finalizers": ["b"],
            "$setElementOrder/finalizers": ["c", "a"],
            "finalizers": ["c"],
        }
    }
    assert smp(original, patch)["metadata"]["finalizers"] == ["c", "a"]


def test_delete_from_primitive_list_alone() -> None:
    original = service(finalizers=["a", "b", "c"])
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "x"]}}
    assert smp(original, patch)["metadata"]["finalizers"] == ["a", "c"]
    assert "finalizers" not in smp(service(), patch)["metadata"]


# --- strategic merge patch: each rule and directive ------------------------------------------------


def test_maps_merge_and_null_deletes() -> None:
    original = {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"selector": {"app": "web"}}}
    patch = {"metadata": {"labels": {"a": None, "c": "3"}}, "spec": {"selector": None}}
    assert smp(original, patch) == {"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {}}


def test_lists_without_merge_strategy_are_replaced() -> None:
    original = {"spec": {"externalIPs": ["1.1.1.1", "2.2.2.2"]}}
    assert smp(original, {"spec": {"externalIPs": ["3.3.3.3"]}}) == {"spec": {"externalIPs": ["3.3.3.3"]}}


def test_merge_list_interleaves_server_only_items() -> None:
    """Upstream's mergeSortedSlice: a server-only item goes before the first patch item after it on the
    server; a new item (not on the server) is placed as soon as it is reached."""
    original = service({"port": 1}, {"port": 2}, {"port": 3})
    patch = {"spec": {"ports": [{"port": 2, "name": "two"}, {"port": 4}]}}
    assert smp(original, patch)["spec"]["ports"] == [{"port": 1}, {"port": 2, "name": "two"}, {"port": 4}, {"port": 3}]


def test_set_element_order_reorders() -> None:
    original = service({"port": 1}, {"port": 2}, {"port": 3})
    patch = {"spec": {"$setElementOrder/ports": [{"port": 3}, {"port": 4}, {"port": 1}], "ports": [{"port": 4}]}}
    assert [p["port"] for p in smp(original, patch)["spec"]["ports"]] == [2, 3, 4, 1]
    only_order = {"spec": {"$setElementOrder/ports": [{"port": 3}, {"port": 2}, {"port": 1}]}}
    assert [p["port"] for p in smp(original, only_order)["spec"]["ports"]] == [3, 2, 1]


def test_set_element_order_when_the_list_is_new() -> None:
    patch = {
        "spec": {
            "$setElementOrder/ports": [{"port": 2}, {"port": 1}],
            "ports": [{"port": 2, "name": None}, {"port": 1}, {"$patch": "delete", "port": 3}],
        }
    }
    assert smp({}, patch) == {"spec": {"ports": [{"port": 2}, {"port": 1}]}}


def test_patch_replace_on_a_list_element() -> None:
    original = service({"port": 1, "name": "a"}, {"port": 2})
    patch = {"spec": {"ports": [{"port": 3, "name": None}, {"$patch": "replace"}]}}
    assert smp(original, patch)["spec"]["ports"] == [{"port": 3}]


def test_patch_replace_and_delete_on_a_map() -> None:
    original = {"metadata": {"labels": {"a": "1"}}, "spec": {"selector": {"app": "web", "tier": "fe"}}}
    replaced = smp(original, {"spec": {"selector": {"$patch": "replace", "app": "api"}}})
    assert replaced["spec"]["selector"] == {"app": "api"}
    deleted = smp(original, {"spec": {"selector": {"$patch": "delete"}}})
    assert deleted["spec"]["selector"] == {}
    merged = smp(original, {"spec": {"selector": {"$patch": "merge", "x": "y"}}})
    assert merged["spec"]["selector"] == {"app": "web", "tier": "fe", "x": "y"}
    assert smp(original, {"$patch": "replace", "kind": "Service"}) == {"kind": "Service"}


def test_retain_keys_clears_unlisted_fields() -> None:
    original = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}}
    assert smp(original, patch) == {"spec": {"strategy": {"type": "Recreate"}}}


def test_retain_keys_must_list_every_field_the_patch_sets() -> None:
    error = smp_error({}, {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"x": 1}}}})
    assert (error.code, error.message) == (400, "invalid patch format of retainKeys")
    error = smp_error({}, {"spec": {"strategy": {"$retainKeys": "type"}}})
    assert (error.code, error.message) == (400, "invalid patch format of retainKeys")


def test_fields_without_schema_merge_like_a_merge_patch() -> None:
    original = {"spec": {"extra": {"a": 1, "list": [1, 2], "nested": {"x": 1}}}}
    patch = {"spec": {"extra": {"a": None, "list": [3], "nested": {"y": 2}}, "new": {"k": "v", "gone": None}}}
    assert smp(original, patch) == {"spec": {"extra": {"list": [3], "nested": {"x": 1, "y": 2}}, "new": {"k": "v"}}}


def test_directives_in_new_values_never_reach_the_result() -> None:
    patch = {
        "metadata": {"labels": {"$patch": "replace", "a": "1"}},
        "spec": {"ports": [{"port": 80}, {"$patch": "delete", "port": 443}]},
    }
    assert smp({}, patch) == {"metadata": {"labels": {"a": "1"}}, "spec": {"ports": [{"port": 80}]}}


def test_type_change_replaces_the_value() -> None:
    assert smp({"spec": {"selector": "x"}}, {"spec": {"selector": {"a": "b"}}}) == {"spec": {"selector": {"a": "b"}}}


# --- strategic merge patch: upstream's errors ------------------------------------------------------


def test_missing_merge_key_is_upstreams_500() -> None:
    error = smp_error(service({"port": 80}), {"spec": {"ports": [{"name": "x"}]}})
    assert (error.code, error.message) == (500, "map: map[name:x] does not contain declared merge key: port")
    error = smp_error(service({"port": 80}), {"spec": {"ports": [{"$patch": "delete", "name": "x"}]}})
    assert error.message == "map: map[$patch:delete name:x] does not contain declared merge key: port"


@pytest.mark.parametrize(
    ("patch", "code", "message"),
    [
        ({"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}}, 400, "invalid patch format of primitive list"),
        ({"spec": {"$setElementOrderports": []}}, 400, "invalid patch format of setElementOrder list"),
        (
            {"spec": {"$setElementOrder/ports": {"port": 1}}},
            500,
            "expected a []interface {}, but received a map[string]interface {}",
        ),
        ({"spec": {"selector": {"$patch": "bogus"}}}, 500, "unknown patch type: bogus in map: map[$patch:bogus]"),
        (
            {"spec": {"ports": [{"$patch": "merge", "port": 80}]}},
            500,
            "merging lists cannot yet be specified in the patch",
        ),
        (
            {"spec": {"ports": [{"port": 80}, "x"]}},
            500,
            "list element types are not identical: [[map[port:80]] [map[port:80] x]]",
        ),
        ({"spec": {"matrix": [["a"]]}}, 422, REJECTED),
        (
            {"spec": {"$setElementOrder/ports": [{"port": 80}], "ports": [{"port": 81}]}},
            500,
            "The order in patch list:\n",
        ),
    ],
)
def test_malformed_patches(patch: dict[str, Any], code: int, message: str) -> None:
    error = smp_error({"spec": {"ports": [{"port": 80}], "matrix": [["x"]]}}, patch)
    assert error.code == code
    assert error.message.startswith(message)


def test_lists_of_lists_keep_upstreams_reason() -> None:
    error = smp_error({"spec": {"matrix": [["x"]]}}, {"spec": {"matrix": [["a"]]}})
    assert (error.code, error.reason, error.detail) == (422, "Invalid", "lists of lists are not supported")


def test_patch_must_be_an_object() -> None:
    with pytest.raises(PatchError) as info:
        strategic_merge_patch({}, [], SERVICE)  # type: ignore[arg-type]
    assert (info.value.code, info.value.message) == (
        400,
        "json: cannot unmarshal array into Go value of type map[string]interface {}",
    )


def test_json_patch_copies_add_at_most_3_mib() -> None:
    """evanphx's AccumulatedCopySizeLimit as kube-apiserver sets it (JSONPatchMaxCopyBytes): each copy adds the
    length of the copied value's JSON; copying the annotations into themselves doubles them, and the sixth copy
    passes 3 MiB (65544 + 131094 + 262194 + 524394 + 1048794 + 2097594 bytes)."""
    target = {"metadata": {"name": "a"}}
    ops: list[dict[str, Any]] = [{"op": "add", "path": "/metadata/annotations", "value": {"k": "x" * 65536}}]
    ops += [{"op": "copy", "from": "/metadata/annotations", "path": f"/metadata/annotations/c{i}"} for i in range(6)]
    assert len(json.dumps(json_patch(target, copy.deepcopy(ops[:6])), separators=(",", ":"))) > 2_000_000
    with pytest.raises(PatchError) as caught:
        json_patch(target, ops)
    assert (caught.value.code, caught.value.message) == (422, REJECTED)
    assert caught.value.detail == ("Unable to complete the copy, the accumulated size increase of copy is 4129614, "
                                   "exceeding the limit 3145728")


def test_json_patch_copy_size_counts_go_escapes() -> None:
    """Go's JSON escapes <, > and & as \\u003c and so on: two copies of 300,000 of them pass the cap (3,600,004
    bytes), which they would not as 600,004 bytes of UTF-8."""
    ops = [{"op": "copy", "from": "/a", "path": f"/b{i}"} for i in range(2)]
    with pytest.raises(PatchError) as caught:
        json_patch({"a": "<>&" * 100_000}, ops)
    assert caught.value.detail.endswith("is 3600004, exceeding the limit 3145728")
