"""Controllers of kube-controller-manager that the API's own semantics depend on, run in-process over the registries:
the garbage collector (ownerReferences cascading) and the namespace controller (a deleted namespace emptied and
removed). Both are on by default; `Config(garbage_collector=False, namespace_controller=False)` gives envtest's
(a kube-apiserver alone's) behaviour: dependents stay, namespaces stay Terminating."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from apiserver.kind_storage import KIND_STORAGE
from apiserver.lifecycle.garbagecollector import GarbageCollector
from apiserver.lifecycle.namespace import NamespaceController
from apiserver.state import CONFIG, REGISTRIES

GARBAGE_COLLECTOR: web.AppKey[GarbageCollector] = web.AppKey("garbage_collector")
NAMESPACE_CONTROLLER: web.AppKey[NamespaceController] = web.AppKey("namespace_controller")


async def lifecycle_context(app: web.Application) -> AsyncIterator[None]:
    """Start the configured controllers once the registries' caches are listed; stop them on shutdown."""
    config, registries = app[CONFIG], app[REGISTRIES]
    running: list[GarbageCollector | NamespaceController] = []
    if config.namespace_controller:
        app[NAMESPACE_CONTROLLER] = namespaces = NamespaceController(registries)
        running.append(namespaces)
    if config.garbage_collector:
        app[GARBAGE_COLLECTOR] = collector = GarbageCollector(registries)
        running.append(collector)
    for controller in running:
        controller.start()
        app[KIND_STORAGE].on_serve.append(controller.attach)  # kinds served later (custom resources)
    yield
    for controller in running:
        await controller.stop()


__all__ = ["GarbageCollector", "NamespaceController", "lifecycle_context"]
