"""The filters every request passes before the API's handlers, in the order of upstream's DefaultBuildHandlerChain:
the request timeout, authentication, auditing, the in-flight limits (which let `system:masters` through), then
authorization (the authentication, audit and authorization middlewares installed only when the flags ask for
them); the reviews they answer; and, under RBAC, the bootstrap policy and aggregation controller (the
rbac.authorization.k8s.io kinds are always served, the policy bootstrapped only under RBAC, as upstream)."""

from __future__ import annotations

import functools

from aiohttp import web

from apiserver import audit
from apiserver.authentication import selfsubjectreview
from apiserver.authentication.filter import authenticator_for, with_authentication
from apiserver.authentication.serviceaccount import (
    KEY_FILE,
    SERVICE_ACCOUNT_TOKENS,
    ServiceAccountAuthenticator,
    ServiceAccountTokens,
)
from apiserver.authorization import reviews
from apiserver.authorization.authorizer import AnyAuthorizer, new_authorizer, parse_modes
from apiserver.authorization.delegated import delegated_authorizer
from apiserver.authorization.filter import with_authorization
from apiserver.filters import maxinflight, timeout
from apiserver.rbac.aggregation import rbac_context
from apiserver.secure_serving import cert_dir, server_url
from apiserver.state import CONFIG, REGISTRIES


def install_filters(app: web.Application) -> None:
    """Time, authenticate, audit, limit and authorize every request as the app's Config asks; serve the reviews."""
    config = app[CONFIG]
    timeout.setup(app)  # outside the in-flight limits: a request over time frees its slot
    authenticator = authenticator_for(config)
    tokens = app[SERVICE_ACCOUNT_TOKENS] = ServiceAccountTokens(
        server_url(config), cert_dir(config) / KEY_FILE if config.secure else None)
    if authenticator is not None:  # the tokens of TokenRequests are bearer tokens too, asked last
        accounts = ServiceAccountAuthenticator(tokens, functools.partial(_account_uid, app))
        authenticator.authenticators = (*authenticator.authenticators, accounts)
    audit_log = audit.setup(app, config)
    if authenticator is not None:
        if audit_log is not None:
            app.middlewares.append(audit.with_failed_authentication_audit(audit_log))
        app.middlewares.append(with_authentication(authenticator))
    if audit_log is not None:
        app.middlewares.append(audit.with_audit(audit_log))
    maxinflight.setup(app)  # after authentication: it sees the user
    authorizer: AnyAuthorizer | None
    if config.authorization_kubeconfig:
        authorizer = delegated_authorizer(app, config.authorization_kubeconfig, config.authorization_always_allow_paths,
                                          config.authorization_webhook_cache_authorized_ttl,
                                          config.authorization_webhook_cache_unauthorized_ttl)
    else:
        authorizer = new_authorizer(parse_modes(config.authorization_mode), app)
    if authorizer is not None:
        app.middlewares.append(with_authorization(authorizer))
    reviews.setup(app, authorizer)
    selfsubjectreview.setup(app)
    if "RBAC" in parse_modes(config.authorization_mode):  # upstream bootstraps the policy under RBAC only
        app.cleanup_ctx.append(rbac_context)  # after storage_context: the bootstrap roles, then aggregation


def _account_uid(app: web.Application, namespace: str, name: str) -> str | None:
    """The uid of a service account as the watch cache has it (upstream's token validator reads its informer)."""
    registry = app[REGISTRIES].get("serviceaccounts")
    event = registry.cacher.cache.store.get(registry.key(namespace, name)) if registry is not None else None
    return None if event is None else event.obj["metadata"].get("uid")
