"""A throwaway single-member etcd for tests and benchmarks: free loopback ports, a temporary data dir.

    with EtcdProcess() as etcd:                  # started and healthy
        storage = open_storage(etcd.storage_url("/registry"))
        etcd.pause(); etcd.resume()              # SIGSTOP / SIGCONT
        etcd.stop(); etcd.start()                # kill, then restart on the same ports and data

Auto-compaction is off (compact explicitly) and heartbeat/election are fast, so start takes ~0.1 s.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Self

DEFAULT_MAX_REQUEST_BYTES = 1_572_864


def etcd_binary() -> str | None:
    """The etcd executable: $ETCD or `etcd` on PATH; None when not installed."""
    candidate = os.environ.get("ETCD") or shutil.which("etcd")
    return candidate if candidate and os.access(candidate, os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EtcdProcess:
    """One etcd process on 127.0.0.1; ``stop``/``start`` keep ports and data, ``close`` removes the data."""

    def __init__(self, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, binary: str | None = None) -> None:
        found = binary or etcd_binary()
        if found is None:
            raise FileNotFoundError("etcd is not installed (apt-get install etcd-server, or set $ETCD)")
        self.binary = found
        self.max_request_bytes = max_request_bytes
        self.client_port, self.peer_port = _free_port(), _free_port()
        self.endpoint = f"127.0.0.1:{self.client_port}"
        self.client_url = f"http://{self.endpoint}"
        self.directory = Path(tempfile.mkdtemp(prefix="slice-etcd-"))
        self.data_dir = self.directory / "data"
        self.log_path = self.directory / "etcd.log"
        self._process: subprocess.Popen[bytes] | None = None

    def storage_url(self, prefix: str = "/registry") -> str:
        """The ``open_storage`` URL for this etcd with keys under ``prefix``."""
        return f"etcd://{self.endpoint}{prefix}"

    def start(self, timeout: float = 10.0) -> Self:
        """Start (or restart) etcd and wait until /health says true."""
        if self._process is not None:
            raise RuntimeError("etcd is already running")
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        peer = f"http://127.0.0.1:{self.peer_port}"
        command = [
            self.binary, "--name", "test", "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", f"test={peer}",
            "--heartbeat-interval", "10", "--election-timeout", "100",
            "--max-request-bytes", str(self.max_request_bytes), "--log-level", "warn",
        ]
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"etcd did not become healthy; see {self.log_path}:\n{self.log_path.read_text()}")
            time.sleep(0.01)
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.client_url + "/health", timeout=1) as response:
                return b'"health":"true"' in response.read()
        except OSError:
            return False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def pause(self) -> None:
        """SIGSTOP: connections stay open, nothing answers."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Kill the process (SIGKILL: acknowledged writes must survive it), keeping ports and data."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
