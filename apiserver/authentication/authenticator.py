"""The request authenticator kube-apiserver builds from its flags: client certificates, then bearer tokens, the
first that recognises the request wins and gets `system:authenticated`; a request with no credential at all is
`system:anonymous` when anonymous requests are allowed. A credential presented but not recognised fails the
request (upstream's union.NewFailOnError), even if anonymous requests are allowed."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from aiohttp import web

from apiserver.authentication.user import ANONYMOUS_USER, UserInfo
from apiserver.authentication.x509 import user_from_certificate


class AuthenticationError(Exception):
    """A credential was presented and did not check out: 401."""


@dataclass
class Authenticator:
    tokens: dict[str, UserInfo] = field(default_factory=dict)
    client_certificates: bool = False  # the TLS layer verifies client certificates against --client-ca-file
    anonymous: bool = False

    def authenticate(self, request: web.Request) -> UserInfo | None:
        """The request's user, None if unauthenticated and anonymous requests are not allowed; raises
        AuthenticationError for a credential that was not recognised."""
        if self.client_certificates:
            user = self._certificate_user(request)
            if user is not None:
                return user.with_authenticated_group()
        header = request.headers.get("Authorization", "").strip()
        if header:
            scheme, _, rest = header.partition(" ")
            token = rest.split(" ", 1)[0]
            if scheme.lower() == "bearer" and token:
                user = self.tokens.get(token)
                if user is None:
                    raise AuthenticationError("invalid bearer token")
                return user.with_authenticated_group()
        return ANONYMOUS_USER if self.anonymous else None

    @staticmethod
    def _certificate_user(request: web.Request) -> UserInfo | None:
        transport = request.transport
        tls = transport.get_extra_info("ssl_object") if transport is not None else None
        if not isinstance(tls, (ssl.SSLObject, ssl.SSLSocket)):
            return None
        der = tls.getpeercert(binary_form=True)
        return user_from_certificate(der) if der else None
