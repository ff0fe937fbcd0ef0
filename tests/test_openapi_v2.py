"""OpenAPI v2 (`/openapi/v2`) as kube-apiserver 1.32 serves it, and kubectl 1.27/1.28, which read it in protobuf.

The document tests check its structure for every kind; the protobuf tests decode the served bytes with the
protobuf runtime and turn the gnostic messages back into JSON; the HTTP tests run on a bare application with
the discovery routes; the last tests run kubectl 1.27 and 1.28 against a full server.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from apiserver.handlers.discovery import setup
from apiserver.handlers.openapi_v2 import content_type
from apiserver.kinds import KINDS
from apiserver.kinds.base import Kind
from apiserver.openapi_proto import message_class
from apiserver.kind_registry import KindRegistry
from apiserver.openapi_v2 import openapi_v2
from apiserver.testing import RunningServer
from apiserver.state import SERVED_KINDS

JSON_TYPE = "application/json"
PROTOBUF_OLD = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"  # what kubectl 1.27/1.28 ask for
PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
KUBECTL_DIR = Path("/usr/lib/google-cloud-sdk/bin")
Client = TestClient[web.Request, web.Application]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_v2(KindRegistry())


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def gvk(kind: Kind, name: str = "") -> dict[str, str]:
    return {"group": kind.group, "kind": name or kind.kind, "version": kind.version}


def paths_of(kind: Kind) -> tuple[str, str]:
    prefix = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
    scope = "/namespaces/{namespace}" if kind.namespaced else ""
    collection = f"{prefix}{scope}/{kind.plural}"
    return collection, collection + "/{name}"


# --- the document ----------------------------------------------------------------------------------


def test_top_level_as_kube_apiserver(document: dict[str, Any]) -> None:
    assert list(document) == ["swagger", "info", "paths", "definitions", "parameters", "securityDefinitions",
                              "security"]
    assert document["swagger"] == "2.0"
    assert document["info"] == {"title": "Kubernetes", "version": "1.32"}
    assert document["security"] == [{"BearerToken": []}]


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    found = set(refs(document))
    assert found
    for ref in found:
        section, _, name = ref.removeprefix("#/").partition("/")
        assert name in document[section], ref


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_kind_has_definitions_and_operations(document: dict[str, Any], kind: Kind) -> None:
    definitions = document["definitions"]
    definition = definitions[kind.schema.ref]
    assert definition["type"] == "object"
    assert definition["x-kubernetes-group-version-kind"] == [gvk(kind)]
    assert {"apiVersion", "kind", "metadata"} <= set(definition["properties"])
    assert definition["properties"]["metadata"]["$ref"] == "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    listed = definitions[kind.schema.ref + "List"]
    assert listed["x-kubernetes-group-version-kind"] == [gvk(kind, kind.list_kind)]
    assert listed["properties"]["items"]["items"] == {"$ref": "#/definitions/" + kind.schema.ref}

    collection, item = paths_of(kind)
    actions = {path: {method: op["x-kubernetes-action"] for method, op in document["paths"][path].items()
                      if method != "parameters"} for path in (collection, item)}
    by_verb = {"list": ("get", "list"), "create": ("post", "post"), "deletecollection": ("delete", "deletecollection")}
    assert actions[collection] == dict(by_verb[verb] for verb in kind.verbs if verb in by_verb)
    assert actions[item] == {"get": "get", "put": "put", "patch": "patch", "delete": "delete"}
    for path in (collection, item):
        for method, op in document["paths"][path].items():
            if method == "parameters":
                continue
            assert op["x-kubernetes-group-version-kind"] == gvk(kind)
            assert op["schemes"] == ["https"] and op["responses"]["401"] == {"description": "Unauthorized"}
            assert op["responses"]["200"]["schema"]["$ref"].startswith("#/definitions/")
    post = document["paths"][collection]["post"]
    assert post["parameters"][0] == {"name": "body", "in": "body", "required": True,
                                     "schema": {"$ref": "#/definitions/" + kind.schema.ref}}
    patch = document["paths"][item]["patch"]
    assert patch["consumes"] == ["application/json-patch+json", "application/merge-patch+json",
                                 "application/strategic-merge-patch+json", "application/apply-patch+yaml"]
    # kubectl up to 1.27 looks for these two in the operation itself to detect dry-run and field validation.
    inline = {p["name"]: p for p in patch["parameters"] if "name" in p}
    assert inline["fieldValidation"]["in"] == "query" and inline["dryRun"]["type"] == "string"


def test_operations_worded_as_the_installer_words_them(document: dict[str, Any]) -> None:
    """Plural-looking kinds take no article; kinds whose DELETE returns the object say so."""
    paths = document["paths"]
    assert paths["/api/v1/namespaces/{namespace}/endpoints"]["post"]["description"] == "create Endpoints"
    assert paths["/api/v1/namespaces/{namespace}/endpoints/{name}"]["delete"]["description"] == "delete Endpoints"
    assert paths["/api/v1/namespaces"]["post"]["description"] == "create a Namespace"
    slices = "/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
    assert paths[slices]["post"]["description"] == "create an EndpointSlice"
    deleted = {path: item["delete"]["responses"]["200"]["schema"]["$ref"].rsplit(".", 1)[1]
               for path, item in paths.items() if path.endswith("/{name}") and "delete" in item}
    assert deleted == {
        "/api/v1/namespaces/{name}": "Status", "/api/v1/namespaces/{namespace}/endpoints/{name}": "Status",
        "/api/v1/namespaces/{namespace}/pods/{name}": "Pod", "/api/v1/namespaces/{namespace}/services/{name}": "Service",
        slices + "/{name}": "Status", "/api/v1/nodes/{name}": "Status",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}": "Status",
        "/api/v1/namespaces/{namespace}/serviceaccounts/{name}": "ServiceAccount",
        **{f"/api/v1/namespaces/{{namespace}}/{plural}/{{name}}": "Status" for plural in ("configmaps", "events",
                                                                                          "secrets")},
        **{f"/apis/{group}/namespaces/{{namespace}}/{plural}/{{name}}": "Status"
           for group, plural in (("apps/v1", "daemonsets"), ("apps/v1", "deployments"), ("apps/v1", "replicasets"),
                                 ("apps/v1", "statefulsets"), ("coordination.k8s.io/v1", "leases"),
                                 ("events.k8s.io/v1", "events"))},
        **{f"/apis/rbac.authorization.k8s.io/v1/{scope}{plural}/{{name}}": "Status"
           for scope, plural in (("", "clusterrolebindings"), ("", "clusterroles"),
                                 ("namespaces/{namespace}/", "rolebindings"), ("namespaces/{namespace}/", "roles"))},
    }
    assert paths["/api/v1/watch/namespaces/{name}"]["get"]["description"] == (
        "watch changes to an object of kind Namespace. deprecated: use the 'watch' parameter with a list operation "
        "instead, filtered to a single item with the 'fieldSelector' parameter.")


def test_definitions_in_v2_dialect(document: dict[str, Any]) -> None:
    definitions = document["definitions"]
    text = orjson.dumps(definitions).decode()
    assert '"allOf"' not in text and '"default"' not in text and "#/components/" not in text
    slice_props = definitions["io.k8s.api.discovery.v1.EndpointSlice"]["properties"]
    assert slice_props["endpoints"] == {
        "description": slice_props["endpoints"]["description"], "type": "array",
        "items": {"$ref": "#/definitions/io.k8s.api.discovery.v1.Endpoint"}, "x-kubernetes-list-type": "atomic",
    }
    assert slice_props["addressType"]["description"].endswith("Represents a Fully Qualified Domain Name.")
    assert definitions["io.k8s.api.discovery.v1.EndpointPort"]["x-kubernetes-map-type"] == "atomic"
    meta = definitions["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]
    owners = {k: v for k, v in meta["ownerReferences"].items() if k != "description"}
    assert owners == {
        "type": "array", "items": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference"},
        "x-kubernetes-list-map-keys": ["uid"], "x-kubernetes-list-type": "map",
        "x-kubernetes-patch-merge-key": "uid", "x-kubernetes-patch-strategy": "merge",
    }
    assert meta["creationTimestamp"]["$ref"] == "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Time"
    assert meta["labels"]["additionalProperties"] == {"type": "string"}
    assert definitions["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]["format"] == "date-time"
    port = definitions["io.k8s.api.core.v1.ServicePort"]["properties"]["targetPort"]
    assert port["$ref"] == "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"
    containers = definitions["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name" and containers["x-kubernetes-list-type"] == "map"
    delete_options = definitions["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"]
    assert {"group": "discovery.k8s.io", "kind": "DeleteOptions", "version": "v1"} in \
        delete_options["x-kubernetes-group-version-kind"]


def test_parameters_shared_as_kube_openapi_names_them(document: dict[str, Any]) -> None:
    """The same parameter JSON gets the same `<name>-<hash>` as in kube-apiserver 1.32's document."""
    shared = document["parameters"]
    assert sorted(shared) == [  # the pods' log/exec/attach/proxy options are upstream's query parameters
        "allowWatchBookmarks-HC2hJt-J", "body-2Y1dVQaQ", "body-78PwaGsr", "command-Py3eQybp", "container-1GeXxFDC",
        "container-_Q-EJ3nR", "container-i5dOmRiM", "continue-QfD61s0i", "fieldManager-7c6nTn1T",
        "fieldManager-Qy4HdaTW", "fieldSelector-xIcQKXFG", "follow-9OIXh_2R", "force-tOGGb0Yi",
        "gracePeriodSeconds--K5HaBOS", "ignoreStoreReadErrorWithClusterBreakingPotential-QbNkfIqj",
        "insecureSkipTLSVerifyBackend-gM00jVbe", "labelSelector-5Zw57w4C", "limit-1NfNmdNH", "limitBytes-zwd1RXuc",
        "namespace-vgWSWtn3", "orphanDependents-uRB25kX5", "path-QCf0eosM", "path-oPbzgLUj", "path-rFDtV0x9",
        "path-z6Ciiujn",
        "ports-91KROJmm", "pretty-tJGM1-ng", "previous-1jxDPu3y", "propagationPolicy-6jk3prlO",
        "resourceVersion-5WAnf1kx", "resourceVersionMatch-t8XhRHeC", "sendInitialEvents-rLXlEK_k",
        "sinceSeconds-vE2NLdnP", "stderr-26jJhFUR", "stderr-W_1TNlWc", "stdin-PSzNhyUC", "stdin-sEFnN3IS",
        "stdout--EZLRwV1", "stdout-005YMKE6", "stream-l-48cgXv", "tailLines-9xQLWHMV", "timeoutSeconds-yvYezaOC",
        "timestamps-c17fW1w_", "tty-g7MlET_l", "tty-s0flW37O", "watch-XNNPZGbK",
    ]
    assert {p["name"] for p in shared.values()}.isdisjoint({"name", "dryRun", "fieldValidation"})
    slices = document["paths"]["/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices/{name}"]
    assert slices["parameters"] == [
        {"uniqueItems": True, "type": "string", "description": "name of the EndpointSlice", "name": "name",
         "in": "path", "required": True},
        {"$ref": "#/parameters/namespace-vgWSWtn3"},
        {"$ref": "#/parameters/pretty-tJGM1-ng"},
    ]


# --- the protobuf form -------------------------------------------------------------------------------


def _yaml(value: Any) -> Any:
    return yaml.safe_load(value.yaml)


def _extensions(message: Any) -> dict[str, Any]:
    return {ext.name: _yaml(ext.value) for ext in message.vendor_extension}


def schema_json(schema: Any) -> dict[str, Any]:
    """A gnostic Schema message back as JSON."""
    out: dict[str, Any] = {}
    if schema._ref:
        out["$ref"] = schema._ref
    for field, key in (("description", "description"), ("format", "format")):
        if getattr(schema, field):
            out[key] = getattr(schema, field)
    if schema.type.value:
        (out["type"],) = schema.type.value
    if schema.required:
        out["required"] = list(schema.required)
    if schema.enum:
        out["enum"] = [_yaml(value) for value in schema.enum]
    if schema.items.schema:
        (item,) = schema.items.schema
        out["items"] = schema_json(item)
    if schema.HasField("properties"):
        out["properties"] = {p.name: schema_json(p.value) for p in schema.properties.additional_properties}
    if schema.additional_properties.HasField("schema"):
        out["additionalProperties"] = schema_json(schema.additional_properties.schema)
    return {**out, **_extensions(schema)}


def parameter_json(parameter: Any) -> dict[str, Any]:
    if parameter.HasField("body_parameter"):
        body = parameter.body_parameter
        out: dict[str, Any] = {"name": body.name, "in": getattr(body, "in")}
        return {**out, **({"required": True} if body.required else {}), "schema": schema_json(body.schema)}
    non_body = parameter.non_body_parameter
    sub = getattr(non_body, non_body.WhichOneof("oneof"))
    out = {"uniqueItems": sub.unique_items, "type": sub.type, "description": sub.description, "name": sub.name,
           "in": getattr(sub, "in")}
    return {**out, "required": True} if sub.required else out


def parameters_json(items: Any) -> list[dict[str, Any]]:
    return [{"$ref": i.json_reference._ref} if i.HasField("json_reference") else parameter_json(i.parameter)
            for i in items]


def operation_json(op: Any) -> dict[str, Any]:
    responses = {}
    for code in op.responses.response_code:
        response = code.value.response
        responses[code.name] = {"description": response.description}
        if response.schema.HasField("schema"):
            responses[code.name]["schema"] = schema_json(response.schema.schema)
    out = {"description": op.description, "consumes": list(op.consumes), "produces": list(op.produces),
           "schemes": list(op.schemes), "tags": list(op.tags), "operationId": op.operation_id}
    if op.parameters:
        out["parameters"] = parameters_json(op.parameters)
    return {**out, "responses": responses, **_extensions(op)}


def document_json(doc: Any) -> dict[str, Any]:
    """A gnostic Document message back as the JSON document."""
    paths = {}
    for named in doc.paths.path:
        methods = ("get", "put", "post", "delete", "options", "head", "patch")
        item = {method: operation_json(getattr(named.value, method)) for method in methods
                if named.value.HasField(method)}
        paths[named.name] = {**item, "parameters": parameters_json(named.value.parameters)}
    security = doc.security_definitions.additional_properties
    return {
        "swagger": doc.swagger,
        "info": {"title": doc.info.title, "version": doc.info.version},
        "paths": paths,
        "definitions": {named.name: schema_json(named.value) for named in doc.definitions.additional_properties},
        "parameters": {named.name: parameter_json(named.value) for named in doc.parameters.additional_properties},
        "securityDefinitions": {
            named.name: {"description": named.value.api_key_security.description,
                         "type": named.value.api_key_security.type, "name": named.value.api_key_security.name,
                         "in": getattr(named.value.api_key_security, "in")}
            for named in security
        },
        "security": [{named.name: list(named.value.value) for named in requirement.additional_properties}
                     for requirement in doc.security],
    }


# --- HTTP ------------------------------------------------------------------------------------------


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    app = web.Application()
    app[SERVED_KINDS] = KindRegistry()
    setup(app)
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


async def test_protobuf_decodes_to_the_same_document(client: Client, document: dict[str, Any]) -> None:
    resp = await client.get("/openapi/v2", headers={"Accept": PROTOBUF_OLD})
    assert resp.status == 200 and resp.headers["Content-Type"] == PROTOBUF
    decoded = message_class("Document").FromString(await resp.read())
    assert document_json(decoded) == document


async def test_json_is_the_document(client: Client, document: dict[str, Any]) -> None:
    resp = await client.get("/openapi/v2", headers={"Accept": JSON_TYPE})
    assert resp.status == 200 and resp.headers["Content-Type"] == JSON_TYPE
    assert orjson.loads(await resp.read()) == document


@pytest.mark.parametrize(("accept", "expected"), [
    ("", JSON_TYPE),
    ("*/*", JSON_TYPE),
    ("application/*", JSON_TYPE),
    (PROTOBUF_OLD, PROTOBUF),
    (PROTOBUF, PROTOBUF),
    (f"{PROTOBUF_OLD}, application/json", PROTOBUF),
    (f"{PROTOBUF};q=0.5, application/json", JSON_TYPE),
    (f"*/*;q=0.8, {PROTOBUF}", PROTOBUF),
    ("application/yaml, application/json;q=0.1", JSON_TYPE),
    ("application/yaml", None),
    ("text/plain, application/vnd.kubernetes.protobuf", None),
])
def test_negotiation_as_kube_openapi(accept: str, expected: str | None) -> None:
    assert content_type(accept) == expected


async def test_not_acceptable_is_an_empty_406(client: Client) -> None:
    resp = await client.get("/openapi/v2", headers={"Accept": "application/yaml"})
    assert resp.status == 406 and await resp.read() == b""
    assert "Content-Type" not in resp.headers


async def test_both_forms_carry_the_etag_of_the_json(client: Client) -> None:
    json_resp = await client.get("/openapi/v2")
    body = await json_resp.read()
    etag = f'"{hashlib.sha512(body).hexdigest().upper()}"'
    assert json_resp.headers["Etag"] == etag
    assert json_resp.headers["Cache-Control"] == "no-cache, private"
    pb_resp = await client.get("/openapi/v2", headers={"Accept": PROTOBUF_OLD})
    assert pb_resp.headers["Etag"] == etag
    assert pb_resp.headers["Last-Modified"] == json_resp.headers["Last-Modified"]

    for accept in (JSON_TYPE, PROTOBUF_OLD):
        cached = await client.get("/openapi/v2", headers={"Accept": accept, "If-None-Match": etag})
        assert cached.status == 304 and cached.headers["Etag"] == etag and await cached.read() == b""
    changed = await client.get("/openapi/v2", headers={"If-None-Match": '"other"'})
    assert changed.status == 200


async def test_if_modified_since(client: Client) -> None:
    first = await client.get("/openapi/v2")
    modified = parsedate_to_datetime(first.headers["Last-Modified"])
    later = await client.get("/openapi/v2", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert later.status == 304
    earlier = format_datetime(modified.replace(year=modified.year - 1), usegmt=True)
    assert (await client.get("/openapi/v2", headers={"If-Modified-Since": earlier})).status == 200


async def test_gzip_for_clients_that_accept_it(client: Client) -> None:
    plain = await (await client.get("/openapi/v2", headers={"Accept": PROTOBUF_OLD, "Accept-Encoding": "identity"},
                                    auto_decompress=False)).read()
    resp = await client.get("/openapi/v2", headers={"Accept": PROTOBUF_OLD, "Accept-Encoding": "gzip"},
                            auto_decompress=False)
    assert resp.headers["Content-Encoding"] == "gzip" and resp.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(await resp.read()) == plain
    for refused in ("gzip;q=0", "identity, *"):
        resp = await client.get("/openapi/v2", headers={"Accept": PROTOBUF_OLD, "Accept-Encoding": refused},
                                auto_decompress=False)
        assert "Content-Encoding" not in resp.headers and await resp.read() == plain


@pytest.mark.parametrize("path", ["/openapi/v2/", "/swagger-2.0.0.pb-v1", "/swagger.json"])
async def test_other_openapi_v2_paths_are_not_served(client: Client, path: str) -> None:
    assert (await client.get(path)).status == 404


# --- kubectl 1.27 and 1.28 -------------------------------------------------------------------------

SLICE = """\
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web
  namespace: default
  labels: {app: web}
addressType: IPv4
endpoints:
- addresses: ["10.0.0.1"]
  conditions: {ready: true}
ports:
- {name: http, port: 80, protocol: TCP}
"""
# A `kind: List` is validated on the client against the OpenAPI v2 schema even when the server validates fields.
LIST = """\
apiVersion: v1
kind: List
items:
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: listed, namespace: default}
  addressType: IPv4
  endpoints:
  - addresses: ["10.0.0.1"]
    conditions: {ready: true}
  ports:
  - {name: http, port: 80}
- apiVersion: v1
  kind: Pod
  metadata: {name: p, namespace: default, creationTimestamp: null}
  spec:
    containers:
    - name: c
      image: nginx
      env: [{name: A, value: "1"}]
      ports: [{containerPort: 80}]
- apiVersion: v1
  kind: Service
  metadata: {name: s, namespace: default}
  spec:
    ports: [{name: a, port: 80, targetPort: 8080}, {name: b, port: 81, targetPort: web}]
"""
Run = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def apiserver_storage() -> str:
    return "memory://"


@pytest.fixture(params=["1.27", "1.28"])
def kubectl(request: pytest.FixtureRequest, apiserver: RunningServer, tmp_path: Path) -> Run:
    """kubectl 1.27 or 1.28 (which read OpenAPI v2 in protobuf) with its own cache directory."""
    binary = KUBECTL_DIR / f"kubectl.{request.param}"
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary} is not installed")

    def run(*args: str, input: str | None = None, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        command = [str(binary), "--kubeconfig", str(apiserver.kubeconfig), "--cache-dir", str(tmp_path / "cache"),
                   *args]
        result = subprocess.run(command, check=False, input=input, capture_output=True, text=True, timeout=60,
                                env={**os.environ, **(env or {})})
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result

    return run


def test_kubectl_apply_twice_and_server_side(kubectl: Run) -> None:
    assert kubectl("apply", "-f", "-", input=SLICE).stdout.strip() == "endpointslice.discovery.k8s.io/web created"
    assert kubectl("apply", "-f", "-", input=SLICE).stdout.strip() == "endpointslice.discovery.k8s.io/web unchanged"
    changed = SLICE.replace("10.0.0.1", "10.0.0.2")
    assert kubectl("apply", "-f", "-", input=changed).stdout.strip() == \
        "endpointslice.discovery.k8s.io/web configured"
    out = kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=SLICE).stdout
    assert out.strip() == "endpointslice.discovery.k8s.io/web serverside-applied"
    stored = orjson.loads(kubectl("get", "endpointslice", "web", "-o", "json").stdout)
    assert stored["endpoints"][0]["addresses"] == ["10.0.0.1"]


def test_kubectl_diff_and_edit(kubectl: Run, tmp_path: Path) -> None:
    kubectl("apply", "-f", "-", input=SLICE)
    assert kubectl("diff", "-f", "-", input=SLICE).returncode == 0
    diff = kubectl("diff", "-f", "-", input=SLICE.replace("10.0.0.1", "10.0.0.2"), check=False)
    assert diff.returncode == 1, diff.stderr
    assert "-  - 10.0.0.1" in diff.stdout and "+  - 10.0.0.2" in diff.stdout

    script = tmp_path / "editor.sh"
    script.write_text("#!/bin/sh\nexec sed -i 's/app: web/app: edited/' \"$1\"\n")
    script.chmod(0o755)
    out = kubectl("edit", "endpointslice", "web", env={"KUBE_EDITOR": str(script), "EDITOR": str(script)}).stdout
    assert out.strip() == "endpointslice.discovery.k8s.io/web edited"
    assert kubectl("get", "endpointslice", "web", "-o", "jsonpath={.metadata.labels.app}").stdout == "edited"


@pytest.mark.parametrize(("output", "containers"), [("plaintext", "[]Container"), ("plaintext-openapiv2", "[]Object")])
def test_kubectl_explain(kubectl: Run, output: str, containers: str) -> None:
    """`plaintext` reads OpenAPI v3, `plaintext-openapiv2` v2 (which names every object type "Object")."""
    out = kubectl("explain", "endpointslices", f"--output={output}").stdout
    assert "KIND:" in out and "EndpointSlice" in out
    assert "addressType\t<string> -required-" in out
    out = kubectl("explain", "pods.spec", f"--output={output}").stdout
    assert f"containers\t<{containers}> -required-" in out
    out = kubectl("explain", "endpointslices.endpoints.conditions", f"--output={output}").stdout
    assert "ready\t<boolean>" in out


def test_kubectl_client_side_validation(kubectl: Run) -> None:
    """The v2 schema accepts a valid List and rejects what kubectl rejects for kube-apiserver, word for word."""
    out = kubectl("apply", "-f", "-", "--dry-run=server", input=LIST).stdout.splitlines()
    assert out == ["endpointslice.discovery.k8s.io/listed created (server dry run)", "pod/p created (server dry run)",
                   "service/s created (server dry run)"]
    bad = LIST.replace("  addressType: IPv4", "  addressType: IPv4\n  bogus: 1").replace(
        "conditions: {ready: true}", "conditions: {ready: true, nope: x}").replace("port: 80}\n- api", 'port: "80"}\n- api')
    failed = kubectl("apply", "-f", "-", input=bad, check=False)
    assert failed.returncode == 1
    assert failed.stderr.strip() == (
        'error: error validating "STDIN": error validating data: [ValidationError(EndpointSlice): unknown field '
        '"bogus" in io.k8s.api.discovery.v1.EndpointSlice, ValidationError(EndpointSlice.endpoints[0].conditions): '
        'unknown field "nope" in io.k8s.api.discovery.v1.EndpointConditions, '
        'ValidationError(EndpointSlice.ports[0].port): invalid type for io.k8s.api.discovery.v1.EndpointPort.port: '
        'got "string", expected "integer"]; if you choose to ignore these errors, turn validation off with '
        '--validate=false'
    )
