"""The kubeconfig that points kubectl and client libraries at this server: with the CA to trust and the token to
send when the server has them (`--secure`)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import yaml

CONTEXT = "slice-apiserver"
ADMIN = "admin"


def kubeconfig(server: str, namespace: str = "default", ca_pem: bytes | None = None,
               token: str = "") -> dict[str, object]:
    cluster: dict[str, object] = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    user_name = ADMIN if token else CONTEXT
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
        "users": [{"name": user_name, "user": {"token": token} if token else {}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user_name, "namespace": namespace}}],
        "current-context": CONTEXT,
        "preferences": {},
    }


def default_path() -> Path:
    return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "slice-apiserver" / "kubeconfig"


def write_kubeconfig(path: str | Path, server: str, ca_pem: bytes | None = None, token: str = "") -> Path:
    """Write (replace) a kubeconfig for `server` at `path`, creating its directory; readable by its owner only
    when it carries a token."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(kubeconfig(server, ca_pem=ca_pem, token=token), sort_keys=False)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if token else 0o644)
    with os.fdopen(fd, "w") as out:
        if token:
            os.fchmod(out.fileno(), 0o600)
        out.write(text)
    return target
