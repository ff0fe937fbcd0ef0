"""Client certificates (`--client-ca-file`), as upstream's x509 authenticator: the TLS handshake only asks for a
certificate (Go's tls.RequestClientCert), the authenticator verifies it against the CAs for client use, and a
certificate that does not verify is a 401. The subject names the user (CommonName) and its groups
(Organization); the certificate's SHA-256 is the credential id (CommonNameUserConversion)."""

from __future__ import annotations

import datetime
import functools
import hashlib
import ssl
from collections import OrderedDict
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from apiserver.authentication.authenticator import AuthenticationError
from apiserver.authentication.user import CREDENTIAL_ID, UserInfo

CLIENT_USAGES = frozenset({ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE})
CACHED = 1024  # verified certificates remembered (a client sends the same one with every request)


def peer_certificate(request: web.Request) -> bytes | None:
    """The DER certificate the client presented in the TLS handshake, None if it presented none."""
    transport = request.transport
    tls = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(tls, (ssl.SSLObject, ssl.SSLSocket)):
        return None
    return tls.getpeercert(binary_form=True)


class Verifier:
    """Verifies client certificates against the CAs of a PEM bundle, as Go's x509 Verify with the client
    authentication usage: a chain to one of the CAs, every certificate valid now, the leaf's extended key usages
    (if it names any) allowing client authentication. What verified is remembered until it expires."""

    def __init__(self, ca_file: str | Path) -> None:
        cas = x509.load_pem_x509_certificates(Path(ca_file).read_bytes())
        self.store = verification.Store(cas)
        policy = verification.ExtensionPolicy  # Go checks no extension profile beyond the CA's basic constraints
        self.ca_policy = policy.permit_all().require_present(x509.BasicConstraints, verification.Criticality.AGNOSTIC,
                                                             None)
        self.verified: OrderedDict[bytes, tuple[x509.Certificate, datetime.datetime]] = OrderedDict()

    def verify(self, der: bytes) -> x509.Certificate:
        """The certificate, verified; raises AuthenticationError with the reason if it does not verify."""
        now = datetime.datetime.now(datetime.UTC)
        known = self.verified.get(der)
        if known is not None and known[1] > now:
            return known[0]
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError as err:
            raise AuthenticationError(f"unparseable client certificate: {err}") from None
        verifier = (verification.PolicyBuilder().store(self.store).time(now)
                    .extension_policies(ca_policy=self.ca_policy, ee_policy=verification.ExtensionPolicy.permit_all())
                    .build_client_verifier())
        try:
            chain = verifier.verify(cert, []).chain
        except verification.VerificationError as err:
            raise AuthenticationError(f"verifying certificate {describe(cert)} failed: {err}") from None
        try:
            usages = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
        except x509.ExtensionNotFound:
            usages = set(CLIENT_USAGES)
        if not usages & CLIENT_USAGES:
            raise AuthenticationError(f"verifying certificate {describe(cert)} failed: x509: certificate specifies "
                                      "an incompatible key usage")
        self.verified[der] = (cert, min(c.not_valid_after_utc for c in chain))
        if len(self.verified) > CACHED:
            self.verified.popitem(last=False)
        return cert


def describe(cert: x509.Certificate) -> str:
    return f"SN={cert.serial_number}, subject={cert.subject.rfc4514_string()}"


@functools.lru_cache(maxsize=CACHED)
def user_from_certificate(der: bytes) -> UserInfo | None:
    """The user a verified client certificate names; None if it has no CommonName (not authenticated by it)."""
    cert = x509.load_der_x509_certificate(der)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = str(names[0].value) if names else ""
    if not name:
        return None
    groups = tuple(str(o.value) for o in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    return UserInfo(name, "", groups, {CREDENTIAL_ID: (f"X509SHA256={hashlib.sha256(der).hexdigest()}",)})


class CertificateAuthenticator:
    """`--client-ca-file`: the user of a client certificate those CAs signed."""

    def __init__(self, ca_file: str | Path) -> None:
        self.verifier = Verifier(ca_file)

    def authenticate(self, request: web.Request) -> UserInfo | None:
        der = peer_certificate(request)
        if not der:
            return None
        self.verifier.verify(der)
        return user_from_certificate(der)
