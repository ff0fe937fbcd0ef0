"""Client certificates (`--client-ca-file`): the TLS handshake verified the chain, the certificate's subject names
the user (CommonName) and its groups (Organization), and its SHA-256 is the credential id, as upstream's
x509 CommonNameUserConversion."""

from __future__ import annotations

import functools
import hashlib

from cryptography import x509
from cryptography.x509.oid import NameOID

from apiserver.authentication.user import CREDENTIAL_ID, UserInfo


@functools.lru_cache(maxsize=1024)
def user_from_certificate(der: bytes) -> UserInfo | None:
    """The user a verified client certificate names; None if it has no CommonName (not authenticated by it)."""
    subject = x509.load_der_x509_certificate(der).subject
    names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = str(names[0].value) if names else ""
    if not name:
        return None
    groups = tuple(str(o.value) for o in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    return UserInfo(name, "", groups, {CREDENTIAL_ID: (f"X509SHA256={hashlib.sha256(der).hexdigest()}",)})
