"""WithAuthentication: the middleware that authenticates every request (health checks and `/metrics` included,
as upstream) and attaches its user; a request it cannot authenticate is a 401 `Unauthorized` Status."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from apiserver.authentication.authenticator import (AuthenticationError, Authenticator, RequestAuthenticator,
                                                    TokenAuthenticator)
from apiserver.authentication.tokenfile import read_token_file
from apiserver.authentication.user import UNSECURED_USER, UserInfo
from apiserver.config import Config
from apiserver.errors import StatusError
from apiserver.secure_serving import admin_token_file

log = logging.getLogger(__name__)

USER: web.RequestKey[UserInfo] = web.RequestKey("user", UserInfo)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def user_of(request: web.Request) -> UserInfo:
    """The request's user: `system:unsecured` (in `system:masters`) on a server that authenticates nobody."""
    user: UserInfo = request.get(USER, UNSECURED_USER)
    return user


def unauthorized() -> StatusError:
    return StatusError(401, "Unauthorized", "Unauthorized")


def authenticator_for(config: Config) -> Authenticator | None:
    """The authenticator the flags ask for, None when they configure no credential at all (then nobody is
    authenticated and every request is `system:unsecured`). Raises OSError or TokenFileError for a bad file."""
    files = [f for f in (config.token_auth_file, admin_token_file(config)) if f]
    if not files and not config.client_ca_file and not config.requestheader_client_ca_file:
        return None
    authenticators: list[RequestAuthenticator] = []
    # imported when asked for: cryptography takes ~25 ms to import
    if config.requestheader_client_ca_file:
        from apiserver.authentication.requestheader import RequestHeaderAuthenticator, RequestHeaderConfig

        authenticators.append(RequestHeaderAuthenticator(RequestHeaderConfig(
            config.requestheader_client_ca_file, config.requestheader_allowed_names,
            config.requestheader_username_headers, config.requestheader_group_headers,
            config.requestheader_extra_headers_prefix)))
    if config.client_ca_file:
        from apiserver.authentication.x509 import CertificateAuthenticator

        authenticators.append(CertificateAuthenticator(config.client_ca_file))
    tokens: dict[str, UserInfo] = {}
    for path in files:
        tokens.update(read_token_file(path))
    authenticators.append(TokenAuthenticator(tokens))
    anonymous = config.anonymous_auth
    if anonymous and "AlwaysAllow" in config.authorization_mode.split(",") and not config.authorization_kubeconfig:
        log.warning("AnonymousAuth is not allowed with the AlwaysAllow authorizer. Resetting AnonymousAuth to false. "
                    "You should use a different authorizer")
        anonymous = False
    return Authenticator(authenticators, anonymous)


def with_authentication(authenticator: Authenticator) -> Middleware:
    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            user = authenticator.authenticate(request)
        except AuthenticationError as err:
            log.debug("unable to authenticate the request: %s", err)
            user = None
        if user is None:
            raise unauthorized()
        request[USER] = user
        return await handler(request)

    return authenticate
