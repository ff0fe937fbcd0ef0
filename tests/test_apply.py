"""Server-side apply (apiserver.patch.apply)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from apiserver.managedfields import FieldSetError, update_managed_fields
from apiserver.patch.apply import ApplyConflict, apply
from apiserver.schema import Array, Integer, Map, Object, String

PORT = Object(properties={"name": String(), "port": Integer(), "protocol": String(default="TCP")})
META = Object(properties={
    "name": String(), "namespace": String(), "uid": String(), "resourceVersion": String(),
    "generation": Integer(), "creationTimestamp": String(),
    "labels": Map(values=String()), "annotations": Map(values=String()),
    "managedFields": Array(items=Object()),
})
SCHEMA = Object(properties={
    "apiVersion": String(), "kind": String(), "metadata": META,
    "addressType": String(),
    "endpoints": Array(items=Object(properties={"addresses": Array(items=String(), list_type="set")})),
    "ports": Array(items=PORT, list_type="map", map_keys=("port", "protocol")),
    "tags": Array(items=String(), list_type="set"),
    "target": Object(properties={"name": String(), "port": Integer()}, atomic=True),
})
GV = "discovery.k8s.io/v1"
T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"


def config(**fields: Any) -> dict[str, Any]:
    labels = fields.pop("labels", {"app": "web"})
    return {"apiVersion": GV, "kind": "EndpointSlice", "metadata": {"name": "web", "labels": labels}, **fields}


def managed(o: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"]): e for e in o["metadata"].get("managedFields", [])}


def created(**fields: Any) -> dict[str, Any]:
    """An object as storage holds it after an apply by "kubectl"."""
    obj = apply(None, config(**fields), "kubectl", False, GV, SCHEMA, T0)
    obj["metadata"].update(uid="u-1", resourceVersion="1", creationTimestamp=T0)
    return obj


def test_apply_creates_the_object() -> None:
    obj = apply(None, config(addressType="IPv4", ports=[{"port": 80, "name": "http"}]), "kubectl", False, GV,
                SCHEMA, T0)
    assert obj["addressType"] == "IPv4"
    assert obj["ports"] == [{"port": 80, "name": "http"}]
    assert obj["metadata"]["managedFields"] == [{
        "manager": "kubectl", "operation": "Apply", "apiVersion": GV, "time": T0, "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:addressType": {},
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:name": {}, "f:port": {}}},
        },
    }]


def test_reapply_unchanged_changes_nothing() -> None:
    live = created(addressType="IPv4", tags=["a"])
    again = apply(live, config(addressType="IPv4", tags=["a"]), "kubectl", False, GV, SCHEMA, T1)
    assert again == live
    assert again["metadata"]["managedFields"][0]["time"] == T0


def test_server_metadata_in_config_is_ignored() -> None:
    live = created(addressType="IPv4")
    cfg = config(addressType="IPv4")
    cfg["metadata"].update(uid="other", resourceVersion="99", generation=5, creationTimestamp="x",
                           managedFields=[{"manager": "evil"}])
    assert apply(live, cfg, "kubectl", False, GV, SCHEMA, T1) == live


def test_apply_removes_fields_it_no_longer_applies() -> None:
    live = created(addressType="IPv4", labels={"app": "web", "tier": "fe"}, tags=["a", "b"],
                   ports=[{"port": 80}, {"port": 81}])
    obj = apply(live, config(addressType="IPv4", tags=["a"], ports=[{"port": 80}]), "kubectl", False, GV,
                SCHEMA, T1)
    assert obj["metadata"]["labels"] == {"app": "web"}
    assert obj["tags"] == ["a"]
    assert obj["ports"] == [{"port": 80}]
    assert obj["metadata"]["managedFields"][0]["time"] == T1
    # dropping every label removes the emptied map too
    obj = apply(obj, config(addressType="IPv4", labels={}), "kubectl", False, GV, SCHEMA, T2)
    assert "labels" not in obj["metadata"]
    assert "tags" not in obj and "ports" not in obj


def test_dropped_field_survives_while_another_manager_owns_it() -> None:
    live = created(addressType="IPv4", tags=["a"])
    live = apply(live, config(tags=["a", "b"]), "other", False, GV, SCHEMA, T1)
    obj = apply(live, config(addressType="IPv4"), "kubectl", False, GV, SCHEMA, T2)
    assert obj["tags"] == ["a", "b"]
    assert managed(obj)[("kubectl", "Apply")]["fieldsV1"] == {"f:addressType": {},
                                                              "f:metadata": {"f:labels": {"f:app": {}}}}


def test_dropped_list_item_goes_though_another_manager_owns_a_field_of_it() -> None:
    """SMD keeps a struct field while anything under it is owned, a list item only if the item itself is: so the
    item goes whole (never left without its key field, which was a 500), as kube-apiserver removes it."""
    live = created(addressType="IPv4", ports=[{"port": 80}])
    renamed = copy.deepcopy(live)
    renamed["ports"][0]["name"] = "web"
    update_managed_fields(renamed, live, "renamer", GV, SCHEMA, T1)
    obj = apply(renamed, config(addressType="IPv4", ports=[{"port": 81}]), "kubectl", True, GV, SCHEMA, T2)
    assert obj["ports"] == [{"port": 81}]
    assert [e["manager"] for e in obj["metadata"]["managedFields"]] == ["kubectl"]


def test_two_appliers_share_equal_values_and_keep_their_own() -> None:
    live = created(addressType="IPv4", tags=["a"])
    obj = apply(live, config(addressType="IPv4", tags=["b"], labels={"team": "x"}), "ctrl", False, GV, SCHEMA, T1)
    assert obj["tags"] == ["a", "b"]
    assert obj["metadata"]["labels"] == {"app": "web", "team": "x"}
    entries = managed(obj)
    assert entries[("ctrl", "Apply")]["fieldsV1"] == {
        "f:addressType": {}, "f:metadata": {"f:labels": {"f:team": {}}}, "f:tags": {'v:"b"': {}}}
    assert "f:addressType" in entries[("kubectl", "Apply")]["fieldsV1"]
    assert [e["manager"] for e in obj["metadata"]["managedFields"]] == ["kubectl", "ctrl"]


def test_conflict_with_update_manager_message_and_causes() -> None:
    live = config(addressType="IPv4")
    update_managed_fields(live, None, "kubectl-client-side-apply", GV, SCHEMA, T0)
    with pytest.raises(ApplyConflict) as caught:
        apply(live, config(addressType="IPv6"), "kubectl", False, GV, SCHEMA, T1)
    err = caught.value
    assert err.message == ('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using '
                           "discovery.k8s.io/v1: .addressType")
    assert err.causes() == [{"reason": "FieldManagerConflict",
                             "message": 'conflict with "kubectl-client-side-apply" using discovery.k8s.io/v1',
                             "field": ".addressType"}]


def test_many_conflicts_are_grouped_by_manager() -> None:
    live = created(addressType="IPv4", labels={"app": "web"}, target={"name": "x", "port": 1})
    with pytest.raises(ApplyConflict) as caught:
        apply(live, config(addressType="IPv6", labels={"app": "api"}, target={"name": "y", "port": 1}), "other",
              False, "v1", SCHEMA, T1)
    assert caught.value.message == ('Apply failed with 3 conflicts: conflicts with "kubectl":\n'
                                    "- .addressType\n- .target\n- .metadata.labels.app")
    assert [c["field"] for c in caught.value.causes()] == [".addressType", ".target", ".metadata.labels.app"]
    assert ApplyConflict([("m", ".a"), ("m", ".b")]).message == (
        'Apply failed with 2 conflicts: conflicts with "m":\n- .a\n- .b')


def test_force_takes_ownership() -> None:
    live = config(addressType="IPv4", tags=["a"])
    update_managed_fields(live, None, "kubectl-client-side-apply", GV, SCHEMA, T0)
    obj = apply(live, config(addressType="IPv6"), "kubectl", True, GV, SCHEMA, T1)
    assert obj["addressType"] == "IPv6"
    entries = managed(obj)
    csa = entries[("kubectl-client-side-apply", "Update")]
    assert csa["fieldsV1"] == {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:tags": {".": {}, 'v:"a"': {}}}
    assert csa["time"] == T0
    assert entries[("kubectl", "Apply")]["fieldsV1"]["f:addressType"] == {}
    assert [e["operation"] for e in obj["metadata"]["managedFields"]] == ["Apply", "Update"]


def test_update_after_apply_moves_ownership_then_reapply_conflicts() -> None:
    live = created(addressType="IPv4")
    edited = copy.deepcopy(live)
    edited["addressType"] = "IPv6"
    update_managed_fields(edited, live, "kubectl-edit", GV, SCHEMA, T1)
    entries = managed(edited)
    assert entries[("kubectl-edit", "Update")]["fieldsV1"] == {"f:addressType": {}}
    assert "f:addressType" not in entries[("kubectl", "Apply")]["fieldsV1"]
    with pytest.raises(ApplyConflict, match="kubectl-edit"):
        apply(edited, config(addressType="IPv4"), "kubectl", False, GV, SCHEMA, T2)


def test_atomic_list_is_replaced_and_owned_whole() -> None:
    live = created(endpoints=[{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}])
    obj = apply(live, config(endpoints=[{"addresses": ["10.0.0.3"]}]), "kubectl", False, GV, SCHEMA, T1)
    assert obj["endpoints"] == [{"addresses": ["10.0.0.3"]}]
    assert managed(obj)[("kubectl", "Apply")]["fieldsV1"]["f:endpoints"] == {}
    with pytest.raises(ApplyConflict, match=r"\.endpoints$"):
        apply(obj, config(endpoints=[]), "other", False, GV, SCHEMA, T2)


def test_set_list_is_a_union() -> None:
    live = created(tags=["b", "c"])
    obj = apply(live, config(tags=["a", "c"]), "other", False, GV, SCHEMA, T1)
    assert obj["tags"] == ["b", "a", "c"]


def test_map_list_merges_items_by_key() -> None:
    live = created(ports=[{"port": 80, "name": "http"}, {"port": 53, "protocol": "UDP", "name": "dns"}])
    obj = apply(live, config(ports=[{"port": 53, "protocol": "UDP", "name": "dns"}, {"port": 443, "name": "https"}]),
                "other", False, GV, SCHEMA, T1)
    assert obj["ports"] == [{"port": 80, "name": "http"}, {"port": 53, "protocol": "UDP", "name": "dns"},
                            {"port": 443, "name": "https"}]
    with pytest.raises(ApplyConflict) as caught:
        apply(live, config(ports=[{"port": 80, "name": "web"}]), "other", False, GV, SCHEMA, T1)
    assert caught.value.conflicts[0][1] == '.ports[port=80,protocol="TCP"].name'


def test_map_list_item_without_key_is_an_error() -> None:
    with pytest.raises(FieldSetError, match=r'^failed to create typed patch object \(discovery.k8s.io/v1, '
                                            r'Kind=EndpointSlice\): .*omits key field "port"'):
        apply(None, config(ports=[{"name": "x"}]), "kubectl", False, GV, SCHEMA, T0)
