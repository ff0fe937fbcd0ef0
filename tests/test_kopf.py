"""A kopf operator on the `apiserver` fixture (memory and etcd): its own CustomResourceDefinitions and peering, its
create, update and delete handlers (with kopf's finalizer), a timer, a daemon, status patches, the Events it posts,
and a Pod it adopts that the garbage collector deletes with its owner, as `kopf run` runs it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from apiserver.testing import RunningServer

kopf = pytest.importorskip("kopf")
from kopf.testing import KopfRunner  # noqa: E402 - kopf is optional

pytestmark = pytest.mark.apiserver_crds("manifests/operator/crds.yaml")

NS = "default"
GROUP, VERSION, PLURAL = "operator.example.org", "v1", "greetings"
WAIT = 15.0  # seconds the operator may take to act
FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"


class Operator:
    """A kopf operator's handlers in their own registry; `seen` records (operator, what, name) as they run."""

    def __init__(self, url: str, name: str, seen: list[tuple[str, str, str]], daemon: bool = False) -> None:
        from kubernetes import client

        self.name = name
        self.registry = registry = kopf.OperatorRegistry()
        lock = threading.Lock()

        def record(what: str, who: str) -> None:
            with lock:
                seen.append((name, what, who))

        @kopf.on.login(registry=registry)
        def login(**_: Any) -> Any:
            return kopf.ConnectionInfo(server=url, default_namespace=NS)

        @kopf.on.startup(registry=registry)
        def configure(settings: Any, **_: Any) -> None:
            settings.posting.loggers = True  # kopf's log lines about an object become Events of it too
            settings.peering.lifetime = 5  # seconds a peer is trusted without a keep-alive

        @kopf.on.create(GROUP, VERSION, PLURAL, id="create", registry=registry)
        def create(spec: Any, name: str, patch: Any, body: Any, **_: Any) -> dict[str, str]:
            record("create", name)
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{name}-greeter"},
                   "spec": {"containers": [{"name": "greeter", "image": "busybox"}]}}
            kopf.adopt(pod, owner=body)  # the Greeting owns its Pod: the garbage collector deletes it with it
            with client.ApiClient(client.Configuration(host=url)) as api:
                client.CoreV1Api(api).create_namespaced_pod(NS, pod)
            patch.status["message"] = f"Hello, {spec['name']}"
            kopf.info(body, reason="Greeted", message=f"greeted {spec['name']}")
            return {"greeted": spec["name"]}  # kopf stores it as status.create

        @kopf.on.update(GROUP, VERSION, PLURAL, field="spec.shout", id="shout", registry=registry)
        def shout(new: Any, spec: Any, name: str, patch: Any, **_: Any) -> None:
            record("shout", name)
            message = f"Hello, {spec['name']}"
            patch.status["message"] = message.upper() if new else message

        @kopf.timer(GROUP, VERSION, PLURAL, interval=0.3, id="tick", registry=registry)
        def tick(status: Any, name: str, patch: Any, **_: Any) -> None:
            record("tick", name)
            patch.status["ticks"] = (status.get("ticks") or 0) + 1

        def watchman(name: str, namespace: str, stopped: Any, **_: Any) -> None:
            record("daemon", name)
            with client.ApiClient(client.Configuration(host=url)) as api:  # a daemon writes on its own
                client.CustomObjectsApi(api).patch_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, PLURAL, name, {"status": {"watchman": "on duty"}})
            while not stopped:  # until the object is deleted or the operator stops
                stopped.wait(0.1)

        if daemon:
            kopf.daemon(GROUP, VERSION, PLURAL, id="watchman", cancellation_polling=0.1, registry=registry)(watchman)

        @kopf.on.delete(GROUP, VERSION, PLURAL, id="delete", registry=registry)
        def delete(name: str, **_: Any) -> None:
            record("delete", name)

    def run(self, *args: str) -> KopfRunner:
        return KopfRunner(["run", "--verbose", *args], registry=self.registry, settings=kopf.OperatorSettings(),
                          timeout=30)


def until(check: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll `check` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.fixture
def custom(kube_client: Any) -> Any:
    from kubernetes import client

    return client.CustomObjectsApi(kube_client)


@pytest.fixture
def peering(custom: Any) -> Iterator[str]:
    """The cluster-wide peering object the operators meet in (kopf creates none)."""
    custom.create_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", {
        "apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": "default"}})
    yield "default"


def greeting(name: str, who: str) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Greeting", "metadata": {"name": name},
            "spec": {"name": who}}


def test_kopf_operator_handlers_timer_events_and_status(apiserver: RunningServer, kube_client: Any, custom: Any,
                                                        peering: str, caplog: pytest.LogCaptureFixture) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(kube_client)
    seen: list[tuple[str, str, str]] = []

    def get(name: str) -> Any:
        return custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name)

    with Operator(apiserver.url, "op", seen, daemon=True).run("-A", "--peering", peering) as runner:
        custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, greeting("hello", "world"))
        status = until(lambda: get("hello").get("status", {}).get("create") and get("hello")["status"],
                       "the create handler's result")
        assert status["message"] == "Hello, world" and status["create"] == {"greeted": "world"}
        assert FINALIZER in get("hello")["metadata"]["finalizers"]
        uid = get("hello")["metadata"]["uid"]
        [owner] = core.read_namespaced_pod("hello-greeter", NS).metadata.owner_references
        assert (owner.api_version, owner.kind, owner.name, owner.uid, owner.controller, owner.block_owner_deletion
                ) == (f"{GROUP}/{VERSION}", "Greeting", "hello", uid, True, True)

        def events() -> list[Any]:
            return list(core.list_namespaced_event(NS, field_selector="involvedObject.name=hello").items)

        [greeted] = until(lambda: [e for e in events() if e.reason == "Greeted"], "the operator's Event")
        assert (greeted.message, greeted.type, greeted.source.component) == ("greeted world", "Normal", "kopf")
        assert (greeted.involved_object.kind, greeted.involved_object.api_version, greeted.involved_object.uid) == (
            "Greeting", f"{GROUP}/{VERSION}", uid)
        until(lambda: any(e.reason == "Logging" and e.message == "Handler 'create' succeeded." for e in events()),
              f"kopf's Event of the handler's success: {[(e.reason, e.message) for e in events()]}")
        [seen_as] = [e for e in client.EventsV1Api(kube_client).list_namespaced_event(NS).items
                     if e.reason == "Greeted"]  # the same Event through events.k8s.io/v1
        assert (seen_as.note, seen_as.regarding.name, seen_as.regarding.uid) == ("greeted world", "hello", uid)
        until(lambda: (get("hello").get("status", {}).get("ticks") or 0) >= 2, "two ticks of the timer")
        until(lambda: get("hello")["status"].get("watchman") == "on duty", "the daemon's status")

        custom.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "hello", {"spec": {"shout": True}})
        until(lambda: get("hello")["status"]["message"] == "HELLO, WORLD", "the update handler's status")

        identities = until(lambda: (custom.get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", peering)
                                    .get("status")), "the operator's keep-alive in the peering")
        [identity] = identities.values()
        assert identity["priority"] == 0 and identity["lifetime"] == 5 and identity["lastseen"]

        custom.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "hello")

        def gone(read: Callable[[], Any]) -> bool:
            try:
                read()
            except ApiException as err:
                return err.status == 404
            return False

        until(lambda: gone(lambda: get("hello")), "the greeting deleted once the delete handler removed kopf's finalizer")
        until(lambda: gone(lambda: core.read_namespaced_pod("hello-greeter", NS)), "its Pod collected")
    assert runner.exception is None and runner.exit_code == 0, runner.output
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
                and "OS signals are ignored" not in r.getMessage()]  # no failed post, patch or watch
    # while its daemon exits, kopf may run a deletion cycle twice, and its delete handler with it
    assert list(dict.fromkeys(w for _, w, n in seen if w not in ("tick", "daemon"))) == ["create", "shout", "delete"]
    assert [w for _, w, n in seen].count("daemon") == 1


def test_kopf_peering_pauses_the_lower_priority_operator(apiserver: RunningServer, custom: Any, peering: str,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """Two operators meet in the peering: the lower-priority one pauses while the other runs, resumes when it left."""
    caplog.set_level(logging.INFO, logger="kopf")
    seen: list[tuple[str, str, str]] = []

    def peers() -> dict[str, Any]:
        return custom.get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", peering).get("status") or {}

    def logged(text: str) -> bool:
        return any(text in record.getMessage() for record in caplog.records)

    def created(name: str) -> list[str]:
        return [who for who, what, n in seen if what == "create" and n == name]

    low, high = Operator(apiserver.url, "low", seen), Operator(apiserver.url, "high", seen)
    with low.run("-A", "--peering", peering, "--priority", "10") as low_runner:
        until(lambda: len(peers()) == 1, "the first operator's keep-alive")
        custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, greeting("first", "a"))
        until(lambda: created("first"), "the first greeting handled")
        with high.run("-A", "--peering", peering, "--priority", "20") as high_runner:
            until(lambda: len(peers()) == 2, "both operators' keep-alives")
            until(lambda: logged("Pausing operations in favour of"), "the lower-priority operator paused")
            custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, greeting("second", "b"))
            until(lambda: created("second"), "the second greeting handled")
        assert high_runner.exception is None, high_runner.output
        until(lambda: logged("Resuming operations after the pause"), "the lower-priority operator resumed")
        assert len(peers()) == 1  # the operator that left took itself out of the peering
        custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, greeting("third", "c"))
        until(lambda: created("third"), "the third greeting handled")
    assert low_runner.exception is None, low_runner.output
    assert (created("first"), created("second"), created("third")) == (["low"], ["high"], ["low"])
