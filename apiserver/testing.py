"""Run a server in a background thread: the engine of the pytest plugin, usable from any test code."""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import uvloop
from aiohttp import web

from apiserver import secure_serving
from apiserver.app import create_app
from apiserver.config import Config
from apiserver.faults import FAULTS, Faults
from apiserver.kind_storage import KIND_STORAGE
from apiserver.kinds.base import Kind
from apiserver.filters import serving
from apiserver.kubeconfig import write_kubeconfig

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerFaults:
    """`apiserver.faults.Faults` of a server running in another thread: each call runs on the server's loop and
    returns (or raises) when done there. Safe from any thread but the server's own."""

    def __init__(self, server: RunningServer, timeout: float = 30.0) -> None:
        self._server = server
        self._timeout = timeout

    def _call(self, action: Callable[[Faults], T]) -> T:
        async def run() -> T:
            return action(self._server.app[FAULTS])

        return self._run(run)

    def _await(self, action: Callable[[Faults], Awaitable[T]]) -> T:
        async def run() -> T:
            return await action(self._server.app[FAULTS])

        return self._run(run)

    def _run(self, run: Callable[[], Coroutine[Any, Any, T]]) -> T:
        loop = self._server.loop
        if loop is None:
            raise RuntimeError("the server is not running")
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("called on the server's own loop: use app[apiserver.faults.FAULTS] there")
        return asyncio.run_coroutine_threadsafe(run(), loop).result(self._timeout)

    def close_watches(self, resource: str | None = None) -> int:
        """Close every open watch of `resource` (None: all); return how many."""
        return self._call(lambda faults: faults.close_watches(resource))

    def expire(self, resource: str | None = None) -> dict[str, int]:
        """Watches from a resourceVersion older than now get 410 Expired; returns resource → window start."""
        return self._call(lambda faults: faults.expire(resource))

    def compact(self) -> int:
        """Compact storage at its current revision; return it."""
        return self._await(lambda faults: faults.compact())

    def pause(self, resource: str | None, seconds: float) -> list[str]:
        """Stall `resource`'s cache (None: all) for `seconds` or until `resume`."""
        return self._call(lambda faults: faults.pause(resource, seconds))

    def resume(self, resource: str | None = None) -> int:
        """End a pause now; return how many held storage events were applied."""
        return self._call(lambda faults: faults.resume(resource))

    def drop_watch(self, watch_id: int | None = None, resource: str | None = None) -> int:
        """Abort watch `watch_id`'s connection, or the newest watch of `resource`; return its id."""
        return self._call(lambda faults: faults.drop_watch(watch_id, resource))

    def fail(self, verb: str | None = None, resource: str | None = None, code: int = 500, count: int = 1,
             retry_after: int = 1) -> dict[str, Any]:
        """Answer the next `count` requests with `verb` on `resource` (None: any) with 429, 500 or 503."""
        return self._call(lambda faults: faults.fail(verb, resource, code, count, retry_after).to_dict())

    def armed(self) -> dict[str, Any]:
        """Failures still armed and caches paused."""
        return self._call(lambda faults: faults.armed())

    def reset(self) -> None:
        """Disarm every failure, resume every cache."""
        self._call(lambda faults: faults.reset())


class RunningServer:
    """A server on 127.0.0.1 running in its own thread and event loop, with a kubeconfig for it, and `faults` to
    inject watch failures and API errors into it from the test's thread (see ServerFaults)."""

    def __init__(self, config: Config, kubeconfig: Path, kinds: Sequence[Kind] = ()) -> None:
        self.config = config
        self.kinds = tuple(kinds)
        self.serving = secure_serving.prepare(config)
        self.url = f"{'https' if self.serving.ssl_context else 'http'}://127.0.0.1:{config.port}"
        self.kubeconfig = kubeconfig
        self.loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"apiserver:{config.port}", daemon=True)
        self.faults = ServerFaults(self)

    @property
    def app(self) -> web.Application:
        assert self._runner is not None
        return self._runner.app

    def _run(self) -> None:
        uvloop.run(self._serve())

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        try:
            self._runner = serving.Runner(create_app(self.config, self.kinds), handler_cancellation=True,
                                          access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, self.config.bind_address, self.config.port,
                              ssl_context=self.serving.ssl_context).start()
        except BaseException as err:
            self._error = err
            self._ready.set()
            raise
        self._ready.set()
        await self._stopped.wait()
        await self._runner.cleanup()

    def start(self, timeout: float = 10.0) -> RunningServer:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the API server did not start")
        if self._error is not None:
            raise RuntimeError("the API server failed to start") from self._error
        return self

    def stop(self) -> None:
        if self.loop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(10)

    def call(self, action: Callable[[web.Application], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run `action(app)` on the server's loop and return its result (from any thread but the server's)."""
        if self.loop is None:
            raise RuntimeError("the server is not running")

        async def run() -> T:
            return await action(self.app)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def add_kind(self, kind: Kind) -> None:
        """Serve `kind` from now on (routing, discovery, OpenAPI, storage and watch), as a CustomResourceDefinition
        does; KindConflict if its path or plural is served already."""
        self.call(lambda app: app[KIND_STORAGE].serve(kind))

    def remove_kind(self, kind: Kind) -> None:
        """Stop serving `kind` (its stored objects stay in storage)."""
        self.call(lambda app: app[KIND_STORAGE].stop_serving(kind))

    def api_client(self) -> Any:
        """An official `kubernetes` client ApiClient for this server (needs the kubernetes package), with its CA and
        admin token when it generated them (`Config(secure=True)`)."""
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        if self.serving.ca_pem:
            configuration.ssl_ca_cert = str(secure_serving.cert_dir(self.config) / "ca.crt")
        if self.serving.token:
            configuration.api_key = {"authorization": self.serving.token}
            configuration.api_key_prefix = {"authorization": "Bearer"}
        return client.ApiClient(configuration)


@contextmanager
def run_server(config: Config | None = None, directory: Path | None = None, kinds: Sequence[Kind] = ()
               ) -> Iterator[RunningServer]:
    """Start a server on a free port with a fresh embedded store, serving the built-in kinds and `kinds` (each
    declared as the built-in ones are, `apiserver.kinds.base.Kind`); stop it on exit."""
    config = replace(config or Config(), bind_address="127.0.0.1", port=free_port(), kubeconfig="")
    with tempfile.TemporaryDirectory(prefix="slice-apiserver-") as tmp:
        base = directory or Path(tmp)
        if config.secure and not config.cert_dir:  # certificates and token of this server, not the user's state
            config = replace(config, cert_dir=str(base / "certs"))
        server = RunningServer(config, base / "kubeconfig", kinds)
        write_kubeconfig(server.kubeconfig, server.url, server.serving.ca_pem, server.serving.token)
        started = time.perf_counter()
        server.start()
        server.start_seconds = time.perf_counter() - started  # type: ignore[attr-defined]
        try:
            yield server
        finally:
            server.stop()
