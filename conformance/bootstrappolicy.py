"""Write apiserver/rbac/bootstrap.json: the bootstrap ClusterRoles and ClusterRoleBindings a user expects, read
from a real kube-apiserver (which creates them at start), kept as upstream's policy gives them.

    python -m conformance.bootstrappolicy
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

from conformance.kube_apiserver import KubeAPIServer

OUT = Path(__file__).resolve().parents[1] / "apiserver" / "rbac" / "bootstrap.json"
ROLES = ("cluster-admin", "admin", "edit", "view", "system:aggregate-to-admin", "system:aggregate-to-edit",
         "system:aggregate-to-view", "system:basic-user", "system:discovery", "system:public-info-viewer")
BINDINGS = ("cluster-admin", "system:basic-user", "system:discovery", "system:public-info-viewer")
KEPT = ("name", "labels", "annotations")


def fetch(server: KubeAPIServer, resource: str, name: str) -> dict[str, object]:
    path = f"/apis/rbac.authorization.k8s.io/v1/{resource}/{name}"
    with urllib.request.urlopen(server.request(path), context=server.ssl_context()) as reply:
        obj = json.load(reply)
    obj["metadata"] = {k: v for k, v in obj["metadata"].items() if k in KEPT}
    return dict(obj)


def main() -> int:
    with KubeAPIServer(extra_args=("--authorization-mode", "RBAC")) as server:
        policy = {"clusterRoles": [fetch(server, "clusterroles", n) for n in ROLES],
                  "clusterRoleBindings": [fetch(server, "clusterrolebindings", n) for n in BINDINGS]}
    OUT.write_text(json.dumps(policy, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
