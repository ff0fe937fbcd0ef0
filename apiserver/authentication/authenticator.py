"""The request authenticator kube-apiserver builds from its flags (upstream's union of authenticators): the
front proxy's request headers, client certificates, bearer tokens, asked in that order; the first that recognises
the request wins and its user gets `system:authenticated`. If none does, a credential that failed to check out
fails the request (upstream's union.NewFailOnError), even if anonymous requests are allowed; a request with no
credential at all is `system:anonymous` when anonymous requests are allowed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from apiserver.authentication.user import ANONYMOUS_USER, UserInfo


class AuthenticationError(Exception):
    """A credential was presented and did not check out: 401 unless another authenticator recognises the request."""


class RequestAuthenticator(Protocol):
    def authenticate(self, request: web.Request) -> UserInfo | None:
        """The request's user; None if it carries no credential of this kind; raises AuthenticationError for one
        that does not check out."""
        ...


@dataclass
class TokenAuthenticator:
    """Bearer tokens (`--token-auth-file`): an unknown token is an error."""

    tokens: dict[str, UserInfo] = field(default_factory=dict)

    def authenticate(self, request: web.Request) -> UserInfo | None:
        header = request.headers.get("Authorization", "").strip()
        scheme, _, rest = header.partition(" ")
        token = rest.split(" ", 1)[0]
        if scheme.lower() != "bearer" or not token:
            return None
        user = self.tokens.get(token)
        if user is None:
            raise AuthenticationError("invalid bearer token")
        return user


@dataclass
class Authenticator:
    authenticators: Sequence[RequestAuthenticator] = ()
    anonymous: bool = False

    def authenticate(self, request: web.Request) -> UserInfo | None:
        """The request's user, None if unauthenticated and anonymous requests are not allowed; raises
        AuthenticationError (every reason joined) for credentials that were not recognised."""
        failures = []
        for authenticator in self.authenticators:
            try:
                user = authenticator.authenticate(request)
            except AuthenticationError as err:
                failures.append(str(err))
                continue
            if user is not None:
                return user.with_authenticated_group()
        if failures:
            raise AuthenticationError(", ".join(failures))
        return ANONYMOUS_USER if self.anonymous else None
