"""Field sets, fieldsV1 encoding and Update-operation ownership (apiserver.managedfields)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from apiserver.managedfields import (
    compare,
    field_set,
    from_fields_v1,
    iterate,
    manager_name,
    path_string,
    to_fields_v1,
    update_managed_fields,
)
from apiserver.schema import Array, Integer, Map, Object, String

PORT = Object(properties={"name": String(), "port": Integer(), "protocol": String(default="TCP")})
PORT_ATOMIC = Object(properties={"name": String(), "port": Integer()}, atomic=True)
META = Object(properties={
    "name": String(), "namespace": String(), "uid": String(), "resourceVersion": String(),
    "generation": Integer(), "creationTimestamp": String(),
    "labels": Map(values=String()), "annotations": Map(values=String()),
    "finalizers": Array(items=String(), list_type="set"),
    "managedFields": Array(items=Object()),
})
SCHEMA = Object(properties={
    "apiVersion": String(), "kind": String(), "metadata": META,
    "addressType": String(),
    "spec": Object(properties={
        "replicas": Integer(),
        "ports": Array(items=PORT, list_type="map", map_keys=("port", "protocol")),
        "endpoints": Array(items=Object(properties={"addresses": Array(items=String(), list_type="set")})),
        "target": PORT_ATOMIC,
        "tags": Array(items=String(), list_type="set"),
    }),
})
NOW, LATER = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"


def obj(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Thing", "metadata": {"name": "a", "namespace": "ns", "uid": "u-1",
                                                             "resourceVersion": "7", "labels": {"app": "web"}},
            "spec": spec}


def entries(o: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = o["metadata"]["managedFields"]
    return result


def test_field_set_encoding_matches_upstream_form() -> None:
    o = obj(ports=[{"port": 80, "protocol": "TCP", "name": "http"}], replicas=2)
    fs = field_set(o, SCHEMA)
    encoded = to_fields_v1(fs)
    assert encoded == {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}}},
            "f:replicas": {},
        },
    }
    # "." comes first and keys are compact JSON with sorted keys
    assert json.dumps(encoded, separators=(",", ":")).startswith('{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec"')
    assert next(iter(encoded["f:spec"]["f:ports"]['k:{"port":80,"protocol":"TCP"}'])) == "."
    assert from_fields_v1(encoded) == fs


def test_field_set_list_kinds_and_server_metadata() -> None:
    o = obj(endpoints=[{"addresses": ["10.0.0.1"]}], target={"name": "x", "port": 1}, tags=["b", "a"])
    o["metadata"].update(generation=3, creationTimestamp="t", managedFields=[{}], finalizers=["f"])
    fs = field_set(o, SCHEMA)
    assert to_fields_v1(fs) == {
        "f:metadata": {"f:finalizers": {'v:"f"': {}}, "f:labels": {"f:app": {}}},
        "f:spec": {"f:endpoints": {}, "f:tags": {'v:"a"': {}, 'v:"b"': {}}, "f:target": {}},
    }


def test_missing_map_key_takes_schema_default() -> None:
    fs = field_set(obj(ports=[{"port": 53}]), SCHEMA)
    assert ("f:spec", "f:ports", 'k:{"port":53,"protocol":"TCP"}') in fs


def test_element_order_fields_keys_values() -> None:
    encoded = to_fields_v1({("f:b",), ("f:a",), ('k:{"port":9}',), ('k:{"port":10}',), ("v:2",), ('v:"x"',)})
    assert list(encoded) == ["f:a", "f:b", 'k:{"port":9}', 'k:{"port":10}', "v:2", 'v:"x"']


def test_path_string_and_iteration_order() -> None:
    paths = {("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}', "f:name"), ("f:addressType",),
             ("f:metadata", "f:labels", "f:app")}
    assert [path_string(p) for p in iterate(paths)] == [
        ".addressType", ".metadata.labels.app", '.spec.ports[port=80,protocol="TCP"].name']


def test_decode_ignores_unknown_elements_and_canonicalises_keys() -> None:
    fs = from_fields_v1({"x:odd": {}, "f:spec": {'k:{"protocol": "TCP", "port": 80}': {".": {}, "f:port": {}}}})
    assert fs == {("f:spec", 'k:{"port":80,"protocol":"TCP"}'), ("f:spec", 'k:{"port":80,"protocol":"TCP"}', "f:port")}


def test_compare_marks_added_maps_and_list_items() -> None:
    old = obj(replicas=1)
    old["metadata"].pop("labels")
    new = obj(replicas=2, ports=[{"port": 80, "protocol": "TCP"}])
    diff = compare(old, new, SCHEMA)
    assert ("f:metadata", "f:labels") in diff.added and ("f:metadata", "f:labels", "f:app") in diff.added
    assert ("f:spec", "f:ports") in diff.added
    assert ("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}') in diff.added
    assert diff.modified == {("f:spec", "f:replicas")}
    assert not diff.removed
    assert compare(new, copy.deepcopy(new), SCHEMA).is_same()


def test_compare_treats_null_as_unset_and_tells_bools_from_ints() -> None:
    assert compare(obj(replicas=None), obj(), SCHEMA).is_same()
    assert compare(obj(target={"name": "x", "port": 1}), obj(target={"name": "x", "port": True}), SCHEMA).modified


@pytest.mark.parametrize(("field_manager", "user_agent", "expected"), [
    ("mine", "kubectl/v1.32.0 (linux/amd64)", "mine"),
    (None, "kubectl/v1.32.0 (linux/amd64) kubernetes/abc", "kubectl"),
    ("", "kube-controller-manager/v1.32.0", "kube-controller-manager"),
    (None, "bad\x00agent\n/1", "badagent"),
    (None, "x" * 200, "x" * 128),
    (None, "é" * 100, "é" * 64),
    (None, None, ""),
])
def test_manager_name(field_manager: str | None, user_agent: str | None, expected: str) -> None:
    assert manager_name(field_manager, user_agent) == expected


def test_create_records_changed_fields_with_dot_for_new_maps() -> None:
    new = obj(replicas=1, ports=[{"port": 80, "protocol": "TCP"}])
    new["metadata"]["creationTimestamp"] = NOW
    update_managed_fields(new, None, "kubectl-create", "v1", SCHEMA, NOW)
    assert entries(new) == [{
        "manager": "kubectl-create", "operation": "Update", "apiVersion": "v1", "time": NOW,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:ports": {".": {}, 'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}, "f:protocol": {}}},
                "f:replicas": {},
            },
        },
    }]


def test_noop_write_leaves_managed_fields_identical() -> None:
    live = obj(replicas=1)
    update_managed_fields(live, None, "a", "v1", SCHEMA, NOW)
    stored = entries(live)
    # an update that sends no managedFields and changes nothing
    new = copy.deepcopy(live)
    del new["metadata"]["managedFields"]
    new["metadata"]["resourceVersion"] = "8"
    update_managed_fields(new, live, "b", "v1", SCHEMA, LATER)
    assert entries(new) is stored
    # a patch applied to the stored object (managedFields carried along) that changes nothing
    patched = copy.deepcopy(live)
    update_managed_fields(patched, live, "a", "v1", SCHEMA, LATER)
    assert entries(patched) == stored


def test_update_moves_ownership_and_keeps_untouched_times() -> None:
    live = obj(replicas=1, tags=["x"])
    update_managed_fields(live, None, "creator", "v1", SCHEMA, NOW)
    new = copy.deepcopy(live)
    new["spec"]["replicas"] = 3
    update_managed_fields(new, live, "scaler", "v1", SCHEMA, LATER)
    by_manager = {e["manager"]: e for e in entries(new)}
    assert by_manager["scaler"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert by_manager["scaler"]["time"] == LATER
    assert "f:replicas" not in by_manager["creator"]["fieldsV1"]["f:spec"]
    assert by_manager["creator"]["time"] == NOW
    # the same manager writing again merges into its one entry
    again = copy.deepcopy(new)
    again["spec"]["tags"] = ["x", "y"]
    update_managed_fields(again, new, "scaler", "v1", SCHEMA, LATER)
    scaler = [e for e in entries(again) if e["manager"] == "scaler"]
    assert len(scaler) == 1
    assert scaler[0]["fieldsV1"] == {"f:spec": {"f:replicas": {}, "f:tags": {'v:"y"': {}}}}


def test_removed_fields_leave_every_entry_and_empty_entries_go() -> None:
    live = obj(replicas=1)
    update_managed_fields(live, None, "creator", "v1", SCHEMA, NOW)
    new = copy.deepcopy(live)
    new["spec"] = {}
    new["metadata"].pop("labels")
    update_managed_fields(new, live, "cleaner", "v1", SCHEMA, LATER)
    assert "managedFields" not in new["metadata"]


def test_subresource_and_api_version_make_separate_entries() -> None:
    live = obj(replicas=1)
    update_managed_fields(live, None, "m", "v1", SCHEMA, NOW)
    new = copy.deepcopy(live)
    new["spec"]["replicas"] = 2
    update_managed_fields(new, live, "m", "v1", SCHEMA, LATER, subresource="scale")
    assert [(e["manager"], e.get("subresource")) for e in entries(new)] == [("m", None), ("m", "scale")]
    assert list(entries(new)[1]) == ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1",
                                    "subresource"]


def test_client_can_reset_or_rewrite_managed_fields() -> None:
    live = obj(replicas=1)
    update_managed_fields(live, None, "creator", "v1", SCHEMA, NOW)
    reset = copy.deepcopy(live)
    reset["metadata"]["managedFields"] = [{}]
    update_managed_fields(reset, live, "x", "v1", SCHEMA, LATER)
    assert "managedFields" not in reset["metadata"]
    rewritten = copy.deepcopy(live)
    rewritten["metadata"]["managedFields"][0]["manager"] = "renamed"
    update_managed_fields(rewritten, live, "x", "v1", SCHEMA, LATER)
    assert [e["manager"] for e in entries(rewritten)] == ["renamed"]


def test_schema_mismatch_drops_managed_fields() -> None:
    live = obj(replicas=1)
    update_managed_fields(live, None, "creator", "v1", SCHEMA, NOW)
    new = copy.deepcopy(live)
    new["spec"]["ports"] = [{"name": "no-port"}]
    update_managed_fields(new, live, "x", "v1", SCHEMA, LATER)
    assert "managedFields" not in new["metadata"]
