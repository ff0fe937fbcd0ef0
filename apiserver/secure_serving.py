"""Secure serving, as kube-apiserver's SecureServingOptions: TLS with `--tls-cert-file`/`--tls-private-key-file`,
or with a CA and serving certificate generated in `--cert-dir` (`--secure`); client certificates asked for
and verified against `--client-ca-file` or `--requestheader-client-ca-file` by the authenticators. Plain HTTP is for
loopback: elsewhere it needs `--insecure-allow-remote`."""

from __future__ import annotations

import ctypes
import ctypes.util
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from apiserver.authentication.tokenfile import ensure_admin_token
from apiserver.config import Config
from apiserver.kubeconfig import default_path

if TYPE_CHECKING:
    from apiserver.certificates import ServingFiles

ADMIN_TOKEN_FILE = "admin-token.csv"  # the admin token --secure generates, in upstream's token file format


class ServingError(ValueError):
    """Flags that cannot be served as given."""


def cert_dir(config: Config) -> Path:
    """Where generated certificates and the admin token live: `--cert-dir`, by default the state directory."""
    return Path(config.cert_dir) if config.cert_dir else default_path().parent


def serves_tls(config: Config) -> bool:
    return config.secure or bool(config.tls_cert_file)


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check(config: Config) -> None:
    """Refuse flags that make no sense or expose the API unprotected: raises ServingError with the reason."""
    if bool(config.tls_cert_file) != bool(config.tls_private_key_file):
        raise ServingError("--tls-cert-file and --tls-private-key-file go together")
    for flag, value in (("--client-ca-file", config.client_ca_file),
                        ("--requestheader-client-ca-file", config.requestheader_client_ca_file)):
        if value and not serves_tls(config):
            raise ServingError(f"{flag} needs TLS: --secure or --tls-cert-file/--tls-private-key-file")
    if config.aggregated and not serves_tls(config):
        raise ServingError("--aggregated needs TLS (--secure or --tls-cert-file/--tls-private-key-file): the aggregator "
                           "reaches its API servers over HTTPS only")
    if config.controllers and serves_tls(config):
        raise ServingError("--controllers run against plain HTTP only (they send no credentials yet)")
    if is_loopback(config.bind_address) or config.insecure_allow_remote:
        return
    advice = ("Serve TLS with authentication (--secure, or --tls-cert-file and --tls-private-key-file with "
              "--token-auth-file or --client-ca-file), bind a loopback address, or pass --insecure-allow-remote to do "
              "it anyway")
    where = config.bind_address or "every address"
    if not serves_tls(config):
        raise ServingError(f"refusing to serve plain HTTP on {where}: anyone who can reach it could read and write "
                           f"everything (and see the tokens sent). {advice}")
    if not (config.secure or config.token_auth_file or config.client_ca_file or config.requestheader_client_ca_file):
        raise ServingError(f"refusing to serve on {where} without authentication: anyone who can reach it could read "
                           f"and write everything. {advice}")


@dataclass(frozen=True)
class SecureServing:
    """What the server serves with: its TLS context (None for plain HTTP), and for a kubeconfig the CA that signed
    the serving certificate and the admin token, when --secure generated them."""

    ssl_context: ssl.SSLContext | None
    ca_pem: bytes | None = None
    token: str = ""


def prepare(config: Config) -> SecureServing:
    """Generate (or reuse) what --secure needs in --cert-dir, and build the TLS context."""
    if not config.secure:
        return SecureServing(server_context(config))
    directory = cert_dir(config)
    token = ensure_admin_token(directory / ADMIN_TOKEN_FILE)
    if config.tls_cert_file:
        return SecureServing(server_context(config), None, token)
    from apiserver.certificates import ensure_serving_certificate  # cryptography takes ~25 ms to import: only here

    extra = (service_host(config),) if config.aggregated else ()  # the name the aggregator verifies
    files = ensure_serving_certificate(directory, config.bind_address, extra)
    return SecureServing(server_context(config, files), files.ca_cert.read_bytes(), token)


def server_context(config: Config, generated: ServingFiles | None = None) -> ssl.SSLContext | None:
    """The server's TLS context (None for plain HTTP): the --tls-cert-file, else the `generated` certificate."""
    if not serves_tls(config):
        return None
    if config.tls_cert_file:
        cert, key = Path(config.tls_cert_file), Path(config.tls_private_key_file)
    else:
        assert generated is not None, "--secure: prepare() generates the serving certificate"
        cert, key = generated.cert, generated.key
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    context.load_cert_chain(cert, key)
    if config.client_ca_file or config.requestheader_client_ca_file:
        request_client_certificates(context)
    return context


def _accept_any(preverify_ok: int, store: ctypes.c_void_p) -> int:
    return 1


VERIFY_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)(_accept_any)
SSL_VERIFY_PEER = 1


def request_client_certificates(context: ssl.SSLContext) -> None:
    """Ask clients for a certificate and take whatever they present, as Go's tls.RequestClientCert: verifying it is
    the authenticators' job (a certificate that does not verify is a 401, not a failed handshake; the front
    proxy's and the users' certificates verify against different CAs). Python's ssl module cannot request a
    certificate without verifying it, so OpenSSL's verify callback of the context is set to one that accepts
    every certificate (the module's SSL_CTX is the first field of its context object); its libssl is checked to be
    the one loaded and the context pointer to be the one whose verify mode Python set, else ssl.SSLError."""
    context.verify_mode = ssl.CERT_OPTIONAL
    found = ctypes.util.find_library("ssl")
    libssl = ctypes.CDLL(found) if found else None
    if libssl is not None:
        libssl.OpenSSL_version_num.restype = ctypes.c_ulong
    if libssl is None or libssl.OpenSSL_version_num() != ssl.OPENSSL_VERSION_NUMBER:
        raise ssl.SSLError("cannot request client certificates: the OpenSSL of the ssl module is not loadable")
    libssl.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
    libssl.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    libssl.SSL_CTX_set_verify.restype = None
    ssl_ctx = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    if not ssl_ctx or libssl.SSL_CTX_get_verify_mode(ssl_ctx) != SSL_VERIFY_PEER:
        raise ssl.SSLError("cannot request client certificates: unexpected layout of ssl.SSLContext")
    libssl.SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, ctypes.cast(VERIFY_CALLBACK, ctypes.c_void_p))


def service_host(config: Config) -> str:
    """The host name kube-apiserver's aggregator reaches an aggregated server's Service by (and checks its
    serving certificate for): `<service>.<namespace>.svc`."""
    return f"{config.service_name}.{config.service_namespace}.svc"


def admin_token_file(config: Config) -> Path | None:
    """The token file of the admin token --secure generates (None without --secure)."""
    return cert_dir(config) / ADMIN_TOKEN_FILE if config.secure else None


def server_url(config: Config) -> str:
    """The URL clients reach the server at: a wildcard bind address is reached on 127.0.0.1."""
    host = config.bind_address if config.bind_address not in ("0.0.0.0", "::", "") else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if serves_tls(config) else 'http'}://{host}:{config.port}"
