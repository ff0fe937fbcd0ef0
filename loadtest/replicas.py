"""API server replicas as local processes (`python -m apiserver` on free loopback ports), for tests and benchmarks.

    with start_replicas(2, ["--storage", "etcd", "--etcd-servers", etcd.client_url]) as replicas:
        replicas[0].url, replicas[1].url                 # both ready (/readyz ok)

Each replica logs to its own file in a temporary directory; all are stopped (SIGTERM, then SIGKILL) on exit.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from apiserver.testing import free_port


@dataclass
class Replica:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@contextmanager
def start_replicas(count: int, args: Sequence[str] = (), timeout: float = 20.0) -> Iterator[list[Replica]]:
    """Start `count` servers with the extra command-line `args` and wait until every one is ready."""
    with tempfile.TemporaryDirectory(prefix="slice-replicas-") as tmp, ExitStack() as stack:
        replicas = []
        for i in range(count):
            port = free_port()
            log_path = Path(tmp) / f"apiserver-{i}.log"
            with open(log_path, "wb") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "apiserver", "--port", str(port), "--kubeconfig", "", *args],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            replica = Replica(f"http://127.0.0.1:{port}", process, log_path)
            stack.callback(replica.stop)
            replicas.append(replica)
        deadline = time.monotonic() + timeout
        for replica in replicas:
            while not replica.ready():
                if replica.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{replica.url} did not become ready:\n{replica.log_path.read_text()}")
                time.sleep(0.02)
        yield replicas
