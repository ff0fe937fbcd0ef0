"""The request authenticator kube-apiserver builds from its flags: client certificates, then bearer tokens, the
first that recognises the request wins and gets `system:authenticated`; a request with no credential at all is
`system:anonymous` when anonymous requests are allowed. A credential presented but not recognised fails the
request (upstream's union.NewFailOnError), even if anonymous requests are allowed."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from apiserver.authentication.user import ANONYMOUS_USER, UserInfo


class AuthenticationError(Exception):
    """A credential was presented and did not check out: 401."""


@dataclass
class Authenticator:
    tokens: dict[str, UserInfo] = field(default_factory=dict)
    # the user of a client certificate (DER) the TLS layer verified against --client-ca-file; None: not asked for
    certificate_user: Callable[[bytes], UserInfo | None] | None = None
    anonymous: bool = False
    # the service account a bearer token issued by this server names (apiserver.authentication.serviceaccount)
    service_account: Callable[[str], UserInfo | None] | None = None

    def authenticate(self, request: web.Request) -> UserInfo | None:
        """The request's user, None if unauthenticated and anonymous requests are not allowed; raises
        AuthenticationError for a credential that was not recognised."""
        if self.certificate_user is not None:
            der = self._peer_certificate(request)
            user = self.certificate_user(der) if der else None
            if user is not None:
                return user.with_authenticated_group()
        header = request.headers.get("Authorization", "").strip()
        if header:
            scheme, _, rest = header.partition(" ")
            token = rest.split(" ", 1)[0]
            if scheme.lower() == "bearer" and token:
                user = self.tokens.get(token)
                if user is None and self.service_account is not None:
                    user = self.service_account(token)
                if user is None:
                    raise AuthenticationError("invalid bearer token")
                return user.with_authenticated_group()
        return ANONYMOUS_USER if self.anonymous else None

    @staticmethod
    def _peer_certificate(request: web.Request) -> bytes | None:
        transport = request.transport
        tls = transport.get_extra_info("ssl_object") if transport is not None else None
        if not isinstance(tls, (ssl.SSLObject, ssl.SSLSocket)):
            return None
        return tls.getpeercert(binary_form=True)
