"""The discovery documents' types as schema nodes numbered as upstream's generated.proto (meta/v1 for the legacy
documents, apidiscovery v2 and v2beta1, which number alike, for the aggregated list): their protobuf form is
derived from these by `apiserver.protobuf`, as the kinds' is from theirs.
"""

from __future__ import annotations

from typing import Any

from apiserver.kinds.meta import LIST_META, META, OBJECT_META
from apiserver.protobuf.envelope import unknown
from apiserver.protobuf.message import message
from apiserver.schema import Array, Boolean, Object, String, numbered

DISCOVERY = "io.k8s.api.apidiscovery.v2."

SERVER_ADDRESS = Object(ref=META + "ServerAddressByClientCIDR", properties={
    "clientCIDR": String(proto=1), "serverAddress": String(proto=2)})
GROUP_VERSION = Object(ref=META + "GroupVersionForDiscovery", properties={
    "groupVersion": String(proto=1), "version": String(proto=2)})
API_GROUP = Object(ref=META + "APIGroup", properties={
    "name": String(proto=1),
    "versions": Array(proto=2, items=GROUP_VERSION),
    "preferredVersion": numbered(GROUP_VERSION, 3),
    "serverAddressByClientCIDRs": Array(proto=4, items=SERVER_ADDRESS),
})
# metav1.Verbs is a []string written as a message of its own: the JSON list is wrapped as {"items": [...]}
VERBS = Object(ref=META + "Verbs", properties={"items": Array(proto=1, items=String())})
API_RESOURCE = Object(ref=META + "APIResource", properties={
    "name": String(proto=1),
    "namespaced": Boolean(proto=2),
    "kind": String(proto=3),
    "verbs": numbered(VERBS, 4, pointer=True),
    "shortNames": Array(proto=5, items=String()),
    "singularName": String(proto=6),
    "categories": Array(proto=7, items=String()),
    "group": String(proto=8),
    "version": String(proto=9),
    "storageVersionHash": String(proto=10),
})
GROUP_VERSION_KIND = Object(ref=META + "GroupVersionKind", properties={
    "group": String(proto=1), "version": String(proto=2), "kind": String(proto=3)})
RESOURCE_DISCOVERY = Object(ref=DISCOVERY + "APIResourceDiscovery", properties={
    "resource": String(proto=1),
    "responseKind": numbered(GROUP_VERSION_KIND, 2, pointer=True),
    "scope": String(proto=3),
    "singularResource": String(proto=4),
    "verbs": Array(proto=5, items=String()),
    "shortNames": Array(proto=6, items=String()),
    "categories": Array(proto=7, items=String()),
    "subresources": Array(proto=8, items=Object(ref=DISCOVERY + "APISubresourceDiscovery", properties={
        "subresource": String(proto=1),
        "responseKind": numbered(GROUP_VERSION_KIND, 2, pointer=True),
        "acceptedTypes": Array(proto=3, items=GROUP_VERSION_KIND),
        "verbs": Array(proto=4, items=String()),
    })),
})
GROUP_DISCOVERY = Object(ref=DISCOVERY + "APIGroupDiscovery", properties={
    "metadata": numbered(OBJECT_META, 1),
    "versions": Array(proto=2, items=Object(ref=DISCOVERY + "APIVersionDiscovery", properties={
        "version": String(proto=1),
        "resources": Array(proto=2, items=RESOURCE_DISCOVERY),
        "freshness": String(proto=3),
    })),
})

SCHEMAS: dict[str, Object] = {
    "APIVersions": Object(ref=META + "APIVersions", properties={
        "versions": Array(proto=1, items=String()),
        "serverAddressByClientCIDRs": Array(proto=2, items=SERVER_ADDRESS)}),
    "APIGroupList": Object(ref=META + "APIGroupList", properties={"groups": Array(proto=1, items=API_GROUP)}),
    "APIGroup": API_GROUP,
    "APIResourceList": Object(ref=META + "APIResourceList", properties={
        "groupVersion": String(proto=1), "resources": Array(proto=2, items=API_RESOURCE)}),
    "APIGroupDiscoveryList": Object(ref=DISCOVERY + "APIGroupDiscoveryList", properties={
        "metadata": numbered(LIST_META, 1), "items": Array(proto=2, items=GROUP_DISCOVERY)}),
}


def protobuf(document: dict[str, Any]) -> bytes:
    """A discovery document in protobuf, enveloped with its apiVersion ("" where its JSON has none) and kind."""
    kind = document["kind"]
    body = document
    if kind == "APIResourceList":
        body = {**document, "resources": [{**r, "verbs": {"items": r["verbs"]}} for r in document["resources"]]}
    return unknown(document.get("apiVersion", ""), kind, message(SCHEMAS[kind]).encode(body))
