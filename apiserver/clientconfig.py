"""Reaching another kube-apiserver from a kubeconfig (its current context): the server URL, the TLS to trust it
with and the credential to present, as client-go's clientcmd reads them (tokens, client certificates, CAs as
files or inline data, `insecure-skip-tls-verify`)."""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]


class ClientConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ClientConfig:
    server: str
    ssl_context: ssl.SSLContext | None  # None: plain HTTP
    headers: dict[str, str] = field(default_factory=dict)


def _named(config: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    for entry in config.get(section) or ():
        if entry.get("name") == name:
            inner: dict[str, Any] = entry.get(section[:-1]) or {}
            return inner
    raise ClientConfigError(f"kubeconfig has no {section[:-1]} {name!r}")


def _pem(entry: dict[str, Any], key: str, base: Path) -> bytes | None:
    """The PEM of `key` (a file path relative to the kubeconfig) or `key-data` (base64)."""
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"])
    if entry.get(key):
        return Path(base, str(entry[key])).read_bytes()
    return None


def load_client_config(path: str | Path) -> ClientConfig:
    """The client config of the kubeconfig at `path`; raises ClientConfigError or OSError."""
    path = Path(path)
    config = yaml.safe_load(path.read_text()) or {}
    context = _named(config, "contexts", config.get("current-context", ""))
    cluster = _named(config, "clusters", context.get("cluster", ""))
    user = _named(config, "users", context.get("user", "")) if context.get("user") else {}
    server = str(cluster.get("server", "")).rstrip("/")
    if not server:
        raise ClientConfigError(f"{path}: the cluster has no server")
    headers = {"Authorization": f"Bearer {user['token']}"} if user.get("token") else {}
    if not server.startswith("https://"):
        return ClientConfig(server, None, headers)
    ca = _pem(cluster, "certificate-authority", path.parent)
    context_tls = ssl.create_default_context(cadata=ca.decode() if ca else None)
    if cluster.get("insecure-skip-tls-verify"):
        context_tls.check_hostname = False
        context_tls.verify_mode = ssl.CERT_NONE
    cert, key = _pem(user, "client-certificate", path.parent), _pem(user, "client-key", path.parent)
    if cert and key:
        with tempfile.TemporaryDirectory() as directory:  # ssl loads a certificate chain from files only
            cert_file, key_file = Path(directory, "client.crt"), Path(directory, "client.key")
            cert_file.write_bytes(cert)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(key)
            context_tls.load_cert_chain(cert_file, key_file)
    return ClientConfig(server, context_tls, headers)
