"""`--audit-log-path`: audit.k8s.io/v1 events at Metadata level, as kube-apiserver v1.32.13 writes them with a
policy of one Metadata rule: RequestReceived and ResponseComplete per request, the authorizer's decision, the
response status, and rotation past `--audit-log-maxsize`."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from apiserver.audit import AuditLog
from apiserver.config import Config
from apiserver.testing import run_server

ADMIN, BOB = "admin-token-0123456789", "bob-token-0123456789"


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_metadata_events_of_allowed_and_forbidden_requests(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(f'{ADMIN},admin,admin-uid,"system:masters"\n{BOB},bob,bob-uid\n')
    log = tmp_path / "audit" / "audit.log"
    config = Config(compaction_interval=0, secure=True, cert_dir=str(tmp_path / "certs"), token_auth_file=str(tokens),
                    authorization_mode="RBAC", audit_log_path=str(log))
    with run_server(config, tmp_path) as server:
        context = ssl.create_default_context(cadata=server.serving.ca_pem.decode())
        answers = []
        for token, path in ((ADMIN, "/api/v1/namespaces/default/pods?limit=5"), (BOB, "/api/v1/namespaces/default")):
            request = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {token}",
                                                                         "User-Agent": "audit-test"})
            try:
                with urllib.request.urlopen(request, context=context) as reply:
                    answers.append(reply.headers["Audit-Id"])
            except urllib.error.HTTPError as err:
                answers.append(err.headers["Audit-Id"])
        request = urllib.request.Request(server.url + "/api/v1/namespaces/default", headers={
            "Authorization": "Bearer wrong", "User-Agent": "audit-401"})
        try:
            urllib.request.urlopen(request, context=context)
        except urllib.error.HTTPError as err:
            assert err.code == 401
        request = urllib.request.Request(server.url + "/api/v1/namespaces?watch=1&timeoutSeconds=1",
                                         headers={"Authorization": f"Bearer {ADMIN}", "User-Agent": "audit-watch"})
        with urllib.request.urlopen(request, context=context) as reply:
            reply.read()
    assert "/api/v1/namespaces?watch=1\\u0026timeoutSeconds=1" in log.read_text()  # Go's JSON escapes &
    watched = [e for e in events(log) if e["userAgent"] == "audit-watch"]
    assert [(e["stage"], e["verb"], e.get("responseStatus")) for e in watched] == [
        ("RequestReceived", "watch", None), ("ResponseStarted", "watch", {"metadata": {}, "code": 200}),
        ("ResponseComplete", "watch", {"metadata": {}, "code": 200})]
    refused = [e for e in events(log) if e["userAgent"] == "audit-401"]
    assert [(e["stage"], e["user"], e["responseStatus"]) for e in refused] == [
        ("ResponseStarted", {}, {"metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized",
                                 "code": 401})]
    assert list(refused[0])[-3:] == ["responseStatus", "requestReceivedTimestamp", "stageTimestamp"]
    written = [e for e in events(log) if e["userAgent"] == "audit-test"]
    assert [(e["stage"], e["user"]["username"]) for e in written] == [
        ("RequestReceived", "admin"), ("ResponseComplete", "admin"), ("RequestReceived", "bob"), ("ResponseComplete", "bob")]
    received, listed, _, forbidden = written
    assert list(received) == ["kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user",
                              "sourceIPs", "userAgent", "objectRef", "requestReceivedTimestamp", "stageTimestamp"]
    assert list(listed) == ["kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user",
                            "sourceIPs", "userAgent", "objectRef", "responseStatus", "requestReceivedTimestamp",
                            "stageTimestamp", "annotations"]
    assert received["auditID"] == listed["auditID"] == answers[0]
    assert forbidden["auditID"] == answers[1]
    assert (received["apiVersion"], received["level"], received["verb"]) == ("audit.k8s.io/v1", "Metadata", "list")
    assert received["requestURI"] == "/api/v1/namespaces/default/pods?limit=5"
    assert received["objectRef"] == {"resource": "pods", "namespace": "default", "apiVersion": "v1"}
    assert received["user"] == {"username": "admin", "uid": "admin-uid", "groups": ["system:masters",
                                                                                    "system:authenticated"]}
    assert received["sourceIPs"] == ["127.0.0.1"]
    assert listed["responseStatus"] == {"metadata": {}, "code": 200}
    assert listed["annotations"] == {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}
    assert forbidden["objectRef"] == {"resource": "namespaces", "namespace": "default", "name": "default",
                                      "apiVersion": "v1"}
    assert forbidden["responseStatus"]["code"] == 403
    assert forbidden["responseStatus"]["reason"] == "Forbidden"
    assert forbidden["annotations"]["authorization.k8s.io/decision"] == "forbid"


def test_the_log_is_rotated_past_its_size(tmp_path: Path) -> None:
    log = AuditLog(str(tmp_path / "audit.log"), 1, 2)
    line = {"kind": "Event", "padding": "x" * 100_000}
    for _ in range(40):
        log.write(line)
    log.close()
    assert (tmp_path / "audit.log").stat().st_size <= 1024 * 1024
    assert len(list(tmp_path.glob("audit-*.log"))) == 2
