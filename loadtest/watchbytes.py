"""Bytes etcd sends per write: what the server's storage watches cost on the wire.

    python -m loadtest.watchbytes [--writes 200] [--endpoints 100]

Starts a fresh etcd and one `python -m apiserver` on it, then PUTs one `--endpoints`-endpoint EndpointSlice
`--writes` times through the API, one at a time, and reads etcd's own counters before and after:
`etcd_network_client_grpc_sent_bytes_total` (every byte etcd sent to its gRPC clients: a read of the current
object when the update does not start from the watch cache's copy, its transaction's answer, and every watch stream's events) and the number of watchers
and watch streams. Prints bytes per write and the same in units of the stored value's size (in the server's
default storage media type on etcd, protobuf).
"""

from __future__ import annotations

import argparse
import json
import re
import urllib.request

from apiserver.codec import encode_protobuf
from loadtest.replicas import start_replicas
from loadtest.slices import endpoint_slice
from storage.etcd_process import EtcdProcess

BASE = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"


def etcd_metrics(etcd: EtcdProcess) -> dict[str, float]:
    with urllib.request.urlopen(etcd.client_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    names = ("etcd_network_client_grpc_sent_bytes_total", "etcd_debugging_mvcc_watcher_total",
             "etcd_debugging_mvcc_watch_stream_total")
    return {name: float(re.search(rf"^{name} (\S+)$", text, re.MULTILINE).group(1))  # type: ignore[union-attr]
            for name in names}


def send(url: str, method: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        reply: dict[str, object] = json.loads(response.read())
        return reply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--endpoints", type=int, default=100)
    args = parser.parse_args()
    with EtcdProcess() as etcd, start_replicas(1, ["--storage", "etcd", "--etcd-servers", etcd.client_url,
                                                   "--etcd-compaction-interval", "0"]) as replicas:
        url = replicas[0].url + BASE
        body = endpoint_slice("bench", args.endpoints)
        created = send(url, "POST", body)
        value_size = len(encode_protobuf(created))
        rv = created["metadata"]["resourceVersion"]  # type: ignore[index]
        before = etcd_metrics(etcd)
        for i in range(args.writes):
            body["metadata"]["labels"]["generation"] = str(i)  # type: ignore[index]
            body["metadata"]["resourceVersion"] = rv  # type: ignore[index]
            rv = send(f"{url}/bench", "PUT", body)["metadata"]["resourceVersion"]  # type: ignore[index]
        after = etcd_metrics(etcd)
    per_write = (after["etcd_network_client_grpc_sent_bytes_total"]
                 - before["etcd_network_client_grpc_sent_bytes_total"]) / args.writes
    print(f"etcd watchers {after['etcd_debugging_mvcc_watcher_total']:.0f}, "
          f"watch streams {after['etcd_debugging_mvcc_watch_stream_total']:.0f}")
    print(f"stored value ~{value_size} bytes; etcd sent {per_write:.0f} bytes per write "
          f"({per_write / value_size:.1f} values)")


if __name__ == "__main__":
    main()
