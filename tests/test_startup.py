"""A server started before its etcd answers waits for it, as kube-apiserver does: it logs each failed attempt,
serves /readyz failing meanwhile, and starts once etcd is up (a real etcd, started late; a real server process)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from apiserver.testing import free_port
from storage.etcd_process import EtcdProcess, etcd_binary

pytestmark = pytest.mark.skipif(etcd_binary() is None, reason="etcd is not installed: apt-get install etcd-server")


def get(url: str) -> tuple[int, str]:
    """Status and body, or (0, why) while nothing listens."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError as err:
        return 0, str(err)


def poll(url: str, status: int, server: subprocess.Popen[bytes], timeout: float = 60) -> str:
    """The body once `url` answers `status`; fails when the server exits or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (answer := get(url))[0] != status:
        assert server.poll() is None, f"the server exited ({server.returncode})"
        assert time.monotonic() < deadline, f"{url} still answers {answer}"
        time.sleep(0.05)
    return answer[1]


def test_server_waits_for_etcd_started_after_it(tmp_path: Path) -> None:
    etcd = EtcdProcess()  # ports chosen, not started yet
    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "apiserver", "--port", str(port), "--kubeconfig", "",
                                   "--storage", "etcd", "--etcd-servers", etcd.client_url],
                                  stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        body = poll(f"{base}/readyz", 500, server)
        assert "[+]ping ok" in body and "[-]etcd failed" in body and body.endswith("readyz check failed\n")
        assert get(f"{base}/api/v1/namespaces/default")[0] == 503
        etcd.start()
        assert poll(f"{base}/readyz", 200, server) == "ok"
        status, body = get(f"{base}/api/v1/namespaces/default")
        assert status == 200 and '"name":"default"' in body.replace(" ", "")
    finally:
        server.terminate()
        server.wait(10)
        etcd.close()
    text = log.read_text()
    assert f"waiting for storage etcd://{etcd.endpoint}/registry" in text and "/readyz fails meanwhile" in text
    assert "answers; starting" in text
