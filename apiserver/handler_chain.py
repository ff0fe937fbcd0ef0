"""The filters every request passes before the API's handlers (upstream's DefaultBuildHandlerChain): authentication,
then auditing, then authorization, each a middleware installed only when the flags ask for it; the reviews they
answer; and the RBAC bootstrap policy and aggregation controller (the rbac.authorization.k8s.io kinds are always
served, as upstream)."""

from __future__ import annotations

import functools

from aiohttp import web

from apiserver import audit
from apiserver.authentication import selfsubjectreview
from apiserver.authentication.filter import authenticator_for, with_authentication
from apiserver.authentication.serviceaccount import KEY_FILE, SERVICE_ACCOUNT_TOKENS, ServiceAccountTokens
from apiserver.authorization import reviews
from apiserver.authorization.authorizer import new_authorizer, parse_modes
from apiserver.authorization.filter import with_authorization
from apiserver.rbac.aggregation import rbac_context
from apiserver.secure_serving import cert_dir, server_url
from apiserver.state import CONFIG, REGISTRIES


def install_filters(app: web.Application) -> None:
    """Authenticate every request as the app's Config asks, then authorize it; serve SelfSubjectReview."""
    config = app[CONFIG]
    authenticator = authenticator_for(config)
    tokens = app[SERVICE_ACCOUNT_TOKENS] = ServiceAccountTokens(
        server_url(config), cert_dir(config) / KEY_FILE if config.secure else None)
    if authenticator is not None:
        authenticator.service_account = lambda token: tokens.user(token, functools.partial(_account_uid, app))
    audit_log = audit.setup(app, config)
    if authenticator is not None:
        if audit_log is not None:
            app.middlewares.append(audit.with_failed_authentication_audit(audit_log))
        app.middlewares.append(with_authentication(authenticator))
    if audit_log is not None:
        app.middlewares.append(audit.with_audit(audit_log))
    authorizer = new_authorizer(parse_modes(config.authorization_mode), app)
    if authorizer is not None:
        app.middlewares.append(with_authorization(authorizer))
    reviews.setup(app, authorizer)
    selfsubjectreview.setup(app)
    app.cleanup_ctx.append(rbac_context)  # after storage_context: the bootstrap roles, then aggregation


def _account_uid(app: web.Application, namespace: str, name: str) -> str | None:
    """The uid of a service account as the watch cache has it (upstream's token validator reads its informer)."""
    registry = app[REGISTRIES]["serviceaccounts"]
    event = registry.cacher.cache.store.get(registry.key(namespace, name))
    return None if event is None else event.obj["metadata"].get("uid")
