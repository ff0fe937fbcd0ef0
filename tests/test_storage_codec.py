"""Stored values (apiserver.codec, the RangeAllocation records of apiserver.allocator) in either storage media type,
and the --storage-media-type flag. tests/test_storage_interop.py checks the same against kube-apiserver."""

from __future__ import annotations

import asyncio
import copy
import urllib.request
from typing import Any

import pytest

from apiserver import codec
from apiserver.allocator import RangeAllocator
from apiserver.cli import config_from, parser
from apiserver.config import Config
from apiserver.protobuf import envelope
from apiserver.state import STORAGE
from apiserver.testing import run_server
from loadtest.codecbench import endpoint_slice
from storage import KeyValue, MemoryStorage

Obj = dict[str, Any]


def stored(media_type: str, obj: Obj, revision: int = 7) -> KeyValue:
    return KeyValue("/registry/endpointslices/default/web-abcde", codec.encoder(media_type)(obj), revision, 5)


@pytest.mark.parametrize("media_type", codec.MEDIA_TYPES)
def test_a_stored_object_has_no_resource_version_or_self_link_and_reads_back_at_its_revision(media_type: str) -> None:
    obj = endpoint_slice(3)
    obj["metadata"]["selfLink"] = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web-abcde"
    original = copy.deepcopy(obj)
    kv = stored(media_type, obj)
    assert obj == original  # the caller's object is left alone
    assert b"123456" not in kv.value and b"selfLink" not in kv.value and b"/apis/" not in kv.value
    expected = copy.deepcopy(original)
    del expected["metadata"]["selfLink"]
    expected["metadata"]["resourceVersion"] = "7"
    assert codec.decode(kv) == expected


def test_protobuf_is_the_k8s_envelope_naming_the_storage_version_and_json_is_plain() -> None:
    obj = endpoint_slice(1)
    protobuf, json = stored(codec.PROTOBUF, obj).value, stored(codec.JSON, obj).value
    assert protobuf.startswith(envelope.PREFIX + b"\x0a\x24\x0a\x13discovery.k8s.io/v1\x12\x0dEndpointSlice")
    assert json.startswith(b"{") and len(protobuf) < len(json)


def test_a_kind_without_a_protobuf_form_is_stored_in_json() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "resourceVersion": "3"}}
    kv = stored(codec.PROTOBUF, obj)
    assert kv.value == b'{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"}}'


def test_an_unsupported_media_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unable to find serializer"):
        codec.encoder("application/yaml")
    with pytest.raises(SystemExit):
        parser().parse_args(["--storage-media-type", "application/yaml"])


def test_the_media_type_is_protobuf_on_etcd_and_json_embedded_unless_asked() -> None:
    assert Config(storage="etcd").media_type() == codec.PROTOBUF
    assert Config(storage="etcd://127.0.0.1:2379/registry").media_type() == codec.PROTOBUF
    assert Config().media_type() == codec.JSON
    args = parser().parse_args(["--storage", "etcd", "--storage-media-type", codec.JSON])
    assert config_from(args).media_type() == codec.JSON
    assert config_from(parser().parse_args(["--storage-media-type", codec.PROTOBUF])).media_type() == codec.PROTOBUF


async def test_allocators_writing_either_media_type_share_one_bitmap() -> None:
    """A record written in JSON is read by an allocator writing protobuf and the other way round."""
    store = MemoryStorage()
    json_side, protobuf_side = (RangeAllocator(store, "/registry/ranges/servicenodeports", "30000-30009", 10, 0,
                                               "provided port is already allocated", media_type)
                                for media_type in (codec.JSON, codec.PROTOBUF))
    taken = []
    for i in range(10):
        taken += await (json_side if i % 2 else protobuf_side).change([], 1)
        _, kv = await store.get("/registry/ranges/servicenodeports")
        assert kv is not None and kv.value.startswith(b"{" if i % 2 else envelope.PREFIX)
    assert sorted(taken) == list(range(10))
    assert await json_side.allocated() == await protobuf_side.allocated() == (1 << 10) - 1


def test_the_embedded_store_can_hold_protobuf() -> None:
    """--storage-media-type protobuf on the embedded store: objects and the allocators' records in protobuf."""
    with run_server(Config(compaction_interval=0, storage_media_type=codec.PROTOBUF)) as server:
        request = urllib.request.Request(server.url + "/api/v1/namespaces/default/services", method="POST",
                                         data=b'{"metadata":{"name":"web"},"spec":{"ports":[{"port":80}]}}',
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
        assert server.loop is not None
        for key in ("/registry/services/specs/default/web", "/registry/ranges/serviceips"):
            _, kv = asyncio.run_coroutine_threadsafe(server.app[STORAGE].get(key), server.loop).result(10)
            assert kv is not None and kv.value.startswith(envelope.PREFIX), key
