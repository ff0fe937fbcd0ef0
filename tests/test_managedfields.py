"""Field sets, fieldsV1 encoding and Update-operation ownership (apiserver.managedfields)."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from apiserver.managedfields import (
    compare,
    field_set,
    from_fields_v1,
    go_equal,
    go_form,
    iterate,
    manager_name,
    path_string,
    to_fields_v1,
    update_managed_fields,
)
from apiserver.schema import Array, Integer, Map, Object, String
from apiserver.testing import RunningServer

PORT = Object(properties={"name": String(), "port": Integer(), "protocol": String(default="TCP")})
PORT_ATOMIC = Object(properties={"name": String(), "port": Integer()}, atomic=True)
META = Object(properties={
    "name": String(), "namespace": String(), "uid": String(), "resourceVersion": String(),
    "generation": Integer(), "creationTimestamp": String(),
    "labels": Map(values=String()), "annotations": Map(values=String()),
    "finalizers": Array(items=String(), list_type="set"),
    "managedFields": Array(items=Object()),
})
SCHEMA = Object(always=("metadata", "spec"), properties={
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


def test_compare_tells_null_from_unset_and_bools_from_ints() -> None:
    assert compare(obj(replicas=None), obj(), SCHEMA).removed == {("f:spec", "f:replicas")}
    assert compare(obj(target={"name": "x", "port": 1}), obj(target={"name": "x", "port": True}), SCHEMA).modified


def test_go_form_drops_empty_optional_fields_and_fills_always_present_ones() -> None:
    """As the request decoded into its Go type: optional null / [] / {} gone, non-omitempty fields and structs there."""
    assert compare(go_form(obj(replicas=None), SCHEMA), go_form(obj(), SCHEMA), SCHEMA).is_same()
    schema = Object(always=("addressType", "endpoints", "spec"), properties={
        "addressType": String(), "endpoints": Array(items=String()), "ports": Array(items=String()),
        "labels": Map(values=String()), "spec": Object(always=("n",), properties={"n": Integer()})})
    assert go_form({"ports": [], "labels": {}}, schema) == {"addressType": "", "endpoints": None, "spec": {"n": 0}}
    assert go_form({"endpoints": [], "ports": None}, schema) == {"addressType": "", "endpoints": [], "spec": {"n": 0}}


def test_go_equal_compares_go_forms_without_copying_what_is_equal() -> None:
    node = Array(items=Object(always=("conditions",), properties={
        "addresses": Array(items=String()), "conditions": Object(properties={"ready": String()})}))
    assert go_equal([{"addresses": ["a"]}], [{"addresses": ["a"], "conditions": {}}], node)
    assert go_equal([{"addresses": ["a"], "conditions": None}], [{"addresses": ["a"], "conditions": {}}], node)
    assert not go_equal([{"addresses": ["a"]}], [{"addresses": ["b"], "conditions": {}}], node)
    assert not go_equal([{"addresses": ["a"]}], [], node)


def test_compare_keeps_empty_and_null_apart_as_smd_does() -> None:
    """`[]` over null is a change (owned); a list that was null, not absent, gains items but not itself."""
    zero = {"endpoints": None, "items": None}
    schema = Object(properties={"endpoints": Array(items=String()),
                                "items": Array(items=PORT, list_type="map", map_keys=("port",))})
    assert compare(zero, {"endpoints": [], "items": None}, schema).modified == {("f:endpoints",)}
    diff = compare(zero, {"endpoints": None, "items": [{"port": 1}]}, schema)
    assert diff.added == {("f:items", 'k:{"port":1}'), ("f:items", 'k:{"port":1}', "f:port")}
    assert ("f:items",) in compare({}, {"items": [{"port": 1}]}, schema).added


def test_the_oldest_of_more_than_ten_update_managers_merge_into_ancient_changes() -> None:
    """As kube-apiserver answered 11 label patches by m1..m11 on an object created by "creator"."""
    live = obj()
    update_managed_fields(live, None, "creator", "v1", SCHEMA, "2026-01-01T00:00:00Z")
    for i in range(1, 12):
        new = copy.deepcopy(live)
        new["metadata"]["labels"][f"l{i}"] = "x"
        update_managed_fields(new, live, f"m{i}", "v1", SCHEMA, f"2026-01-01T00:00:{i:02}Z")
        live = new
    assert [(e["manager"], e["time"]) for e in entries(live)][:2] == [
        ("ancient-changes", "2026-01-01T00:00:02Z"), ("m3", "2026-01-01T00:00:03Z")]
    assert entries(live)[0]["fieldsV1"] == {"f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:l1": {}, "f:l2": {}}}}
    assert len(entries(live)) == 10


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


# ---------------------------------------------------------------------------------------------
# Over HTTP: managedFields from the request as decoded, before the strategy (kube-apiserver's order)

ES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
SVC = "/api/v1/namespaces/default/services"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
READY = {"type": "Ready", "status": "True", "reason": "Up", "message": "up", "lastTransitionTime": "2024-01-01T00:00:00Z"}
READY_KEY = 'k:{"type":"Ready"}'
READY_FIELDS = {".": {}, "f:lastTransitionTime": {}, "f:message": {}, "f:reason": {}, "f:status": {}, "f:type": {}}


@pytest.fixture
async def http(apiserver: RunningServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=apiserver.url) as session:
        yield session


async def send(http: aiohttp.ClientSession, method: str, path: str, body: Any, manager: str = "m",
               content_type: str = "application/json", **query: str) -> dict[str, Any]:
    async with http.request(method, path, data=json.dumps(body), params={"fieldManager": manager, **query},
                            headers={"Content-Type": content_type}) as response:
        assert response.status < 300, await response.text()
        result: dict[str, Any] = await response.json()
        return result


def owned(o: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """fieldsV1 by manager, with the subresource appended (`m/status`); time None when absent."""
    return {e["manager"] + ("/" + e["subresource"] if e.get("subresource") else ""): e["fieldsV1"]
            for e in o["metadata"].get("managedFields", [])}


def slice_body(name: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": name},
            "addressType": "IPv4", **fields}


async def test_empty_lists_sent_are_owned_though_stored_as_null(http: aiohttp.ClientSession) -> None:
    created = await send(http, "POST", ES, {**slice_body("a", endpoints=[], ports=[]), "metadata": {
        "name": "a", "labels": {}}})
    assert created["endpoints"] is None and created["ports"] is None
    assert owned(created) == {"m": {"f:addressType": {}, "f:endpoints": {}, "f:ports": {}}}
    assert owned(await send(http, "POST", ES, slice_body("b"))) == {"m": {"f:addressType": {}}}
    # `[]` over the stored null is a change, an absent list (null in Go) is not
    emptied = await send(http, "PUT", ES + "/a", slice_body("a", endpoints=[]), manager="emptier")
    assert owned(emptied) == {"m": {"f:addressType": {}, "f:ports": {}}, "emptier": {"f:endpoints": {}}}


async def test_service_owns_what_the_client_sent_not_what_the_server_allocated(http: aiohttp.ClientSession) -> None:
    created = await send(http, "POST", SVC, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                                             "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
                                             "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}})
    assert created["spec"]["clusterIP"] and created["spec"]["ipFamilies"] == ["IPv4"]
    port = 'k:{"port":80,"protocol":"TCP"}'
    assert owned(created) == {"m": {"f:spec": {
        "f:internalTrafficPolicy": {}, "f:ports": {".": {}, port: {".": {}, "f:port": {}, "f:protocol": {},
                                                                    "f:targetPort": {}}},
        "f:selector": {}, "f:sessionAffinity": {}, "f:type": {}}}}
    status = await send(http, "PATCH", SVC + "/web/status", {"status": {"conditions": [READY]}, "spec": {"type": "x"}},
                        manager="lb", content_type=MERGE)
    assert owned(status)["lb/status"] == {"f:status": {"f:conditions": {".": {}, READY_KEY: READY_FIELDS}}}
    ignored = await send(http, "PATCH", SVC + "/web", {"status": {"conditions": None}}, manager="sneaky",
                         content_type=MERGE)
    assert "sneaky" not in owned(ignored)


async def test_untracked_object_stays_untracked_until_the_first_apply(http: aiohttp.ClientSession) -> None:
    await send(http, "POST", ES, {**slice_body("s", endpoints=[{"addresses": ["10.0.0.1"]}]),
                                  "metadata": {"name": "s", "labels": {"a": "1"}}})
    reset = await send(http, "PATCH", ES + "/s", {"metadata": {"managedFields": [{}]}}, content_type=MERGE)
    assert "managedFields" not in reset["metadata"]
    late = await send(http, "PATCH", ES + "/s", {"metadata": {"labels": {"late": "1"}}}, manager="late",
                      content_type=MERGE)
    assert "managedFields" not in late["metadata"]
    first = await send(http, "PATCH", ES + "/s", slice_body("s"), manager="first", content_type=APPLY)
    assert owned(first) == {
        "first": {"f:addressType": {}},
        "before-first-apply": {"f:addressType": {}, "f:endpoints": {},
                               "f:metadata": {"f:labels": {".": {}, "f:a": {}, "f:late": {}}}},
    }


async def test_apply_changing_nothing_keeps_the_time_and_a_new_applier_gets_none(
        http: aiohttp.ClientSession) -> None:
    await send(http, "POST", ES, slice_body("t"), manager="creator")
    same = await send(http, "PATCH", ES + "/t", slice_body("t"), manager="same", content_type=APPLY)
    times = {e["manager"]: e.get("time") for e in same["metadata"]["managedFields"]}
    assert times["same"] is None and times["creator"]
    assert [e["manager"] for e in same["metadata"]["managedFields"]] == ["same", "creator"]


async def test_apply_to_status_records_a_status_entry_owning_only_status(http: aiohttp.ClientSession) -> None:
    await send(http, "POST", SVC, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "st"},
                                   "spec": {"ports": [{"port": 80}]}})
    applied = await send(http, "PATCH", SVC + "/st/status", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "st"}, "spec": {"type": "NodePort"},
        "status": {"conditions": [READY]}}, manager="st", content_type=APPLY)
    assert owned(applied)["st/status"] == {"f:status": {"f:conditions": {READY_KEY: READY_FIELDS}}}
    assert applied["spec"]["type"] == "ClusterIP"


async def test_built_in_namespaces_own_their_defaulted_label_as_kube_apiserver(http: aiohttp.ClientSession) -> None:
    async with http.get("/api/v1/namespaces/kube-system") as response:
        namespace = await response.json()
    assert [(e["manager"], e["operation"]) for e in namespace["metadata"]["managedFields"]] == [
        ("kube-apiserver-v1.32.13", "Update")]
    assert owned(namespace) == {"kube-apiserver-v1.32.13": {
        "f:metadata": {"f:labels": {".": {}, "f:kubernetes.io/metadata.name": {}}}}}


async def test_a_controller_applies_the_status_of_a_service_a_client_created(http: aiohttp.ClientSession) -> None:
    """A plain POST owns what the client sent: neither the allocated clusterIP nor status, so a load-balancer
    controller's apply to /status takes status.loadBalancer without a conflict, and the creator's later apply of
    its spec does not conflict with the controller either."""
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb"},
            "spec": {"type": "LoadBalancer", "selector": {"app": "lb"}, "ports": [{"port": 80}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "9.9.9.9"}]}}}
    created = await send(http, "POST", SVC, body, manager="creator")
    assert "f:status" not in owned(created)["creator"] and "f:clusterIP" not in owned(created)["creator"]["f:spec"]
    status = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb"},
              "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}}
    applied = await send(http, "PATCH", SVC + "/lb/status", status, manager="lb-controller", content_type=APPLY)
    assert applied["status"]["loadBalancer"] == {"ingress": [{"ip": "1.2.3.4", "ipMode": "VIP"}]}
    assert owned(applied)["lb-controller/status"] == {"f:status": {"f:loadBalancer": {"f:ingress": {}}}}
    spec = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb"},
            "spec": {**body["spec"], "clusterIP": created["spec"]["clusterIP"]}}
    reapplied = await send(http, "PATCH", SVC + "/lb", spec, manager="creator-apply", content_type=APPLY)
    assert reapplied["status"] == applied["status"]
    assert "f:status" not in owned(reapplied)["creator-apply"]
