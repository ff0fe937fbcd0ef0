"""Authentication and the authorizer hook over real TLS sockets, as kube-apiserver v1.32.13 answers: bearer tokens of
a `--token-auth-file`, client certificates of a `--client-ca-file`, 401 for a credential that does not check out
(and for anonymous requests, which upstream turns off under AlwaysAllow), SelfSubjectReview for `kubectl auth
whoami`, and the 403 of an authorizer that denies (AlwaysDeny, the hook RBAC will use)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from apiserver.authentication.tokenfile import TokenFileError, read_token_file
from apiserver.authentication.user import UserInfo
from apiserver.authorization.request_info import attributes
from apiserver.config import Config
from apiserver.testing import RunningServer, free_port, run_server
from tests.conftest import kubectl_binary

ADMIN_TOKEN = "admin-token-0123456789"
BOB_TOKEN = "bob-token-0123456789"
UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized",
                "reason": "Unauthorized", "code": 401}
# kube-apiserver v1.32.13's 401 for `Accept: application/vnd.kubernetes.protobuf`, byte for byte
UNAUTHORIZED_PROTOBUF = (b'k8s\x00\n\x0c\n\x02v1\x12\x06Status\x120\n\x06\n\x00\x12\x00\x1a\x00\x12\x07Failure\x1a\x0c'
                         b'Unauthorized"\x0cUnauthorized0\x91\x03\x1a\x00"\x00')


@dataclass
class ClientCert:
    cert: Path
    key: Path
    der: bytes


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    return x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(directory: Path, name: str) -> tuple[Path, ec.EllipticCurvePrivateKey, x509.Name]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(name)
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = directory / f"{name}.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key, subject


def issue(directory: Path, ca: tuple[Path, ec.EllipticCurvePrivateKey, x509.Name], user: str,
          groups: tuple[str, ...], file: str = "", days: int = 1,
          usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.CLIENT_AUTH) -> ClientCert:
    """A certificate for `user` in `groups` with this extended key usage, signed by `ca`, valid from an hour ago
    for `days` (negative: expired) and kept in `file` (default: the user's name)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    start = now - datetime.timedelta(hours=1) + min(datetime.timedelta(days=days), datetime.timedelta(0))
    cert = (x509.CertificateBuilder().subject_name(_name(user, groups)).issuer_name(ca[2]).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(ca[1], hashes.SHA256()))
    cert_path, key_path = directory / f"{file or user}.crt", directory / f"{file or user}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ClientCert(cert_path, key_path, cert.public_bytes(serialization.Encoding.DER))


@dataclass
class Setup:
    directory: Path
    client_ca: Path
    token_file: Path
    alice: ClientCert  # CN alice, O team-a and team-b, signed by the client CA
    mallory: ClientCert  # signed by another CA
    expired: ClientCert  # signed by the client CA, expired yesterday
    server_only: ClientCert  # signed by the client CA for server authentication only

    def config(self, **flags: Any) -> Config:
        return Config(compaction_interval=0, secure=True, cert_dir=str(self.directory / "certs"),
                      client_ca_file=str(self.client_ca), token_auth_file=str(self.token_file), **flags)


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    ca = make_ca(tmp_path, "client-ca")
    other = make_ca(tmp_path, "other-ca")
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(f'{ADMIN_TOKEN},admin,admin-uid,"system:masters"\n{BOB_TOKEN},bob,bob-uid\n')
    return Setup(tmp_path, ca[0], tokens, issue(tmp_path, ca, "alice", ("team-a", "team-b")),
                 issue(tmp_path, other, "mallory", ("system:masters",)),
                 issue(tmp_path, ca, "alice", (), "expired", days=-1),
                 issue(tmp_path, ca, "alice", (), "server-only", usage=ExtendedKeyUsageOID.SERVER_AUTH))


@pytest.fixture
def server(setup: Setup) -> Iterator[RunningServer]:
    with run_server(setup.config(), setup.directory) as running:
        yield running


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(server: RunningServer, path: str, method: str = "GET", token: str | None = None,
         cert: ClientCert | None = None, body: bytes | None = None, accept: str | None = None,
         content_type: str = "application/json") -> Answer:
    """One request over TLS, the server's CA trusted (from its kubeconfig), with a token and/or a certificate."""
    context = ssl.create_default_context(cadata=server.serving.ca_pem.decode() if server.serving.ca_pem else None)
    if cert is not None:
        context.load_cert_chain(cert.cert, cert.key)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    if body is not None:
        headers["Content-Type"] = content_type
    if accept:
        headers["Accept"] = accept
    request = urllib.request.Request(server.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return Answer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as err:
        return Answer(err.code, dict(err.headers), err.read())


REVIEW = json.dumps({"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1"}).encode()
REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


@pytest.mark.parametrize("path", ["/api/v1/namespaces", "/metrics", "/debug/watches", "/readyz", "/version",
                                  "/nonexistent", REVIEWS])
def test_a_wrong_token_and_no_credential_are_401_as_upstream(server: RunningServer, path: str) -> None:
    """kube-apiserver answers both with the same 401 Status and no WWW-Authenticate; anonymous requests are off
    under AlwaysAllow (it logs "AnonymousAuth is not allowed with the AlwaysAllow authorizer"), so health checks,
    /metrics and /debug need a user too."""
    for token in ("wrong", None):
        answer = call(server, path, token=token)
        assert (answer.status, answer.json()) == (401, UNAUTHORIZED)
        assert answer.headers["Content-Type"] == "application/json"
        assert "WWW-Authenticate" not in answer.headers
    assert call(server, path, token=ADMIN_TOKEN).status not in (401, 403)


def test_the_401_is_negotiated_as_upstream(server: RunningServer) -> None:
    answer = call(server, "/api/v1/namespaces", token="wrong", accept="application/yaml")
    assert (answer.headers["Content-Type"], yaml.safe_load(answer.body)) == ("application/yaml", UNAUTHORIZED)
    answer = call(server, "/api/v1/namespaces", token="wrong", accept="application/vnd.kubernetes.protobuf")
    assert answer.body == UNAUTHORIZED_PROTOBUF


def test_tokens_and_certificates_authenticate_as_upstream_reviews_them(server: RunningServer, setup: Setup) -> None:
    """The SelfSubjectReview bodies kube-apiserver v1.32.13 answers for a token-file user and an x509 user."""
    answer = call(server, REVIEWS, "POST", token=ADMIN_TOKEN, body=REVIEW)
    assert answer.status == 201
    review = answer.json()
    assert review["kind"] == "SelfSubjectReview" and review["apiVersion"] == "authentication.k8s.io/v1"
    assert set(review["metadata"]) == {"creationTimestamp"}
    assert review["status"] == {"userInfo": {"username": "admin", "uid": "admin-uid",
                                             "groups": ["system:masters", "system:authenticated"]}}
    bob = call(server, REVIEWS, "POST", token=BOB_TOKEN, body=b"{}").json()["status"]["userInfo"]
    assert bob == {"username": "bob", "uid": "bob-uid", "groups": ["system:authenticated"]}
    alice = call(server, REVIEWS, "POST", cert=setup.alice, body=REVIEW).json()["status"]["userInfo"]
    assert alice == {"username": "alice", "groups": ["team-a", "team-b", "system:authenticated"],
                     "extra": {"authentication.kubernetes.io/credential-id": [
                         f"X509SHA256={hashlib.sha256(setup.alice.der).hexdigest()}"]}}
    # a certificate is tried first: with a wrong token beside it, the request is the certificate's user (upstream)
    assert call(server, "/api/v1/namespaces/default", token="wrong", cert=setup.alice).status == 200


def test_a_certificate_of_another_ca_is_a_401_as_upstream(server: RunningServer, setup: Setup) -> None:
    """kube-apiserver asks for a client certificate without verifying it in the handshake (Go's
    tls.RequestClientCert): its x509 authenticator refuses one of another CA with the 401 Status, and a valid token
    beside it still authenticates (the authenticators' union)."""
    answer = call(server, "/api/v1/namespaces", cert=setup.mallory)
    assert (answer.status, answer.json()) == (401, UNAUTHORIZED)
    review = call(server, REVIEWS, "POST", token=BOB_TOKEN, cert=setup.mallory, body=REVIEW)
    assert review.json()["status"]["userInfo"]["username"] == "bob"
    assert call(server, "/api/v1/namespaces", cert=setup.expired).status == 401
    assert call(server, "/api/v1/namespaces", cert=setup.server_only).status == 401


def test_selfsubjectreview_errors_as_upstream(server: RunningServer) -> None:
    assert call(server, REVIEWS, token=ADMIN_TOKEN).json()["reason"] == "MethodNotAllowed"
    answer = call(server, REVIEWS, "POST", token=ADMIN_TOKEN, body=b'{"kind":"Pod","apiVersion":"v1"}')
    assert (answer.status, answer.json()["message"]) == (400, ('Pod in version "v1" cannot be handled as a '
                                                         "SelfSubjectReview: converting (v1.Pod) to "
                                                         "(authentication.SelfSubjectReview): unknown conversion"))
    assert call(server, REVIEWS + "?dryRun=All", "POST", token=ADMIN_TOKEN, body=REVIEW).status == 201


def _kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = kubectl_binary()
    if binary is None:
        pytest.skip("kubectl 1.32 is not installed")
    return subprocess.run([binary, "--kubeconfig", str(kubeconfig), "--cache-dir", str(kubeconfig.parent / "cache"),
                           *args], check=False, capture_output=True, text=True, timeout=30)


def _certificate_kubeconfig(server: RunningServer, cert: ClientCert, path: Path) -> Path:
    config = yaml.safe_load(server.kubeconfig.read_text())
    config["users"][0]["user"] = {"client-certificate-data": base64.b64encode(cert.cert.read_bytes()).decode(),
                                  "client-key-data": base64.b64encode(cert.key.read_bytes()).decode()}
    path.write_text(yaml.safe_dump(config))
    return path


def test_kubectl_auth_whoami_with_a_token_and_with_a_certificate(server: RunningServer, setup: Setup) -> None:
    """The kubeconfig the server writes carries its CA and the admin token --secure generated."""
    whoami = _kubectl(server.kubeconfig, "auth", "whoami", "-o", "json")
    assert whoami.returncode == 0, whoami.stderr
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == "admin"
    assert json.loads(whoami.stdout)["status"]["userInfo"]["groups"] == ["system:masters", "system:authenticated"]
    kubeconfig = _certificate_kubeconfig(server, setup.alice, setup.directory / "alice.kubeconfig")
    whoami = _kubectl(kubeconfig, "auth", "whoami")
    assert whoami.returncode == 0, whoami.stderr
    lines = [line.split(None, 1) for line in whoami.stdout.splitlines()]
    assert ["Username", "alice"] in lines and ["Groups", "[team-a team-b system:authenticated]"] in lines
    created = _kubectl(kubeconfig, "create", "namespace", "made-by-alice")
    assert created.returncode == 0, created.stderr
    wrong = yaml.safe_load(server.kubeconfig.read_text())
    wrong["users"][0]["user"] = {"token": "wrong"}
    (setup.directory / "wrong.kubeconfig").write_text(yaml.safe_dump(wrong))
    # what kubectl 1.32 prints against kube-apiserver v1.32.13 with a wrong token (discovery fails first for get)
    refused = _kubectl(setup.directory / "wrong.kubeconfig", "get", "namespaces")
    assert refused.returncode == 1
    assert refused.stderr.endswith("error: You must be logged in to the server (the server has asked for the client to "
                                   "provide credentials)\n")
    refused = _kubectl(setup.directory / "wrong.kubeconfig", "auth", "whoami")
    assert (refused.returncode, refused.stderr) == (1, "error: You must be logged in to the server (Unauthorized)\n")


def test_the_official_client_with_a_token(server: RunningServer) -> None:
    from kubernetes import client, config

    api = config.new_client_from_config(str(server.kubeconfig))
    try:
        review = client.AuthenticationV1Api(api).create_self_subject_review(client.V1SelfSubjectReview())
        assert review.status.user_info.username == "admin"
        created = client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="n")))
        # managedFields name the client (its user agent), not the user, as upstream
        assert created.metadata.managed_fields[0].manager.startswith("OpenAPI-Generator")
    finally:
        api.close()
    with server.api_client() as admin:  # the pytest plugin's client of a secure server: its CA and admin token
        assert client.CoreV1Api(admin).read_namespace("n").metadata.name == "n"
    configuration = client.Configuration()
    configuration.host, configuration.ssl_ca_cert = server.url, str(server.config.cert_dir) + "/ca.crt"
    configuration.api_key, configuration.api_key_prefix = {"authorization": "wrong"}, {"authorization": "Bearer"}
    with client.ApiClient(configuration) as wrong, pytest.raises(client.ApiException) as refused:
        client.CoreV1Api(wrong).list_namespace()
    assert refused.value.status == 401 and json.loads(refused.value.body) == UNAUTHORIZED


def test_an_authorizer_that_denies_answers_upstreams_403(setup: Setup) -> None:
    """AlwaysDeny (anonymous requests allowed, as upstream with any mode but AlwaysAllow): system:masters is
    allowed before any authorizer is asked; the others get kube-apiserver v1.32.13's 403 messages."""
    with run_server(setup.config(authorization_mode="AlwaysDeny"), setup.directory) as server:
        assert call(server, "/api/v1/namespaces", token=ADMIN_TOKEN).status == 200
        answer = call(server, "/metrics")
        assert answer.status == 403 and answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                 "message": 'forbidden: User "system:anonymous" cannot get path "/metrics": '
                                            "Everything is forbidden.", "reason": "Forbidden", "details": {},
                                 "code": 403}
        answer = call(server, "/api/v1/namespaces/default", cert=setup.alice)
        assert answer.json()["message"] == ('namespaces "default" is forbidden: User "alice" cannot get resource '
                                            '"namespaces" in API group "" in the namespace "default": Everything is '
                                            "forbidden.")
        assert answer.json()["details"] == {"name": "default", "kind": "namespaces"}
        answer = call(server, "/apis/discovery.k8s.io/v1/endpointslices", "DELETE", token=BOB_TOKEN)
        assert answer.json()["message"] == ('endpointslices.discovery.k8s.io is forbidden: User "bob" cannot '
                                            'deletecollection resource "endpointslices" in API group '
                                            '"discovery.k8s.io" at the cluster scope: Everything is forbidden.')
        assert answer.json()["details"] == {"group": "discovery.k8s.io", "kind": "endpointslices"}
        assert call(server, "/api/v1/namespaces", token="wrong").status == 401
        kubeconfig = _certificate_kubeconfig(server, setup.alice, setup.directory / "alice.kubeconfig")
        denied = _kubectl(kubeconfig, "get", "--raw", "/api/v1/namespaces/default/services")
        assert (denied.returncode, denied.stderr) == (1, (
            'Error from server (Forbidden): services is forbidden: User "alice" cannot list resource "services" in API '
            'group "" in the namespace "default": Everything is forbidden.\n'))
        denied = _kubectl(kubeconfig, "auth", "whoami")  # kubectl's own words for a 403 there
        assert (denied.returncode, denied.stderr) == (1, ("error: the selfsubjectreviews API is not enabled in the "
                                                         "cluster or you do not have permission to call it\n"))


def test_anonymous_requests_can_be_turned_off(setup: Setup) -> None:
    with run_server(setup.config(authorization_mode="AlwaysDeny", anonymous_auth=False), setup.directory) as server:
        assert (call(server, "/metrics").status, call(server, "/metrics", token=ADMIN_TOKEN).status) == (401, 200)


@pytest.mark.parametrize(("method", "path", "query", "expected"), [
    # (verb, namespace, resource, subresource, name) as upstream's RequestInfoFactory reads them; None: non-resource
    ("GET", "/api/v1/namespaces", {}, ("list", "", "namespaces", "", "")),
    ("GET", "/api/v1/namespaces/default", {}, ("get", "default", "namespaces", "", "default")),
    ("PUT", "/api/v1/namespaces/default/services/x/status", {}, ("update", "default", "services", "status", "x")),
    ("PUT", "/api/v1/namespaces/ns/finalize", {}, ("update", "ns", "namespaces", "finalize", "ns")),
    ("GET", "/api/v1/namespaces/default/pods", {"watch": "1", "fieldSelector": "metadata.name=p"},
     ("watch", "default", "pods", "", "p")),
    ("GET", "/api/v1/watch/namespaces/default/pods/p", {}, ("watch", "default", "pods", "", "p")),
    ("DELETE", "/apis/discovery.k8s.io/v1/endpointslices", {}, ("deletecollection", "", "endpointslices", "", "")),
    ("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {}, ("create", "", "selfsubjectreviews", "", "")),
    ("GET", "/apis/discovery.k8s.io/v1", {}, None),
    ("GET", "/api/v1", {}, None),
    ("GET", "/metrics", {}, None),
])
def test_request_attributes_as_upstream(method: str, path: str, query: dict[str, str],
                                        expected: tuple[str, ...] | None) -> None:
    asked = attributes(UserInfo("u"), method, path, query)
    if expected is None:
        assert not asked.resource_request and asked.verb == method.lower() and asked.path == path
    else:
        assert asked.resource_request
        assert (asked.verb, asked.namespace, asked.resource, asked.subresource, asked.name) == expected


def test_token_file_in_upstreams_csv(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text('t1,alice,1,"a,b"\n\n t2, bob, 2\n,empty,3\nt1,carol,4,c\n')
    tokens = read_token_file(path)
    assert tokens == {"t1": UserInfo("carol", "4", ("c",)), "t2": UserInfo("bob", "2")}
    path.write_text("t1,alice\n")
    with pytest.raises(TokenFileError, match="must have at least 3 columns"):
        read_token_file(path)


def test_a_bad_token_file_stops_the_server_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text("t1,alice\n")
    run = subprocess.run([sys.executable, "-m", "apiserver", "--secure", "--cert-dir", str(tmp_path), "--port",
                          str(free_port()), "--kubeconfig", "", "--token-auth-file", str(path)],
                         check=False, capture_output=True, text=True, timeout=30)
    assert run.returncode == 1
    assert "must have at least 3 columns (token, user name, user uid), found 2" in run.stderr


def test_the_pytest_plugin_serves_tls_with_certificates_of_its_own(tmp_path: Path) -> None:
    from kubernetes import client

    with run_server(Config(compaction_interval=0, secure=True), tmp_path) as server:
        assert server.url.startswith("https://") and server.config.cert_dir == str(tmp_path / "certs")
        with server.api_client() as api:
            review = client.AuthenticationV1Api(api).create_self_subject_review(client.V1SelfSubjectReview())
        assert review.status.user_info.username == "admin"


def test_without_credentials_configured_every_request_is_the_unsecured_superuser() -> None:
    """The plain-HTTP loopback default authenticates nobody: whoever talks to it is `system:unsecured`, in
    `system:masters` (upstream's old insecure port)."""
    with run_server(Config(compaction_interval=0)) as server:
        answer = call(server, REVIEWS, "POST", body=REVIEW)
    assert answer.json()["status"]["userInfo"] == {"username": "system:unsecured",
                                                   "groups": ["system:masters", "system:authenticated"]}
