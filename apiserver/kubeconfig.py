"""The kubeconfig that points kubectl and client libraries at this server."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

CONTEXT = "slice-apiserver"


def kubeconfig(server: str, namespace: str = "default") -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server}}],
        "users": [{"name": CONTEXT, "user": {}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}],
        "current-context": CONTEXT,
        "preferences": {},
    }


def default_path() -> Path:
    return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "slice-apiserver" / "kubeconfig"


def write_kubeconfig(path: str | Path, server: str) -> Path:
    """Write (replace) a kubeconfig for `server` at `path`, creating its directory."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(kubeconfig(server), sort_keys=False))
    return target
