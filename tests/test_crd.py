"""CustomResourceDefinitions with real clients (the official client, its dynamic client, kubectl), on the embedded
store and on etcd: served within the same second, validated, defaulted and pruned, several versions, Tables,
discovery and OpenAPI updated live, deletion cascading to the objects."""

from __future__ import annotations

import copy
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException

from apiserver.testing import RunningServer
from tests.conftest import Kubectl

MANIFESTS = Path(__file__).parent / "manifests" / "crds"
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
TIMEOUT = 10


def manifest(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((MANIFESTS / name).read_text())
    return loaded


def request(server: RunningServer, method: str, path: str, body: Any = None, content_type: str = "application/json",
            accept: str = "application/json") -> tuple[int, Any, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server.url + path, data=data, method=method,
                                 headers={"Content-Type": content_type, "Accept": accept})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, json.loads(raw) if raw.startswith(b"{") else raw.decode(), err.headers


def widget(object_name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": object_name}, "spec": spec}


@pytest.mark.apiserver_crds("manifests/crds/widgets.yaml", "manifests/crds/gadgets.yaml",
                            "manifests/crds/peerings.yaml")
def test_crds_loaded_by_the_fixture_are_established_and_served(apiserver: RunningServer) -> None:
    api = apiserver.api_client()
    crds = client.ApiextensionsV1Api(api).list_custom_resource_definition().items
    assert sorted(crd.metadata.name for crd in crds) == ["gadgets.tools.example.org", "kopfpeerings.kopf.dev",
                                                         "widgets.example.com"]
    for crd in crds:
        conditions = {c.type: (c.status, c.reason) for c in crd.status.conditions}
        assert conditions == {"NamesAccepted": ("True", "NoConflicts"), "Established": ("True", "InitialNamesAccepted")}
        assert crd.status.accepted_names.plural == crd.spec.names.plural
    groups = {g.name: [v.version for v in g.versions] for g in client.ApisApi(api).get_api_versions().groups}
    assert groups["tools.example.org"] == ["v1", "v1beta1"] and groups["example.com"] == ["v1"]
    resources = client.CustomObjectsApi(api).get_api_resources("example.com", "v1").resources
    assert {r.name: r.short_names for r in resources} == {"widgets": ["wd"], "widgets/status": None,
                                                          "widgets/scale": None}
    api.close()


def test_a_created_crd_is_served_within_the_same_second(apiserver: RunningServer) -> None:
    api = apiserver.api_client()
    extensions = client.ApiextensionsV1Api(api)
    _, before, headers = request(apiserver, "GET", "/apis", accept=AGGREGATED)
    etag = headers["ETag"]
    _, index, _ = request(apiserver, "GET", "/openapi/v3")
    started = time.monotonic()
    extensions.create_custom_resource_definition(manifest("widgets.yaml"))
    for event in watch.Watch().stream(extensions.list_custom_resource_definition, timeout_seconds=5,
                                      field_selector="metadata.name=widgets.example.com"):
        if any(c.type == "Established" and c.status == "True" for c in event["object"].status.conditions or ()):
            break
    objects = client.CustomObjectsApi(api)
    created = objects.create_namespaced_custom_object("example.com", "v1", "default", "widgets",
                                                      widget("first", replicas=1))
    assert time.monotonic() - started < 1.0
    assert created["spec"] == {"replicas": 1, "maxReplicas": 10, "color": "red"}  # defaulted
    _, after, headers = request(apiserver, "GET", "/apis", accept=AGGREGATED)
    assert headers["ETag"] != etag
    assert [g["metadata"]["name"] for g in after["items"]] == [*(g["metadata"]["name"] for g in before["items"]),
                                                               "example.com"]
    _, new_index, _ = request(apiserver, "GET", "/openapi/v3")
    assert set(new_index["paths"]) == {*index["paths"], "apis/example.com/v1"}
    api.close()


@pytest.mark.apiserver_crds("manifests/crds/widgets.yaml")
def test_objects_are_validated_defaulted_and_pruned_as_upstream(apiserver: RunningServer) -> None:
    status, body, headers = request(apiserver, "POST", WIDGETS, {**widget("w", replicas=2, bogus=1),
                                                                  "status": {"replicas": 5}})
    assert status == 201, body
    assert body["spec"] == {"replicas": 2, "maxReplicas": 10, "color": "red"} and "status" not in body
    assert headers["Warning"] == '299 - "unknown field \\"spec.bogus\\""'
    cases = {
        "replicas": ({"replicas": -1}, 'spec.replicas: Invalid value: -1: spec.replicas in body should be greater '
                                       'than or equal to 0'),
        "color": ({"replicas": 1, "color": "pink"}, 'spec.color: Unsupported value: "pink": supported values: '
                                                    '"red", "green", "blue"'),
        "pattern": ({"replicas": 1, "name": "Bad_Name"}, "spec.name: Invalid value: \"Bad_Name\": spec.name in body "
                                                      "should match '^[a-z][a-z0-9-]*$'"),
        "type": ({"replicas": "two"}, 'spec.replicas: Invalid value: "string": spec.replicas in body must be of type '
                                      'integer: "string"'),
        "required": ({"color": "red"}, "spec.replicas: Required value"),
        "cel": ({"replicas": 11}, 'spec: Invalid value: "object": replicas may not exceed maxReplicas'),
        "set": ({"replicas": 1, "tags": ["a", "a"]}, 'spec.tags[1]: Duplicate value: "a"'),
    }
    for name, (spec, message) in cases.items():
        status, body, _ = request(apiserver, "POST", WIDGETS, widget(name, **spec))
        assert status == 422 and message in body["message"], (name, body["message"])
    # a missing required field (or a wrong type, an enum, a length) leaves the CEL rules unchecked, as upstream
    status, body, _ = request(apiserver, "POST", WIDGETS, widget("unchecked", color="red"))
    assert body["details"]["causes"][-1] == {
        "reason": "FieldValueInvalid", "field": "<nil>", "message": 'Invalid value: "null": some validation rules were '
        "not checked because the object was invalid; correct the existing errors to complete validation"}
    status, body, _ = request(apiserver, "POST", WIDGETS, widget("negative", replicas=-1))  # the scale's own check
    assert body["details"]["causes"][-1]["message"] == "Invalid value: -1: should be a non-negative integer"
    status, body, _ = request(apiserver, "POST", WIDGETS + "?fieldValidation=Strict", widget("strict", replicas=1,
                                                                                            bogus=1))
    assert (status, body["message"]) == (400, 'Widget in version "v1" cannot be handled as a Widget: strict decoding '
                                              'error: unknown field "spec.bogus"')
    status, body, _ = request(apiserver, "PATCH", WIDGETS + "/w/status", {"status": {"replicas": 2}},
                              content_type="application/merge-patch+json")
    assert (status, body["status"], body["metadata"]["generation"]) == (200, {"replicas": 2}, 1)
    status, body, _ = request(apiserver, "PATCH", WIDGETS + "/w", {"spec": {"replicas": 3}},
                              content_type="application/merge-patch+json")
    assert (status, body["metadata"]["generation"], body["status"]) == (200, 2, {"replicas": 2})


@pytest.mark.apiserver_crds("manifests/crds/widgets.yaml")
def test_tables_print_the_additional_printer_columns(apiserver: RunningServer, kubectl: Kubectl) -> None:
    request(apiserver, "POST", WIDGETS, {**widget("w", replicas=3, color="blue")})
    status, table, _ = request(apiserver, "GET", WIDGETS, accept="application/json;as=Table;v=v1;g=meta.k8s.io")
    assert status == 200
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Replicas", "Color", "Ready", "Age"]
    assert table["rows"][0]["cells"][:4] == ["w", 3, "blue", None]
    printed = kubectl("get", "widgets", "-n", "default").stdout.split("\n")
    assert printed[0].split() == ["NAME", "REPLICAS", "COLOR", "READY", "AGE"]
    assert printed[1].split()[:3] == ["w", "3", "blue"]  # Ready: no condition, a null cell, printed empty
    assert kubectl("get", "wd", "-n", "default", "-o", "name").stdout.strip() == "widget.example.com/w"


def test_kubectl_applies_a_crd_and_its_objects(apiserver: RunningServer, kubectl: Kubectl, tmp_path: Path) -> None:
    crd = (MANIFESTS / "widgets.yaml").read_text()
    kubectl("apply", "-f", "-", input=crd)
    kubectl("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=5s")
    kubectl("apply", "-n", "default", "-f", "-", input=yaml.safe_dump(widget("applied", replicas=2)))
    got = json.loads(kubectl("get", "widget", "applied", "-n", "default", "-o", "json").stdout)
    assert got["spec"]["replicas"] == 2 and got["spec"]["color"] == "red"
    kubectl("apply", "-n", "default", "-f", "-", input=yaml.safe_dump(widget("applied", replicas=2, color="blue")))
    kubectl("scale", "widget", "applied", "-n", "default", "--replicas=5")
    got = json.loads(kubectl("get", "widget", "applied", "-n", "default", "-o", "json").stdout)
    assert (got["spec"]["replicas"], got["spec"]["color"]) == (5, "blue")
    assert "replicas" in kubectl("explain", "widgets.spec").stdout
    status, body, _ = request(apiserver, "PATCH", WIDGETS + "/applied", {"spec": {"replicas": 1}},
                              content_type="application/strategic-merge-patch+json")
    assert (status, body["reason"]) == (415, "UnsupportedMediaType")  # custom resources have no strategic patch


@pytest.mark.apiserver_crds("manifests/crds/gadgets.yaml")
def test_several_versions_serve_the_same_objects_converted_with_none(apiserver: RunningServer) -> None:
    api = apiserver.api_client()
    resources = dynamic.DynamicClient(api).resources
    beta = resources.get(api_version="tools.example.org/v1beta1", kind="Gadget")
    stable = resources.get(api_version="tools.example.org/v1", kind="Gadget")
    beta.create(body={"apiVersion": "tools.example.org/v1beta1", "kind": "Gadget", "metadata": {"name": "g"},
                      "spec": {"size": "small"}})
    assert stable.get(name="g").apiVersion == "tools.example.org/v1"
    assert [item.apiVersion for item in beta.get().items] == ["tools.example.org/v1beta1"]
    stable.patch(name="g", body={"spec": {"size": "large"}}, content_type="application/merge-patch+json")
    assert beta.get(name="g").spec.size == "large"
    events = []
    for event in beta.watch(timeout=2, resource_version=0):
        events.append((event["type"], event["object"].apiVersion))
        break
    assert events == [("ADDED", "tools.example.org/v1beta1")]
    api.close()


def test_deleting_a_crd_deletes_its_objects(apiserver: RunningServer) -> None:
    api = apiserver.api_client()
    extensions, objects = client.ApiextensionsV1Api(api), client.CustomObjectsApi(api)
    extensions.create_custom_resource_definition(manifest("widgets.yaml"))
    deadline = time.monotonic() + 5
    while True:
        try:
            objects.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget("w", replicas=1))
            break
        except ApiException as err:
            assert err.status == 404 and time.monotonic() < deadline
            time.sleep(0.01)
    status, marked, _ = request(apiserver, "DELETE",
                                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
    assert (status, marked["metadata"]["finalizers"]) == (200, ["customresourcecleanup.apiextensions.k8s.io"])
    deadline = time.monotonic() + 5
    while extensions.list_custom_resource_definition().items:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert request(apiserver, "GET", WIDGETS)[0] == 404
    extensions.create_custom_resource_definition(manifest("widgets.yaml"))  # again: its objects are gone
    deadline = time.monotonic() + 5
    while request(apiserver, "GET", WIDGETS)[0] == 404:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert request(apiserver, "GET", WIDGETS)[1]["items"] == []
    api.close()


@pytest.mark.apiserver_crds("manifests/crds/widgets.yaml")
def test_names_another_crd_of_the_group_holds_are_refused(apiserver: RunningServer) -> None:
    other = copy.deepcopy(manifest("widgets.yaml"))
    other["metadata"]["name"] = "gizmos.example.com"
    other["spec"]["names"] = {"plural": "gizmos", "singular": "gizmo", "kind": "Widget"}
    status, body, _ = request(apiserver, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", other)
    assert status == 201, body
    deadline = time.monotonic() + 5
    while True:
        crd = request(apiserver, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gizmos.example.com")[1]
        conditions = {c["type"]: c for c in crd["status"].get("conditions") or ()}
        if "NamesAccepted" in conditions or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert (conditions["NamesAccepted"]["status"], conditions["NamesAccepted"]["reason"]) == ("False", "KindConflict")
    assert conditions["Established"]["status"] == "False"
    assert request(apiserver, "GET", "/apis/example.com/v1/namespaces/default/gizmos")[0] == 404


def test_invalid_crds_are_refused_as_upstream_refuses_them(apiserver: RunningServer) -> None:
    crd = manifest("widgets.yaml")
    crd["metadata"]["name"] = "widgets.other.com"
    del crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["type"]
    status, body, _ = request(apiserver, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert status == 422
    assert body["details"]["causes"][0] == {"reason": "FieldValueInvalid", "field": "metadata.name", "message":
                                            'Invalid value: "widgets.other.com": must be spec.names.plural+"."+'
                                            'spec.group'}
    assert {"reason": "FieldValueRequired", "field": "spec.validation.openAPIV3Schema.properties[spec].type",
            "message": "Required value: must not be empty for specified object fields"} in body["details"]["causes"]


@pytest.mark.apiserver_crds("manifests/crds/widgets.yaml")
def test_transition_rules_see_the_stored_value(apiserver: RunningServer) -> None:
    assert request(apiserver, "POST", WIDGETS, widget("w", replicas=1, name="first"))[0] == 201
    status, body, _ = request(apiserver, "PATCH", WIDGETS + "/w", {"spec": {"name": "second"}},
                              content_type="application/merge-patch+json")
    assert (status, body["message"]) == (422, 'Widget.example.com "w" is invalid: spec.name: Invalid value: '
                                              '"string": name is immutable')
    status, body, _ = request(apiserver, "PATCH", WIDGETS + "/w", {"spec": {"replicas": 2}},
                              content_type="application/merge-patch+json")
    assert status == 200, body


@pytest.mark.apiserver_crds("manifests/crds/widgets.yaml")
def test_a_changed_schema_is_served_at_once(apiserver: RunningServer) -> None:
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com"
    crd = request(apiserver, "GET", path)[1]
    listed = request(apiserver, "GET", WIDGETS)[1]["metadata"]["resourceVersion"]
    properties = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    properties["size"] = {"type": "string"}
    with urllib.request.urlopen(f"{apiserver.url}{WIDGETS}?watch=true&resourceVersion={listed}",
                                timeout=TIMEOUT) as watching:
        status, body, _ = request(apiserver, "PUT", path, crd)
        assert status == 200 and body["metadata"]["generation"] == 2, body
        started = time.monotonic()
        while True:
            status, body, _ = request(apiserver, "POST", WIDGETS, widget("w", replicas=1, size="big"))
            if status == 201 and body["spec"].get("size") == "big":
                break
            if status == 201:
                request(apiserver, "DELETE", WIDGETS + "/w")
            assert time.monotonic() - started < 1.0, body
            time.sleep(0.01)
        first = json.loads(watching.readline())  # the watch opened before the change goes on
        assert (first["type"], first["object"]["spec"]["size"]) == ("ADDED", "big")
    _, document, _ = request(apiserver, "GET", "/openapi/v3/apis/example.com/v1")
    assert "size" in document["components"]["schemas"]["com.example.v1.Widget"]["properties"]["spec"]["properties"]



@pytest.mark.apiserver_crds("manifests/crds/widgets.yaml")
def test_an_embedded_resource_keeps_what_it_preserves_but_its_metadata_is_pruned(apiserver: RunningServer) -> None:
    template = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "bogus": 1}, "spec": {"a": 1}}
    status, body, headers = request(apiserver, "POST", WIDGETS, widget("w", replicas=1, template=template))
    assert status == 201, body
    assert body["spec"]["template"] == {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"a": 1}}
    assert headers["Warning"] == '299 - "unknown field \\"spec.template.metadata.bogus\\""'
    status, body, _ = request(apiserver, "POST", WIDGETS, widget("v", replicas=1, template={"apiVersion": "v1"}))
    assert (status, body["details"]["causes"][0]) == (422, {"reason": "FieldValueRequired", "field":
                                                            "spec.template.kind", "message": "Required value: must "
                                                            "not be empty"})


@pytest.mark.apiserver_crds("manifests/crds/widgets.yaml")
def test_the_published_schema_is_the_crds_as_upstream_publishes_it(apiserver: RunningServer) -> None:
    index = request(apiserver, "GET", "/openapi/v3")[1]
    schemas = request(apiserver, "GET", index["paths"]["apis/example.com/v1"]["serverRelativeURL"])[1]["components"][
        "schemas"]
    spec = schemas["com.example.v1.Widget"]["properties"]["spec"]["properties"]
    assert spec["port"] == {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}
    assert spec["template"]["required"] == ["kind", "apiVersion"]
    listed = schemas["com.example.v1.WidgetList"]
    assert (listed["description"], listed["required"], listed["properties"]["items"]["items"]) == (
        "WidgetList is a list of Widget", ["items"], {"$ref": "#/components/schemas/com.example.v1.Widget"})
    patch = request(apiserver, "GET", index["paths"]["apis/example.com/v1"]["serverRelativeURL"])[1]["paths"][
        "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
