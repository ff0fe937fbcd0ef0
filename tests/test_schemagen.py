"""The upstream schema data (apiserver/kinds/upstream) is what upstream's Go types and OpenAPI documents give today,
and every type in it builds into schema nodes."""

from __future__ import annotations

import shutil

import pytest

from apiserver.kinds import upstream
from conformance.kube_apiserver import KubeAPIServer
from conformance.schemagen.__main__ import generate, go_types, openapi_documents, stale_files


def test_data_is_current(kube_apiserver: KubeAPIServer) -> None:
    if shutil.which("go") is None:
        pytest.skip("Go is not installed: the generator reads the Go types with `go run`")
    files = generate(go_types(), openapi_documents(kube_apiserver))
    assert stale_files(files) == [], "run python -m conformance.schemagen"


def test_every_type_builds() -> None:
    for file in set(upstream.FILES.values()):
        for name, data in upstream._types(file).items():
            if isinstance(data, dict) and "fields" in data:
                node = upstream.definition(name)
                assert node.ref == name and set(node.properties) >= {f["name"] for f in data["fields"]}
