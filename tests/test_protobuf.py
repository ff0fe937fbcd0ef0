"""Protobuf as kube-apiserver speaks it: the codec derived from the schemas, request bodies, negotiated responses,
watch frames, and byte-for-byte equality with the real kube-apiserver (skipped when it is not built)."""

from __future__ import annotations

import copy
import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from apiserver.config import Config
from apiserver.kinds.meta import OBJECT_META
from apiserver.protobuf import envelope
from apiserver.protobuf.message import message
from apiserver.protobuf.values import ProtobufError
from apiserver.testing import RunningServer
from conformance.kube_apiserver import KubeAPIServer

PB = envelope.MEDIA_TYPE
Obj = dict[str, Any]

OBJECTS: dict[str, tuple[str, Obj]] = {
    "namespaces": ("/api/v1/namespaces", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "NS", "labels": {"b": "2", "a": "1"}}}),
    "services": ("/api/v1/namespaces/NS/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "w", "port": 81,
                                                                             "targetPort": "web"}],
                 "selector": {"app": "web"}, "sessionAffinity": "ClientIP"}}),
    "endpoints": ("/api/v1/namespaces/NS/endpoints", {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"},
        "subsets": [{"addresses": [{"ip": "10.0.0.1", "nodeName": "n1",
                                    "targetRef": {"kind": "Pod", "name": "p", "namespace": "NS"}}],
                     "notReadyAddresses": [{"ip": "10.0.0.2"}],
                     "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]}),
    "endpointslices": ("/apis/discovery.k8s.io/v1/namespaces/NS/endpointslices", {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True, "serving": True, "terminating": False},
                       "nodeName": "n1", "zone": "z", "targetRef": {"kind": "Pod", "name": "p", "namespace": "NS",
                                                                    "uid": "u"}},
                      {"addresses": ["10.0.0.2"], "conditions": {}, "hints": {"forZones": [{"name": "z"}]}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"port": 9090}]}),
    "pods": ("/api/v1/namespaces/NS/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{
            "name": "c", "image": "nginx", "ports": [{"containerPort": 80, "name": "web"}],
            "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}},
            "readinessProbe": {"httpGet": {"port": "web"}, "periodSeconds": 5},
            "livenessProbe": {"tcpSocket": {"port": 80}},
            "volumeMounts": [{"name": "config", "mountPath": "/etc/c"}]}],
            "volumes": [{"name": "config", "configMap": {"name": "c"}}, {"name": "scratch"}],
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}},
            "securityContext": {"runAsUser": 1000, "supplementalGroups": [1, 2]}}}),
}
PROTOBUF_KINDS = ["namespaces", "services", "endpoints", "endpointslices", "pods"]


class Client:
    """Plain HTTP with explicit Accept and Content-Type, against ours or kube-apiserver."""

    def __init__(self, url: str, kube: KubeAPIServer | None = None) -> None:
        self.url, self.kube = url, kube

    def __call__(self, path: str, method: str = "GET", body: bytes | None = None, accept: str = PB,
                 content_type: str = "application/json") -> tuple[int, str, bytes]:
        if self.kube is not None:
            request = self.kube.request(path, method, body, content_type)
        else:
            request = urllib.request.Request(self.url + path, data=body, method=method,
                                             headers={"Content-Type": content_type})
        request.add_header("Accept", accept)
        context = self.kube.ssl_context() if self.kube is not None else None
        try:
            with urllib.request.urlopen(request, timeout=15, context=context) as response:
                return response.status, response.headers["Content-Type"], response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers["Content-Type"], err.read()


def placed(plural: str, namespace: str) -> tuple[str, Obj]:
    path, body = OBJECTS[plural]
    body = json.loads(json.dumps(body).replace('"NS"', json.dumps(namespace)))
    return path.replace("NS", namespace), body


def create_all(client: Client, namespace: str, plurals: list[str], protobuf: bool = False) -> None:
    for plural in ["namespaces", *plurals]:
        path, body = placed(plural, namespace)
        data, media = (envelope.encode(body), PB) if protobuf else (json.dumps(body).encode(), "application/json")
        status, _, reply = client(path, "POST", data, accept=f"{PB}, application/json", content_type=media)
        assert status == 201, reply


def normalised(obj: Obj) -> Obj:
    """An object without what differs between two servers for the same request: uid, times, versions, IPs."""
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    for name in ("uid", "resourceVersion", "creationTimestamp"):
        meta.pop(name, None)
    for entry in meta.get("managedFields") or ():
        entry.pop("time", None)
    spec = obj.get("spec") or {}
    spec.pop("clusterIP", None)
    spec.pop("clusterIPs", None)
    return obj


@pytest.fixture
def ours(apiserver: RunningServer) -> Client:
    return Client(apiserver.url)


@pytest.mark.parametrize("plural", PROTOBUF_KINDS)
def test_protobuf_and_json_are_the_same_object(ours: Client, plural: str) -> None:
    """Created from a protobuf body, read back in protobuf and in JSON: one object, typed by its envelope."""
    create_all(ours, "pb", [plural] if plural != "namespaces" else [], protobuf=True)
    path, body = placed(plural, "pb")
    item = f"{path}/{body['metadata']['name']}"
    status, media, data = ours(item)
    assert (status, media) == (200, PB)
    assert data.startswith(b"k8s\x00")
    status, _, as_json = ours(item, accept="application/json")
    assert envelope.decode(data) == json.loads(as_json)
    status, media, listed = ours(path)
    assert (status, media) == (200, PB)
    assert envelope.decode(listed)["kind"] == body["kind"] + "List"


def _varint(value: int) -> bytes:
    """A varint spelled out bit by bit, as the wire format defines it (negative: its 64-bit two's complement)."""
    value &= (1 << 64) - 1
    out = b""
    while True:
        low, value = value & 0x7F, value >> 7
        out += bytes((low | (0x80 if value else 0),))
        if not value:
            return out


def _set(obj: Obj) -> Obj:
    """The fields a decoded object has a value for (those its schema always shows are null when absent)."""
    return {k: v for k, v in obj.items() if v is not None}


@pytest.mark.parametrize("name", ["a", "é" * 3, "x" * 127, "x" * 128, "ü" * 100, "y" * 20_000, "日本"])
def test_a_string_is_its_utf8_bytes_behind_their_length(name: str) -> None:
    """ObjectMeta's name is field 1: only its own bytes change with it, whatever its length or characters."""
    meta = message(OBJECT_META)
    rest = meta.encode({"name": "a"})[3:]
    data = name.encode()
    assert meta.encode({"name": name}) == b"\x0a" + _varint(len(data)) + data + rest
    assert _set(meta.decode(meta.encode({"name": name, "labels": {name: name}}))) == {"name": name,
                                                                                        "labels": {name: name}}


def test_a_map_is_one_entry_per_key_sorted() -> None:
    """ObjectMeta's labels (field 11): entries {key = 1, value = 2} in key order, ASCII or not."""
    meta = message(OBJECT_META)
    data = meta.encode({"labels": {"b": "2", "é": "ü", "a": "1"}})
    assert b"\x5a\x06\x0a\x01a\x12\x011\x5a\x06\x0a\x01b\x12\x012\x5a\x08\x0a\x02\xc3\xa9\x12\x02\xc3\xbc" in data


@pytest.mark.parametrize("generation", [0, 1, 127, 128, 16_383, 16_384, 2**40, -1, -(2**63), 2**63 - 1])
def test_an_int64_is_its_varint(generation: int) -> None:
    meta = message(OBJECT_META)
    zero = meta.encode({})
    data = meta.encode({"generation": generation})
    assert data == zero.replace(b"\x38\x00", b"\x38" + _varint(generation))
    assert meta.decode(data).get("generation", 0) == generation


def test_decoded_keys_come_in_the_schemas_order() -> None:
    """Decoded objects list their keys as kube-apiserver's JSON does (Go's field order), not in field numbers."""
    obj = {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1", "metadata": {"name": "s"},
           "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]}
    decoded = envelope.decode(envelope.encode(obj))
    assert list(decoded) == ["kind", "apiVersion", "metadata", "addressType", "endpoints", "ports"]


def test_decoding_takes_fields_in_any_order_and_skips_unknown_ones() -> None:
    meta = message(OBJECT_META)
    name, namespace, labels = b"\x0a\x01n", b"\x1a\x02ns", meta.encode({"labels": {"a": "1"}})
    unknown = _varint(99 << 3) + _varint(300) + _varint(100 << 3 | 2) + b"\x03abc" + b"\x7d\x01\x02\x03\x04"
    for data in (name + namespace + labels, namespace + unknown + labels + name, labels + name + namespace):
        assert _set(meta.decode(data)) == {"name": "n", "namespace": "ns", "labels": {"a": "1"}}
    assert _set(meta.decode(name + b"\x0a\x01m")) == {"name": "m"}  # the last value wins


@pytest.mark.parametrize("cut", [1, 5, 20, 100])
def test_truncated_messages_are_errors(cut: int) -> None:
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "labels": {"a": "b" * 300}}}
    data = envelope.encode(obj)
    with pytest.raises(ProtobufError, match="unexpected EOF"):
        envelope.decode(data[:-cut])
    meta = message(OBJECT_META)
    nested = meta.encode({"labels": {"a": "1"}})
    with pytest.raises(ProtobufError, match="unexpected EOF"):  # the entry claims more than the labels field has
        meta.decode(nested.replace(b"\x0a\x01a", b"\x0a\x09a"))


def test_times_are_written_to_the_second() -> None:
    """metav1.Time keeps seconds only (upstream drops nanos); an offset or a fraction a client sent is allowed."""
    condition = {"type": "NamespaceDeletionDiscoveryFailure", "status": "False", "lastTransitionTime": "",
                 "reason": "", "message": ""}
    for sent, kept in (("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
                       ("2026-01-01T02:00:00.5+02:00", "2026-01-01T00:00:00Z")):
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "t", "creationTimestamp": sent},
                     "spec": {}, "status": {"conditions": [{**condition, "lastTransitionTime": sent}]}}
        decoded = envelope.decode(envelope.encode(namespace))
        assert decoded["metadata"]["creationTimestamp"] == kept
        assert decoded["status"]["conditions"][0]["lastTransitionTime"] == kept


def test_negotiation(ours: Client) -> None:
    """q-values and wildcards choose; a Table is never protobuf (406, as upstream); a kind without a protobuf form
    (none is left) passes protobuf clauses over; errors are Status objects in protobuf when asked so."""
    create_all(ours, "neg", ["endpointslices", "pods"])
    slices = "/apis/discovery.k8s.io/v1/namespaces/neg/endpointslices"
    assert ours(slices, accept=f"{PB};q=0.5, application/json;q=0.9")[1] == "application/json"
    assert ours(slices, accept=f"application/json;q=0.5, {PB}")[1] == PB
    table = ours(slices, accept=f"{PB};as=Table;g=meta.k8s.io;v=v1")
    assert table[0] == 406 and json.loads(table[2])["message"] == (
        "only the following media types are accepted: application/json, application/yaml, " + PB)
    assert ours(slices, accept=f"{PB};as=Table;g=meta.k8s.io;v=v1, application/json")[1] == "application/json"
    partial = ours(slices + "/web-1", accept=f"{PB};as=PartialObjectMetadata;g=meta.k8s.io;v=v1")
    assert envelope.decode(partial[2])["kind"] == "PartialObjectMetadata"
    partial_list = envelope.decode(ours(slices, accept=f"{PB};as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")[2])
    assert partial_list["kind"] == "PartialObjectMetadataList"
    assert [item["metadata"]["name"] for item in partial_list["items"]] == ["web-1"]
    assert ours("/api/v1/namespaces/neg/pods/p", accept=f"{PB}, application/json")[1] == PB
    status, media, data = ours(slices + "/nope", accept=f"{PB}, application/json")
    assert (status, media) == (404, PB)
    assert envelope.decode(data)["reason"] == "NotFound"


def test_delete_options_in_protobuf(ours: Client) -> None:
    """A DeleteOptions body in protobuf: its preconditions are checked."""
    create_all(ours, "del", ["endpointslices"])
    item = "/apis/discovery.k8s.io/v1/namespaces/del/endpointslices/web-1"
    options = envelope.encode({"apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions",
                               "preconditions": {"uid": "not-the-uid"}})
    status, media, data = ours(item, "DELETE", options, content_type=PB)
    assert (status, media) == (409, PB)
    assert envelope.decode(data)["reason"] == "Conflict"
    status, _, data = ours(item, "DELETE", envelope.encode({"apiVersion": "v1", "kind": "DeleteOptions"}),
                           content_type=PB)
    assert status == 200 and envelope.decode(data)["status"] == "Success"
    create_all(ours, "del2", ["endpointslices"])
    status, _, data = ours(item.replace("/del/", "/del2/"), "DELETE", b"", content_type=PB)  # no body at all
    assert status == 200 and envelope.decode(data)["status"] == "Success"


def watch_frames(data: bytes) -> list[Obj]:
    """The events of a protobuf watch stream: 4-byte big-endian length, then a bare metav1.WatchEvent."""
    events = []
    while data:
        size = int.from_bytes(data[:4], "big")
        frame, data = data[4:4 + size], data[4 + size:]
        events.append(frame)
    return [{"frame": frame} for frame in events]


def test_watch_in_protobuf(ours: Client) -> None:
    create_all(ours, "w", ["endpointslices"])
    status, media, data = ours("/apis/discovery.k8s.io/v1/namespaces/w/endpointslices?watch=1&timeoutSeconds=1"
                               "&resourceVersion=0", accept=PB)
    assert (status, media) == (200, envelope.WATCH_MEDIA_TYPE)
    _, _, as_json = ours("/apis/discovery.k8s.io/v1/namespaces/w/endpointslices/web-1", accept="application/json")
    [event] = watch_frames(data)
    assert event["frame"] == envelope.watch_event("ADDED", envelope.encode(json.loads(as_json)))[4:]


@pytest.mark.parametrize("apiserver_config", [Config(compaction_interval=0, watch_cache_min_size=5,
                                                     watch_cache_max_size=5)])
def test_too_old_watch_gets_an_error_status(ours: Client) -> None:
    """A watch from a revision the cache no longer holds: one ERROR event whose object is the Status itself, in the
    watch's encoding, whatever its projection (a Table watcher gets no Table of it)."""
    create_all(ours, "old", ["endpointslices"])
    item = "/apis/discovery.k8s.io/v1/namespaces/old/endpointslices/web-1"
    first = envelope.decode(ours(item)[2])["metadata"]["resourceVersion"]
    for i in range(10):
        patch = json.dumps({"metadata": {"annotations": {"n": str(i)}}}).encode()
        assert ours(item, "PATCH", patch, content_type="application/merge-patch+json")[0] == 200
    watch = f"/apis/discovery.k8s.io/v1/namespaces/old/endpointslices?watch=1&timeoutSeconds=1&resourceVersion={first}"
    status, media, data = ours(watch)
    assert (status, media) == (200, envelope.WATCH_MEDIA_TYPE)
    [event] = watch_frames(data)
    event_type, obj = envelope.decode_watch_event(event["frame"])
    assert (event_type, obj["kind"], obj["code"], obj["reason"]) == ("ERROR", "Status", 410, "Expired")
    _, _, data = ours(watch, accept="application/json;as=Table;g=meta.k8s.io;v=v1")
    assert json.loads(data)["object"] == obj


# --- the real kube-apiserver: the same bytes -----------------------------------------------------------------------


@pytest.fixture
def theirs(kube_apiserver: KubeAPIServer) -> Client:
    return Client(kube_apiserver.url, kube_apiserver)


@pytest.mark.parametrize("plural", PROTOBUF_KINDS)
def test_same_bytes_as_kube_apiserver(ours: Client, theirs: Client, plural: str) -> None:
    """The same object created on both: kube-apiserver's protobuf is our encoding of its JSON, byte for byte, and
    both GETs decode to the same object but for uid, times and versions; lists and watch frames too."""
    namespace = f"pb-{uuid.uuid4().hex[:6]}"
    plurals = [plural] if plural != "namespaces" else []
    create_all(ours, namespace, plurals)
    create_all(theirs, namespace, plurals)
    path, body = placed(plural, namespace)
    item = f"{path}/{body['metadata']['name']}"
    _, _, their_json = theirs(item, accept="application/json")
    status, media, their_bytes = theirs(item)
    assert (status, media) == (200, PB)
    assert envelope.encode(json.loads(their_json)) == their_bytes
    status, media, our_bytes = ours(item)
    assert (status, media) == (200, PB)
    assert normalised(envelope.decode(our_bytes)) == normalised(envelope.decode(their_bytes))
    _, _, their_list_json = theirs(path, accept="application/json")
    assert envelope.encode(json.loads(their_list_json)) == theirs(path)[2]
    watched = theirs(f"{path}?watch=1&timeoutSeconds=1&fieldSelector=metadata.name%3D{body['metadata']['name']}",
                     accept=PB + ";stream=watch")[2]
    assert watched == envelope.watch_event("ADDED", their_bytes)


def test_same_status_bytes_as_kube_apiserver(ours: Client, theirs: Client) -> None:
    path = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/nope"
    assert ours(path) == theirs(path)


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_partial_object_metadata_list_bytes_as_kube_apiserver(ours: Client, theirs: Client, version: str) -> None:
    """meta.k8s.io/v1beta1's PartialObjectMetadataList numbers items 1 and metadata 2, v1's the other way round:
    kube-apiserver's bytes are our encoding of its JSON, and ours decode to the same list."""
    namespace = f"pb-{uuid.uuid4().hex[:6]}"
    create_all(ours, namespace, ["endpointslices"])
    create_all(theirs, namespace, ["endpointslices"])
    path = placed("endpointslices", namespace)[0]
    as_list = f";as=PartialObjectMetadataList;g=meta.k8s.io;v={version}"
    their_json = json.loads(theirs(path, accept="application/json" + as_list)[2])
    status, media, their_bytes = theirs(path, accept=PB + as_list)
    assert (status, media, envelope.encode(their_json)) == (200, PB, their_bytes)
    status, media, our_bytes = ours(path, accept=PB + as_list)
    assert (status, media) == (200, PB)
    ours_list, their_list = envelope.decode(our_bytes), envelope.decode(their_bytes)
    assert ours_list["apiVersion"] == their_list["apiVersion"] == f"meta.k8s.io/{version}"
    assert [normalised(item) for item in ours_list["items"]] == [normalised(item) for item in their_list["items"]]
