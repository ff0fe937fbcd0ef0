"""The part every controller shares: a queue of Service keys, workers, retries, and own-write expectations.

A sync must not act on a cache that has not yet seen the controller's own previous writes (it would
update with a stale resourceVersion or create a duplicate), so each write is recorded as an
expectation: the informer has observed it once its resourceVersion reaches the write's (create,
update) or the key is gone from its cache (delete). A Service's sync waits, bounded, for its
expectations, as upstream's EndpointSliceTracker and staleEndpointsTracker make it retry.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod

from apiserver.controllers.client import ApiClient, ApiError, CallCounts, Obj
from apiserver.controllers.informer import Informer, Notifier, WorkQueue, object_key, resource_version

log = logging.getLogger(__name__)

EXPECTATION_WAIT = 5.0  # seconds a sync waits for the informer to see the controller's own writes
BACKOFF_BASE, BACKOFF_MAX = 0.005, 10.0  # per-key retry backoff: 5 ms doubling, as client-go's default limiter


class Controller(ABC):
    """Syncs Service keys ("namespace/name") taken from a WorkQueue by `workers` concurrent tasks."""

    name: str

    def __init__(self, client: ApiClient, services: Informer, pods: Informer, notifier: Notifier,
                 workers: int = 5, max_retries: int = 15) -> None:
        self.client = client
        self.services = services
        self.pods = pods
        self.notifier = notifier
        self.workers = workers
        self.max_retries = max_retries
        self.counts = CallCounts()
        self.queue = WorkQueue(notifier)
        self.syncs = 0
        self._retries: dict[str, int] = {}
        self._expected: dict[str, dict[str, tuple[Informer, int]]] = {}  # service key → object key → (informer, rv)
        services.add_index(SELECTOR_INDEX, selector_terms)
        pods.add_index(LABEL_INDEX, label_terms)
        services.handlers.append(self._on_service)
        pods.handlers.append(self._on_pod)

    @abstractmethod
    async def sync(self, key: str) -> None:
        """Bring the objects of Service `key` in line with the Service and its Pods."""

    async def run(self) -> None:
        """Queue every known Service, then sync keys until cancelled."""
        for key in self.services.cache:
            self.queue.add(key)
        tasks = [asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}") for i in range(self.workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            self.queue.close()

    def busy(self) -> bool:
        """Work queued, running or waiting for a retry, or own writes the informers have not seen yet."""
        return self.queue.busy() or any(not self._observed(key) for key in list(self._expected))

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self._wait_observed(key)
                await self.sync(key)
                self._retries.pop(key, None)
            except ApiError as err:
                self._retry(key, err)
            except Exception as err:  # a bug in one sync must not stop the controller
                log.exception("%s: sync of %s failed", self.name, key)
                self._retry(key, err)
            finally:
                self.syncs += 1
                self.queue.done(key)

    def _retry(self, key: str, err: Exception) -> None:
        attempts = self._retries.get(key, 0) + 1
        if attempts > self.max_retries:
            log.warning("%s: dropping %s after %d retries: %s", self.name, key, self.max_retries, err)
            self._retries.pop(key, None)
            return
        self._retries[key] = attempts
        delay = min(BACKOFF_BASE * 2 ** (attempts - 1), BACKOFF_MAX)
        log.info("%s: sync of %s failed (%s); retry %d in %.3fs", self.name, key, err, attempts, delay)
        self.queue.add_after(key, delay)

    def expect(self, service_key: str, informer: Informer, written: Obj | None, deleted_key: str = "") -> None:
        """Record an own write: `written` as the server returned it, or the key of a deleted object."""
        expected = self._expected.setdefault(service_key, {})
        if written is not None:
            expected[object_key(written)] = (informer, resource_version(written))
        else:
            expected[deleted_key] = (informer, -1)

    def _observed(self, service_key: str) -> bool:
        expected = self._expected.get(service_key, {})
        for key, (informer, rv) in list(expected.items()):
            seen = key not in informer.cache if rv < 0 else informer.last_rv >= rv
            if not seen:
                return False
            del expected[key]
        self._expected.pop(service_key, None)
        return True

    async def _wait_observed(self, service_key: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + EXPECTATION_WAIT
        while True:
            wake = self.notifier.next
            if self._observed(service_key):
                return
            left = deadline - loop.time()
            if left <= 0:
                log.warning("%s: informer has not seen own writes for %s; syncing anyway", self.name, service_key)
                self._expected.pop(service_key, None)
                return
            await asyncio.wait([wake], timeout=left)

    def _on_service(self, old: Obj | None, new: Obj | None) -> None:
        self.queue.add(object_key(new or old))  # type: ignore[arg-type]

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        """Queue the Services whose selector matched the Pod before or matches it now: only those selecting
        on one of its labels are looked at."""
        labels = [(p["metadata"].get("labels") or {}) for p in (old, new) if p is not None]
        candidates: dict[str, Obj] = {}
        for term in {t for p in (old, new) if p is not None for t in label_terms(p)}:
            candidates.update(self.services.by_index(SELECTOR_INDEX, term))
        for key in sorted(candidates):
            selector = candidates[key]["spec"]["selector"]
            if any(matches(selector, each) for each in labels):
                self.queue.add(key)

    def pods_for(self, service: Obj) -> list[Obj]:
        """The Pods in the Service's namespace its selector matches, by name: those carrying the selector's
        rarest label, filtered (an empty selector: every Pod of the namespace)."""
        selector = service["spec"]["selector"]
        namespace = service["metadata"]["namespace"]
        if not selector:
            pods = self.pods.in_namespace(namespace)
            return [pods[name] for name in sorted(pods)]
        candidates = min((self.pods.by_index(LABEL_INDEX, (namespace, k, v)) for k, v in selector.items()), key=len)
        return [candidates[key] for key in sorted(candidates)
                if matches(selector, candidates[key]["metadata"].get("labels") or {})]


SELECTOR_INDEX, LABEL_INDEX = "selector", "labels"


def selector_terms(service: Obj) -> list[tuple[str, str, str]]:
    """A Service's (namespace, label, value) selector terms: the index that finds the Services a Pod may match."""
    namespace = service["metadata"].get("namespace", "")
    return [(namespace, k, v) for k, v in (service.get("spec", {}).get("selector") or {}).items()]


def label_terms(pod: Obj) -> list[tuple[str, str, str]]:
    """A Pod's (namespace, label, value) terms: the index that finds the Pods a selector matches."""
    namespace = pod["metadata"].get("namespace", "")
    return [(namespace, k, v) for k, v in (pod["metadata"].get("labels") or {}).items()]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def is_pod_ready(pod: Obj) -> bool:
    conditions = pod.get("status", {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def should_pod_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """upstream ShouldPodBeInEndpoints: not terminal, has an IP, not terminating unless asked."""
    status = pod.get("status", {})
    if status.get("phase") in ("Succeeded", "Failed"):
        return False
    if not status.get("podIP") and not status.get("podIPs"):
        return False
    return include_terminating or not pod["metadata"].get("deletionTimestamp")


def pod_ips(pod: Obj) -> list[str]:
    status = pod.get("status", {})
    return [p["ip"] for p in status.get("podIPs") or () if p.get("ip")] or ([status["podIP"]] if status.get("podIP")
                                                                           else [])


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """upstream FindPort: a numeric targetPort as is; a named one looked up in the containers' ports."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    protocol = service_port.get("protocol", "TCP")
    for container in pod.get("spec", {}).get("containers") or ():
        for port in container.get("ports") or ():
            if port.get("name") == target and port.get("protocol", "TCP") == protocol:
                return int(port["containerPort"])
    return None


def should_set_hostname(pod: Obj, service: Obj) -> bool:
    spec = pod.get("spec", {})
    return bool(spec.get("hostname")) and spec.get("subdomain") == service["metadata"]["name"] \
        and pod["metadata"].get("namespace") == service["metadata"].get("namespace")


def target_ref(pod: Obj) -> Obj:
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": meta.get("namespace", ""), "name": meta["name"], "uid": meta.get("uid", "")}


def is_service_ip_set(service: Obj) -> bool:
    cluster_ip = service.get("spec", {}).get("clusterIP", "")
    return cluster_ip not in ("", "None")
