"""RBAC over real TLS sockets, as kube-apiserver v1.32.13 answers: the rbac.authorization.k8s.io kinds, the bootstrap
policy, `--authorization-mode RBAC` with kubectl 1.32 and the official client holding tokens, upstream's 403 text,
ClusterRole aggregation, escalation prevention and the access reviews of `kubectl auth can-i`."""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apiserver.config import Config
from apiserver.testing import RunningServer, run_server

ADMIN, BOB, VIEWER = "admin-token-0123456789", "bob-token-0123456789", "viewer-token-0123456789"
KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32"
RBAC_V1 = "/apis/rbac.authorization.k8s.io/v1"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(f'{ADMIN},admin,admin-uid,"system:masters"\n{BOB},bob,bob-uid\n{VIEWER},vera,vera-uid,"viewers"\n')
    config = Config(compaction_interval=0, secure=True, cert_dir=str(tmp_path / "certs"), token_auth_file=str(tokens),
                    authorization_mode="RBAC")
    with run_server(config, tmp_path) as running:
        yield running


def call(server: RunningServer, path: str, token: str = ADMIN, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    context = ssl.create_default_context(cadata=server.serving.ca_pem.decode())
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.url + path, data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def kubectl(server: RunningServer, token: str, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    command = [KUBECTL, "--kubeconfig", str(server.kubeconfig), "--token", token,
               "--cache-dir", str(server.kubeconfig.parent / "cache"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=check)


def eventually(check: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def bind(server: RunningServer, name: str, role: str, subject: dict[str, str], namespace: str = "") -> None:
    binding = {"metadata": {"name": name},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", **subject}]}
    path = f"{RBAC_V1}/namespaces/{namespace}/rolebindings" if namespace else f"{RBAC_V1}/clusterrolebindings"
    status, body = call(server, path, method="POST", body=binding)
    assert status == 201, body


def test_bootstrap_roles_and_bindings(server: RunningServer) -> None:
    _, roles = call(server, f"{RBAC_V1}/clusterroles")
    names = {r["metadata"]["name"] for r in roles["items"]}
    assert {"cluster-admin", "admin", "edit", "view", "system:basic-user", "system:discovery",
            "system:public-info-viewer"} <= names
    _, masters = call(server, f"{RBAC_V1}/clusterrolebindings/cluster-admin")
    assert masters["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}]
    # view aggregates system:aggregate-to-view; edit view's; admin edit's
    view = eventually(lambda: call(server, f"{RBAC_V1}/clusterroles/view")[1].get("rules"))
    assert any("pods" in r.get("resources", ()) and "get" in r["verbs"] for r in view)
    admin = eventually(lambda: len(call(server, f"{RBAC_V1}/clusterroles/admin")[1].get("rules") or ()) > len(view))
    assert admin


def test_user_without_rights_gets_upstreams_403(server: RunningServer) -> None:
    done = kubectl(server, BOB, "get", "endpointslices", "-n", "default")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        'Error from server (Forbidden): endpointslices.discovery.k8s.io is forbidden: User "bob" cannot list '
        'resource "endpointslices" in API group "discovery.k8s.io" in the namespace "default"')
    status, body = call(server, "/api/v1/namespaces/default/pods/p", BOB)
    assert status == 403
    assert body["message"] == ('pods "p" is forbidden: User "bob" cannot get resource "pods" in API group "" in '
                               'the namespace "default"')
    assert body["details"] == {"name": "p", "kind": "pods"}


def test_view_binding_gets_but_cannot_create(server: RunningServer) -> None:
    bind(server, "viewers", "view", {"kind": "Group", "name": "viewers"}, namespace="default")
    assert kubectl(server, VIEWER, "get", "endpointslices", "-n", "default").returncode == 0
    assert kubectl(server, VIEWER, "get", "endpointslices", "-n", "kube-system").returncode == 1
    done = kubectl(server, VIEWER, "create", "configmap", "c", "-n", "default")
    assert done.returncode == 1
    assert "cannot create resource" in done.stderr


def test_binding_to_a_missing_role_is_named_in_the_reason(server: RunningServer) -> None:
    bind(server, "nothing", "no-such-role", {"kind": "User", "name": "bob"})
    status, body = call(server, "/api/v1/namespaces", BOB)
    assert status == 403
    assert body["message"].endswith(': RBAC: clusterrole.rbac.authorization.k8s.io "no-such-role" not found')


def test_cluster_admin_can_do_everything(server: RunningServer) -> None:
    bind(server, "bob-admin", "cluster-admin", {"kind": "User", "name": "bob"})
    assert kubectl(server, BOB, "create", "namespace", "bobs").returncode == 0
    assert kubectl(server, BOB, "get", "--raw", "/healthz").returncode == 0
    done = kubectl(server, BOB, "get", "clusterroles", "cluster-admin")
    assert done.stdout.split("\n")[0].split() == ["NAME", "CREATED", "AT"]


def test_official_client_with_a_token(server: RunningServer) -> None:
    from kubernetes import client

    bind(server, "vera-view", "view", {"kind": "User", "name": "vera"})
    api = server.api_client()
    api.configuration.api_key = {"authorization": VIEWER}
    core = client.CoreV1Api(api)
    assert core.list_namespace().items
    with pytest.raises(client.ApiException) as denied:
        core.create_namespace({"metadata": {"name": "x"}})
    assert denied.value.status == 403


def test_aggregation_follows_a_new_labelled_role(server: RunningServer) -> None:
    role = {"metadata": {"name": "widgets-view", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
            "rules": [{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]}]}
    assert call(server, f"{RBAC_V1}/clusterroles", method="POST", body=role)[0] == 201
    assert eventually(lambda: role["rules"][0] in (call(server, f"{RBAC_V1}/clusterroles/view")[1].get("rules") or ()))
    assert eventually(lambda: role["rules"][0] in (call(server, f"{RBAC_V1}/clusterroles/admin")[1].get("rules") or ()))


def test_validation_and_immutable_role_ref(server: RunningServer) -> None:
    status, body = call(server, f"{RBAC_V1}/clusterroles", method="POST",
                        body={"metadata": {"name": "bad"}, "rules": [{"verbs": []}]})
    assert status == 422
    assert [c["field"] for c in body["details"]["causes"]] == ["rules[0].verbs", "rules[0].apiGroups",
                                                                "rules[0].resources"]
    bind(server, "b", "view", {"kind": "User", "name": "bob"})
    status, body = call(server, f"{RBAC_V1}/clusterrolebindings/b", method="PUT",
                        body={**call(server, f"{RBAC_V1}/clusterrolebindings/b")[1],
                              "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"}})
    assert status == 422
    assert body["message"] == ('ClusterRoleBinding.rbac.authorization.k8s.io "b" is invalid: roleRef: Invalid value: '
                               'rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: '
                               'cannot change roleRef')


def test_auth_can_i(server: RunningServer) -> None:
    assert kubectl(server, BOB, "auth", "can-i", "create", "endpointslices").stdout.strip() == "no"
    assert kubectl(server, ADMIN, "auth", "can-i", "create", "endpointslices").stdout.strip() == "yes"
    bind(server, "vera-edit", "edit", {"kind": "User", "name": "vera"}, namespace="default")
    assert kubectl(server, VIEWER, "auth", "can-i", "create", "services", "-n", "default").stdout.strip() == "yes"
    assert kubectl(server, VIEWER, "auth", "can-i", "delete", "services", "-n", "other").stdout.strip() == "no"
    # upstream's edit lets read EndpointSlices, not write them (the controller writes them)
    assert kubectl(server, VIEWER, "auth", "can-i", "create", "endpointslices", "-n", "default").stdout.strip() == "no"
    status, review = call(server, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", VIEWER, "POST",
                          {"spec": {"resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "default"}}})
    assert status == 201
    assert review["status"] == {"allowed": True, "reason": 'RBAC: allowed by RoleBinding "vera-edit/default" of '
                                'ClusterRole "edit" to User "vera"'}


def test_auth_can_i_list(server: RunningServer) -> None:
    lines = kubectl(server, BOB, "auth", "can-i", "--list").stdout.splitlines()
    assert lines[0].split() == ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]
    assert any(line.split()[:2] == ["selfsubjectaccessreviews.authorization.k8s.io", "[]"] for line in lines)
    assert any(line.split()[:1] == ["[/version]"] for line in lines)
    admin = kubectl(server, ADMIN, "auth", "can-i", "--list").stdout.splitlines()
    assert any(line.split() == ["*.*", "[]", "[]", "[*]"] for line in admin)


def test_subject_access_review_needs_rights(server: RunningServer) -> None:
    review = {"spec": {"user": "bob", "resourceAttributes": {"verb": "list", "resource": "pods"}}}
    status, body = call(server, "/apis/authorization.k8s.io/v1/subjectaccessreviews", BOB, "POST", review)
    assert status == 403
    status, body = call(server, "/apis/authorization.k8s.io/v1/subjectaccessreviews", ADMIN, "POST", review)
    assert (status, body["status"]) == (201, {"allowed": False})


def test_escalation_prevention(server: RunningServer) -> None:
    assert call(server, "/api/v1/namespaces", method="POST", body={"metadata": {"name": "team"}})[0] == 201
    bind(server, "bob-admin", "admin", {"kind": "User", "name": "bob"}, namespace="team")
    roles, bindings = f"{RBAC_V1}/namespaces/team/roles", f"{RBAC_V1}/namespaces/team/rolebindings"
    held = {"metadata": {"name": "pods-reader"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    assert eventually(lambda: call(server, roles, BOB, "POST", held)[0] == 201)
    more = {"metadata": {"name": "nodes-reader"},
            "rules": [{"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list", "escalate"]}]}
    status, body = call(server, roles, BOB, "POST", more)
    assert status == 403
    assert body["message"] == (  # only what is missing, compacted by group and resource
        'roles.rbac.authorization.k8s.io "nodes-reader" is forbidden: user "bob" (groups=["system:authenticated"]) is '
        'attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["nodes"], '
        'Verbs:["get" "list" "escalate"]}\n{APIGroups:[""], Resources:["pods"], Verbs:["escalate"]}')
    view = {"metadata": {"name": "vera-view"}, "subjects": [{"kind": "User", "name": "vera",
                                                             "apiGroup": "rbac.authorization.k8s.io"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}}
    assert call(server, bindings, BOB, "POST", view)[0] == 201
    admin = {**view, "metadata": {"name": "vera-admin"}, "roleRef": {**view["roleRef"], "name": "cluster-admin"}}
    status, body = call(server, bindings, BOB, "POST", admin)
    assert status == 403
    assert body["message"].startswith('rolebindings.rbac.authorization.k8s.io "vera-admin" is forbidden: user "bob" '
                                      '(groups=["system:authenticated"]) is attempting to grant RBAC permissions not '
                                      "currently held:\n")
    # with `bind` on cluster-admin (and nothing else of it) the binding is allowed
    binder = {"metadata": {"name": "binder"}, "rules": [{"apiGroups": ["rbac.authorization.k8s.io"],
              "resources": ["clusterroles"], "verbs": ["bind"], "resourceNames": ["cluster-admin"]}]}
    assert call(server, f"{RBAC_V1}/clusterroles", method="POST", body=binder)[0] == 201
    bind(server, "bob-binder", "binder", {"kind": "User", "name": "bob"})
    assert call(server, bindings, BOB, "POST", admin)[0] == 201


def test_review_validation_and_order_as_upstream(server: RunningServer) -> None:
    path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    status, body = call(server, path, BOB, "POST", {"spec": {}})
    assert (status, body["message"]) == (422, ('.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid '
                                         'value: "null": exactly one of nonResourceAttributes or resourceAttributes '
                                         "must be specified"))
    status, body = call(server, path, BOB, "POST", {"spec": {"resourceAttributes": {
        "resource": "pods", "verb": "get", "namespace": "team"}}})
    assert list(body) == ["kind", "apiVersion", "metadata", "spec", "status"]
    assert list(body["spec"]["resourceAttributes"]) == ["namespace", "verb", "resource"]
    assert body["status"] == {"allowed": False}


def test_anonymous_requests_see_public_info_only(server: RunningServer) -> None:
    context = ssl.create_default_context(cadata=server.serving.ca_pem.decode())
    with urllib.request.urlopen(server.url + "/version", context=context) as reply:
        assert reply.status == 200
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(server.url + "/api/v1/namespaces", context=context)
    assert json.loads(denied.value.read())["message"] == (
        'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API group "" at the '
        "cluster scope")


def test_apply_and_watch_roles(server: RunningServer, tmp_path: Path) -> None:
    manifest = tmp_path / "role.yaml"
    manifest.write_text("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: default}\n"
                        "rules:\n- apiGroups: ['']\n  resources: [pods]\n  verbs: [get]\n")
    assert kubectl(server, ADMIN, "apply", "-f", str(manifest)).returncode == 0
    assert kubectl(server, ADMIN, "apply", "--server-side", "-f", str(manifest)).returncode == 0
    _, role = call(server, f"{RBAC_V1}/namespaces/default/roles/r")
    assert role["rules"] == [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]
    _, roles = call(server, f"{RBAC_V1}/namespaces/default/roles")
    version = roles["metadata"]["resourceVersion"]
    call(server, f"{RBAC_V1}/namespaces/default/roles/r", method="DELETE")
    context = ssl.create_default_context(cadata=server.serving.ca_pem.decode())
    request = urllib.request.Request(
        f"{server.url}{RBAC_V1}/namespaces/default/roles?watch=1&resourceVersion={version}&timeoutSeconds=1",
        headers={"Authorization": f"Bearer {ADMIN}"})
    with urllib.request.urlopen(request, context=context) as reply:
        events = [json.loads(line) for line in reply.read().splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("DELETED", "r")]
    wide = kubectl(server, ADMIN, "get", "clusterrolebindings", "cluster-admin", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert wide[1].split()[:2] == ["cluster-admin", "ClusterRole/cluster-admin"]
    assert wide[1].split()[3] == "system:masters"


@pytest.mark.parametrize(("modes", "code"), [("RBAC,AlwaysAllow", 200), ("RBAC", 403), ("AlwaysAllow,RBAC", 200)])
def test_modes_are_asked_in_order(tmp_path: Path, modes: str, code: int) -> None:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(f"{BOB},bob,bob-uid\n")
    config = Config(compaction_interval=0, token_auth_file=str(tokens), authorization_mode=modes)
    with run_server(config, tmp_path) as running:
        request = urllib.request.Request(running.url + "/api/v1/namespaces", headers={"Authorization": f"Bearer {BOB}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                assert reply.status == code
        except urllib.error.HTTPError as err:
            assert err.code == code


def test_subresource_wildcards_as_upstream(server: RunningServer) -> None:
    """`*/log` covers pods/log; `pods/*` covers no subresource, in authorization and in escalation checks."""
    role = {"metadata": {"name": "logs"}, "rules": [{"apiGroups": [""], "resources": ["*/log"], "verbs": ["get"]},
                                                    {"apiGroups": [""], "resources": ["pods/*"], "verbs": ["list"]}]}
    assert call(server, f"{RBAC_V1}/clusterroles", method="POST", body=role)[0] == 201
    bind(server, "bob-logs", "logs", {"kind": "User", "name": "bob"})
    review = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"

    def allowed(verb: str, subresource: str) -> bool:
        attributes = {"verb": verb, "resource": "pods", "subresource": subresource, "namespace": "default"}
        return bool(call(server, review, BOB, "POST", {"spec": {"resourceAttributes": attributes}})[1]["status"]["allowed"])
    assert allowed("get", "log")
    assert not allowed("list", "log")
