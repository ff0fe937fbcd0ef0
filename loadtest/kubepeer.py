"""kube-apiserver beside our server in one benchmark run: one etcd for the run, each server under its own prefix.

    with run_etcd() as etcd:                                  # etcd 3.5.16 (kube-apiserver's) once built
        kube = start_kube(etcd, "/kube-1")                    # a ready conformance.kube_apiserver.KubeAPIServer
        ours = ["python", "-m", "apiserver", *ours_on_etcd(etcd, "/ours-1")]
        ratio(ours_value, kube_value)

kube-apiserver serves TLS only and wants its bearer token on every request: clients take `client_of(kube)`
(headers, TLS context). Its admin token is in `system:masters`, so API Priority and Fairness puts every request of
the benchmark in the exempt priority level (no `--max-requests-inflight` queueing); watches are long-running
requests, outside those limits anyway.
"""

from __future__ import annotations

import ssl

from conformance.kube_apiserver import BUILD_SCRIPT, KubeAPIServer, kube_apiserver_binary, kube_etcd_binary
from storage.etcd_process import EtcdProcess

KUBE = "kube-apiserver"
OURS_ETCD = "ours-etcd"  # our server on the run's etcd, the peer of kube-apiserver


def missing() -> str | None:
    """Why kube-apiserver cannot run here, or None."""
    if kube_apiserver_binary() is None or kube_etcd_binary() is None:
        return f"kube-apiserver is not built: run {BUILD_SCRIPT} (or set $KUBE_APISERVER and $KUBE_ETCD)"
    return None


def run_etcd() -> EtcdProcess:
    """The run's etcd (a context manager): kube-apiserver's release once built (it refuses Debian's 3.4), else $ETCD."""
    return EtcdProcess(binary=kube_etcd_binary())


def ours_on_etcd(etcd: EtcdProcess, prefix: str) -> list[str]:
    """Flags for `python -m apiserver` on `etcd` under `prefix`, compaction off during the run."""
    return ["--storage", "etcd", "--etcd-servers", etcd.client_url, "--etcd-prefix", prefix,
            "--etcd-compaction-interval", "0"]


def start_kube(etcd: EtcdProcess, prefix: str) -> KubeAPIServer:
    """kube-apiserver on `etcd` under `prefix`, ready (`ready_seconds` set); `close()` it."""
    kube = KubeAPIServer(etcd=etcd, etcd_prefix=prefix)
    try:
        return kube.start()
    except BaseException:
        kube.close()
        raise


def client_of(kube: KubeAPIServer | None) -> tuple[dict[str, str], ssl.SSLContext | bool]:
    """Request headers and the aiohttp `ssl` argument for a server: kube-apiserver's token and TLS, or none."""
    return (kube.headers, kube.ssl_context()) if kube is not None else ({}, False)


def ratio(ours: float | None, kube: float | None) -> float | None:
    return ours / kube if ours is not None and kube else None
