"""Run a server in a background thread: the engine of the pytest plugin, usable from any test code."""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvloop
from aiohttp import web

from apiserver.app import create_app
from apiserver.config import Config
from apiserver.kubeconfig import write_kubeconfig


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RunningServer:
    """A server on 127.0.0.1 running in its own thread and event loop, with a kubeconfig for it."""

    def __init__(self, config: Config, kubeconfig: Path) -> None:
        self.config = config
        self.url = f"http://127.0.0.1:{config.port}"
        self.kubeconfig = kubeconfig
        self.loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"apiserver:{config.port}", daemon=True)

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
            self._runner = web.AppRunner(create_app(self.config), handler_cancellation=True, access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, self.config.bind_address, self.config.port).start()
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

    def api_client(self) -> Any:
        """An official `kubernetes` client ApiClient for this server (needs the kubernetes package)."""
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        return client.ApiClient(configuration)


@contextmanager
def run_server(config: Config | None = None, directory: Path | None = None) -> Iterator[RunningServer]:
    """Start a server on a free port with a fresh embedded store; stop it on exit."""
    config = replace(config or Config(), bind_address="127.0.0.1", port=free_port(), kubeconfig="")
    with tempfile.TemporaryDirectory(prefix="slice-apiserver-") as tmp:
        base = directory or Path(tmp)
        kubeconfig = write_kubeconfig(base / "kubeconfig", f"http://127.0.0.1:{config.port}")
        server = RunningServer(config, kubeconfig)
        started = time.perf_counter()
        server.start()
        server.start_seconds = time.perf_counter() - started  # type: ignore[attr-defined]
        try:
            yield server
        finally:
            server.stop()
