"""OpenAPI v3 documents in gnostic's protobuf form, as kube-apiserver serves them when asked: the bytes are
kube-apiserver's for the same JSON, the ETag is the JSON form's, and an Accept naming neither form is a 406."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from apiserver.openapi_v3_proto import MEDIA_TYPE, message_class, to_message
from apiserver.testing import RunningServer
from conformance.kube_apiserver import KubeAPIServer

ASKED_AS = "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"  # the spelling client-go sends
Reply = tuple[int, dict[str, str], bytes]


def fetch(url: str, accept: str, kube: KubeAPIServer | None = None) -> Reply:
    request = kube.request(url, "GET", None, "application/json") if kube else urllib.request.Request(url)
    request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, timeout=30, context=kube.ssl_context() if kube else None) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture(scope="module")
def kube_documents(kube_apiserver: KubeAPIServer) -> dict[str, tuple[Reply, Reply]]:
    """Every v3 document kube-apiserver serves, in JSON and in protobuf."""
    index = json.loads(fetch("/openapi/v3", "application/json", kube_apiserver)[2])
    return {name: (fetch(f"/openapi/v3/{name}", "application/json", kube_apiserver),
                   fetch(f"/openapi/v3/{name}", ASKED_AS, kube_apiserver)) for name in index["paths"]}


def test_kube_apiservers_documents_are_our_encoding_of_their_json(
        kube_documents: dict[str, tuple[Reply, Reply]]) -> None:
    for name, ((_, json_headers, json_body), (status, headers, body)) in kube_documents.items():
        assert (status, headers["Content-Type"], headers["Etag"]) == (200, MEDIA_TYPE, json_headers["Etag"]), name
        assert to_message(json.loads(json_body)).SerializeToString() == body, name


@pytest.mark.parametrize("accept", ["application/yaml", "text/plain", "application/vnd.kubernetes.protobuf"])
def test_other_forms_are_refused_with_406(kube_apiserver: KubeAPIServer, apiserver: RunningServer,
                                          accept: str) -> None:
    theirs = fetch("/openapi/v3/api/v1", accept, kube_apiserver)
    ours = fetch(apiserver.url + "/openapi/v3/api/v1", accept)
    for status, headers, body in (theirs, ours):
        assert (status, headers.get("Content-Type"), headers.get("Vary"), body) == (406, None, "Accept", b"")


@pytest.mark.parametrize("accept", [ASKED_AS, MEDIA_TYPE, f"application/json;q=0.5,{MEDIA_TYPE}"])
def test_our_documents_in_protobuf(apiserver: RunningServer, accept: str) -> None:
    for name in ("api/v1", "apis/discovery.k8s.io/v1"):
        _, json_headers, json_body = fetch(f"{apiserver.url}/openapi/v3/{name}", "application/json")
        status, headers, body = fetch(f"{apiserver.url}/openapi/v3/{name}", accept)
        assert (status, headers["Content-Type"], headers["ETag"]) == (200, MEDIA_TYPE, json_headers["ETag"])
        assert body == to_message(json.loads(json_body)).SerializeToString()
        document = message_class("Document").FromString(body)
        assert document.components.security_schemes.additional_properties[0].name == "BearerToken"
    hashed = json.loads(fetch(apiserver.url + "/openapi/v3", "application/json")[2])["paths"]["api/v1"]
    status, headers, _ = fetch(apiserver.url + hashed["serverRelativeURL"], accept)
    assert (status, headers["Cache-Control"]) == (200, "public, immutable")


def test_our_json_documents_name_the_bearer_token_as_kube_apiservers(
        kube_documents: dict[str, tuple[Reply, Reply]], apiserver: RunningServer) -> None:
    ours = json.loads(fetch(apiserver.url + "/openapi/v3/api/v1", "application/json")[2])
    theirs = json.loads(kube_documents["api/v1"][0][2])
    assert ours["components"]["securitySchemes"] == theirs["components"]["securitySchemes"]
