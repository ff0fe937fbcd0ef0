"""Aggregated-API mode (`--aggregated`): the server runs behind kube-apiserver's aggregator (kube-aggregator), which
proxies the requests for an API group of ours to it, its users authenticated by the aggregator and named in request
headers (apiserver/authentication/requestheader.py), their requests authorized by RBAC here or by the kube-apiserver
(apiserver/authorization/delegated.py). `slice-apiserver apiservice` prints what registers the server: an
apiregistration.k8s.io/v1 APIService for the group, and the Service and Endpoints it names (as sample-apiserver
deploys: a Service without selector, its Endpoints the server's address, reached by the aggregator directly when
it runs with `--enable-aggregator-routing`)."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Sequence
from typing import Any

from apiserver.config import Config
from apiserver.kinds.base import Kind

DEFAULT_GROUP = "discovery.slice-apiserver.example"
VERSION = "v1"
GROUP_PRIORITY_MINIMUM = 1000  # sample-apiserver's: after the built-in groups
VERSION_PRIORITY = 15
SERVICE_PORT = 443
PORT_NAME = "https"
RENAMED_GROUPS = ("", "discovery.k8s.io")  # ours; rbac.authorization.k8s.io stays (the aggregator serves its own)


def api_group(config: Config) -> str:
    return config.api_group or DEFAULT_GROUP


def served_kinds(config: Config, kinds: Sequence[Kind]) -> tuple[Kind, ...]:
    """The kinds the server serves: in aggregated mode ours (core and discovery.k8s.io) in `--api-group`'s v1,
    the RBAC kinds (which serve the authorizer) where they are."""
    if not config.aggregated:
        return tuple(kinds)
    group = api_group(config)
    return tuple(dataclasses.replace(kind, group=group, version=VERSION) if kind.group in RENAMED_GROUPS else kind
                 for kind in kinds)


def manifests(config: Config, address: str, ca_pem: bytes | None) -> list[dict[str, Any]]:
    """The APIService, Service and Endpoints that register the server at `address` (and its --port) with the
    aggregator; the APIService trusts `ca_pem` (the CA of the serving certificate), else skips verification."""
    group = api_group(config)
    meta = {"name": config.service_name, "namespace": config.service_namespace}
    spec: dict[str, Any] = {"group": group, "version": VERSION, "groupPriorityMinimum": GROUP_PRIORITY_MINIMUM,
                            "versionPriority": VERSION_PRIORITY,
                            "service": {**meta, "port": SERVICE_PORT}}
    if ca_pem:
        spec["caBundle"] = base64.b64encode(ca_pem).decode()
    else:
        spec["insecureSkipTLSVerify"] = True
    apiservice = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                  "metadata": {"name": f"{VERSION}.{group}"}, "spec": spec}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": meta,
               "spec": {"ports": [{"name": PORT_NAME, "port": SERVICE_PORT, "protocol": "TCP",
                                   "targetPort": config.port}]}}
    endpoints = {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta,
                 "subsets": [{"addresses": [{"ip": address}],
                              "ports": [{"name": PORT_NAME, "port": config.port, "protocol": "TCP"}]}]}
    return [apiservice, service, endpoints]
