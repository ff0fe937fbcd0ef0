"""--event-ttl: Events expire after their last write, on the embedded store and on etcd (as kube-apiserver writes
them with an etcd lease)."""

from __future__ import annotations

import pytest
from kubernetes import client, watch

from apiserver.cli import config_from, parser
from apiserver.config import Config
from apiserver.testing import RunningServer

NS = "default"


@pytest.fixture
def apiserver_config() -> Config:
    return Config(compaction_interval=0, event_ttl=1)


def test_events_expire_after_the_event_ttl(apiserver: RunningServer, apiserver_storage: str) -> None:
    """--event-ttl: an Event goes away (a DELETED event) about the TTL after its last write; other kinds stay."""
    with apiserver.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_config_map(NS, {"metadata": {"name": "stays"}})
        core.create_namespaced_event(NS, {"metadata": {"name": "goes"}, "involvedObject": {"namespace": NS}})
        stream = watch.Watch().stream(core.list_namespaced_event, NS, timeout_seconds=15)
        assert next(stream)["type"] == "ADDED"
        gone = next(stream)
        stream.close()
        assert (gone["type"], gone["object"].metadata.name) == ("DELETED", "goes")
        assert core.list_namespaced_event(NS).items == []
        assert core.read_namespaced_config_map("stays", NS).metadata.name == "stays"
        events = client.EventsV1Api(api)  # written through events.k8s.io, the same stored Events
        events.create_namespaced_event(NS, {"metadata": {"name": "new"}, "regarding": {"namespace": NS},
                                            "eventTime": "2024-01-01T00:00:00.000000Z", "action": "A", "reason": "R",
                                            "type": "Normal", "reportingController": "c", "reportingInstance": "i"})
        stream = watch.Watch().stream(core.list_namespaced_event, NS, timeout_seconds=15)
        assert [next(stream)["type"], next(stream)["type"]] == ["ADDED", "DELETED"]
        stream.close()


def test_event_ttl_flag() -> None:
    """--event-ttl takes a Go duration, 1h by default, as kube-apiserver's."""
    assert config_from(parser().parse_args(["--event-ttl", "2h30m"])).event_ttl == 9000
    assert config_from(parser().parse_args([])).event_ttl == 3600
