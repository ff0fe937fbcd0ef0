"""WithAuthorization: the middleware that asks the authorizer about every request (after authentication) and
answers a request it does not allow with upstream's 403 Status."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from apiserver import errors
from apiserver.audit import DECISION
from apiserver.authentication.filter import user_of
from apiserver.authorization.authorizer import AnyAuthorizer, Attributes, Decision, Union, authorize
from apiserver.authorization.delegated import AuthorizationError
from apiserver.authorization.request_info import attributes
from apiserver.handlers import negotiation
from apiserver.validation.field import go_quote

log = logging.getLogger(__name__)


def with_authorization(authorizer: AnyAuthorizer) -> Middleware:
    from apiserver.rbac.authorizer import RBACAuthorizer  # the kinds import this package
    from apiserver.rbac.escalation import REQUESTER, Requester

    members = authorizer.authorizers if isinstance(authorizer, Union) else (authorizer,)
    resolver = next((member for member in members if isinstance(member, RBACAuthorizer)), None)

    @web.middleware
    async def authorizing(request: web.Request, handler: Handler) -> web.StreamResponse:
        asked = attributes(user_of(request), request.method, request.path, request.query)
        try:
            decision, reason = await authorize(authorizer, asked)
        except AuthorizationError as err:  # upstream's WithAuthorization: an authorizer's error is a 500
            log.warning("authorization of %s %s failed: %s", request.method, request.path, err)
            return forbidden_response(request, errors.internal(str(err)))
        request[DECISION] = ("allow" if decision is Decision.ALLOW else "forbid", reason)
        if decision is not Decision.ALLOW:
            log.debug("forbidden: %s (%s)", asked, reason)
            return forbidden_response(request, forbidden(asked, reason))
        if resolver is not None:  # who writes roles and bindings, for escalation prevention
            assert isinstance(authorizer, Union)
            REQUESTER.set(Requester(asked.user, authorizer, resolver))
        return await handler(request)

    return authorizing


def forbidden_response(request: web.Request, err: errors.StatusError) -> web.Response:
    """The 403 (or 500) Status as the request's Accept asks, with upstream's `X-Content-Type-Options: nosniff`."""
    encoding = negotiation.error_encoding(request)
    return web.Response(body=negotiation.dumps(err.to_status(), encoding), status=err.code,
                        content_type=negotiation.content_type(encoding), headers={"X-Content-Type-Options": "nosniff"})


def forbidden(asked: Attributes, reason: str) -> errors.StatusError:
    """Upstream's responsewriters.Forbidden: who cannot do what, the reason after a colon, as a Forbidden error of
    the resource (if any) and name asked for."""
    user = asked.user.name
    if not asked.resource_request:
        what = f"User {go_quote(user)} cannot {asked.verb} path {go_quote(asked.path)}"
    else:
        resource = f"{asked.resource}/{asked.subresource}" if asked.subresource else asked.resource
        where = f"in the namespace {go_quote(asked.namespace)}" if asked.namespace else "at the cluster scope"
        what = (f"User {go_quote(user)} cannot {asked.verb} resource {go_quote(resource)} in API group "
                f"{go_quote(asked.api_group)} {where}")
    if reason:
        what = f"{what}: {reason}"
    qualified = f"{asked.resource}.{asked.api_group}" if asked.api_group else asked.resource
    details: dict[str, str] = {}
    if asked.name:
        details["name"] = asked.name
    if asked.api_group:
        details["group"] = asked.api_group
    if asked.resource:
        details["kind"] = asked.resource
    if not qualified:
        return errors.forbidden(f"forbidden: {what}", details)
    if not asked.name:
        return errors.forbidden(f"{qualified} is forbidden: {what}", details)
    return errors.forbidden(f"{qualified} {go_quote(asked.name)} is forbidden: {what}", details)
