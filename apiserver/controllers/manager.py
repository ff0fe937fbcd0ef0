"""Run the controllers against a server URL: shared informers, start/stop, synced and idle, call counts.

    manager = ControllerManager("http://127.0.0.1:8080", ("endpointslice", "endpoints"))
    await manager.start()            # returns once every informer has listed
    ...                              # write Services and Pods
    await manager.wait_idle()        # every change seen and synced, own writes seen back
    manager.counts()                 # {"endpointslice": {"create": 3, "update": 1, ...}, "endpoints": {...}}
    await manager.stop()

Like kube-controller-manager's shared informer factory, the controllers share one informer per
resource (Services and Pods for both, EndpointSlices or Endpoints for each, Nodes for the zones of slices).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import aiohttp
from aiohttp import web

from apiserver.config import Config
from apiserver.controllers.client import ApiClient
from apiserver.controllers.controller import Controller
from apiserver.controllers.endpoints import EndpointsController
from apiserver.controllers.endpointslice import EndpointSliceController
from apiserver.controllers.informer import Informer, Notifier

CONTROLLERS = ("endpointslice", "endpoints")
PATHS = {"services": "/api/v1/services", "pods": "/api/v1/pods", "endpoints": "/api/v1/endpoints",
         "endpointslices": "/apis/discovery.k8s.io/v1/endpointslices", "nodes": "/api/v1/nodes"}


class ControllerManager:
    """The chosen controllers as API clients of `server`, in the running event loop."""

    def __init__(self, server: str, controllers: Sequence[str] = CONTROLLERS, max_endpoints_per_slice: int = 100,
                 truncate_endpoints: bool = True, workers: int = 5, max_retries: int = 15) -> None:
        unknown = set(controllers) - set(CONTROLLERS)
        if unknown or not controllers:
            raise ValueError(f"controllers must be among {', '.join(CONTROLLERS)}, not {', '.join(controllers)}")
        self.server = server
        self.names = tuple(dict.fromkeys(controllers))
        self.max_endpoints_per_slice = max_endpoints_per_slice
        self.truncate_endpoints = truncate_endpoints
        self.workers = workers
        self.max_retries = max_retries
        self.informers: dict[str, Informer] = {}
        self.controllers: dict[str, Controller] = {}
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._notifier: Notifier | None = None

    async def start(self, timeout: float | None = 60.0) -> None:
        """Start informers and controllers; return once every informer has listed (TimeoutError after `timeout`
        seconds; None waits for as long as the server takes to answer)."""
        self._notifier = notifier = Notifier()
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                              timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        client = ApiClient(self.server, self._session)
        resources = ["services", "pods"] + [
            "endpointslices" if name == "endpointslice" else "endpoints" for name in self.names]
        resources += ["nodes"] if "endpointslice" in self.names else []  # the zones of endpoints
        self.informers = {r: Informer(client, PATHS[r], notifier) for r in resources}
        services, pods = self.informers["services"], self.informers["pods"]
        for name in self.names:
            if name == "endpointslice":
                self.controllers[name] = EndpointSliceController(
                    client, services, pods, self.informers["endpointslices"], notifier, self.max_endpoints_per_slice,
                    self.workers, self.max_retries, self.informers["nodes"])
            else:
                self.controllers[name] = EndpointsController(
                    client, services, pods, self.informers["endpoints"], notifier, self.truncate_endpoints,
                    self.workers, self.max_retries)
        self._tasks = [asyncio.create_task(i.run(), name=f"informer {r}") for r, i in self.informers.items()]
        try:
            await asyncio.wait_for(asyncio.gather(*(i.synced.wait() for i in self.informers.values())), timeout)
        except BaseException:
            await self.stop()
            raise
        self._tasks += [asyncio.create_task(c.run(), name=f"controller {n}") for n, c in self.controllers.items()]

    async def stop(self) -> None:
        """Cancel every task and close the connections."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def synced(self) -> bool:
        """Every informer has listed at least once."""
        return bool(self.informers) and all(i.synced.is_set() for i in self.informers.values())

    def busy(self) -> bool:
        return any(c.busy() for c in self.controllers.values())

    async def wait_idle(self, resource_version: int = 0, timeout: float = 60.0, settle: float = 0.05) -> None:
        """Wait until the controllers have caught up (raises TimeoutError after `timeout` seconds).

        Caught up: some informer has seen `resource_version` (pass the resourceVersion your last write
        returned, so the wait covers the event it causes), no sync is queued, running or waiting to
        retry, the informers have seen the controllers' own writes back, and nothing has happened for
        `settle` seconds since.
        """
        assert self._notifier is not None, "start() first"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            wake = self._notifier.next
            seen = max((i.last_rv for i in self.informers.values()), default=0)
            if seen >= resource_version and not self.busy():
                await asyncio.wait([wake], timeout=settle)
                if not wake.done():
                    return
                continue
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"controllers not idle after {timeout}s (seen rv {seen}, busy {self.busy()})")
            await asyncio.wait([wake], timeout=left)

    def counts(self) -> dict[str, dict[str, Any]]:
        """Mutating calls per controller: create/update/delete/patch, total, failed, failures by verb, last_error."""
        return {name: c.counts.snapshot() for name, c in self.controllers.items()}

    def reset_counts(self) -> None:
        for controller in self.controllers.values():
            controller.counts.reset()


def parse_controllers(value: str) -> tuple[str, ...]:
    """"endpointslice,endpoints" → ("endpointslice", "endpoints"); "" → ()."""
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = set(names) - set(CONTROLLERS)
    if unknown:
        raise ValueError(f"unknown controllers {', '.join(sorted(unknown))} (known: {', '.join(CONTROLLERS)})")
    return names


def in_process(config: Config) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context for the server's app: run `config.controllers` against the server once it listens."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        from apiserver.secure_serving import server_url  # imported here: it imports the config, as this module

        manager = ControllerManager(server_url(config), config.controllers, config.max_endpoints_per_slice,
                                    config.endpoints_truncation)
        starting = asyncio.create_task(manager.start(timeout=None))  # informers retry until the site is up
        yield
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        await manager.stop()

    return context
