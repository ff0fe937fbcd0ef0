"""Delegated authorization (`--authorization-kubeconfig`), as the generic apiserver's DelegatingAuthorizationOptions
build it for an aggregated API server: the `--authorization-always-allow-paths` (the probes) and `system:masters`
are allowed here, every other request is asked of the kube-apiserver as a SubjectAccessReview, its answers cached
(`--authorization-webhook-cache-authorized-ttl`/`-unauthorized-ttl`, 10 s each). A review that cannot be had is
an error (the request's 500), as upstream's webhook authorizer fails."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Sequence

import aiohttp
from aiohttp import web

from apiserver.authentication.user import MASTERS, UserInfo
from apiserver.authorization.authorizer import Attributes, Decision
from apiserver.clientconfig import ClientConfig, load_client_config

log = logging.getLogger(__name__)

REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
TIMEOUT = 10.0  # upstream's ClientTimeout
CACHED = 10_000  # answers kept at most


class AuthorizationError(Exception):
    """The kube-apiserver could not be asked."""


def review_spec(attributes: Attributes) -> dict[str, object]:
    """The SubjectAccessReviewSpec of a request, as upstream's webhook authorizer writes it."""
    user = attributes.user
    spec: dict[str, object] = {}
    if attributes.resource_request:
        resource = {"namespace": attributes.namespace, "verb": attributes.verb, "group": attributes.api_group,
                    "version": attributes.api_version, "resource": attributes.resource,
                    "subresource": attributes.subresource, "name": attributes.name}
        spec["resourceAttributes"] = {key: value for key, value in resource.items() if value}
    else:
        spec["nonResourceAttributes"] = {"path": attributes.path, "verb": attributes.verb}
    spec["user"] = user.name
    if user.groups:
        spec["groups"] = list(user.groups)
    if user.extra:
        spec["extra"] = {key: list(values) for key, values in user.extra.items()}
    if user.uid:
        spec["uid"] = user.uid
    return spec


def path_allowed(path: str, allowed: Sequence[str]) -> bool:
    """A path of `--authorization-always-allow-paths`: exact, or a prefix ending in `*`."""
    return any(path == pattern or (pattern.endswith("*") and path.startswith(pattern[:-1])) for pattern in allowed)


class DelegatedAuthorizer:
    def __init__(self, client: ClientConfig, always_allow_paths: Sequence[str], allowed_ttl: float,
                 denied_ttl: float, always_allow_groups: Sequence[str] = (MASTERS,)) -> None:
        self.client = client
        self.paths = tuple(always_allow_paths)
        self.groups = frozenset(always_allow_groups)
        self.ttl = {True: allowed_ttl, False: denied_ttl}
        self.cache: dict[str, tuple[float, Decision, str]] = {}
        self.session: aiohttp.ClientSession | None = None

    async def authorize(self, attributes: Attributes) -> tuple[Decision, str]:
        if not attributes.resource_request and path_allowed(attributes.path, self.paths):
            return Decision.ALLOW, ""
        if not self.groups.isdisjoint(attributes.user.groups):
            return Decision.ALLOW, ""
        spec = review_spec(attributes)
        key = json.dumps(spec, sort_keys=True)
        now = time.monotonic()
        cached = self.cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1], cached[2]
        status = await self._review(spec)
        decision = Decision.ALLOW if status.get("allowed") else (
            Decision.DENY if status.get("denied") else Decision.NO_OPINION)
        reason = str(status.get("reason", ""))
        if len(self.cache) >= CACHED:
            self.cache = {k: v for k, v in self.cache.items() if v[0] > now}
        if len(self.cache) < CACHED:
            self.cache[key] = (now + self.ttl[decision is Decision.ALLOW], decision, reason)
        return decision, reason

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict[str, object]], list[str]]:
        """A SelfSubjectRulesReview here knows no rules (incomplete), as upstream's webhook authorizer."""
        return [], ["webhook authorizer does not support user rule resolution"]

    async def _review(self, spec: dict[str, object]) -> dict[str, object]:
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT))
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        try:
            async with self.session.post(self.client.server + REVIEWS, json=review, headers=self.client.headers,
                                         ssl=self.client.ssl_context or False) as response:
                body = await response.read()
                if response.status != 201:
                    raise AuthorizationError(f"SubjectAccessReview: {response.status} {body[:200]!r}")
                answer = json.loads(body)
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            raise AuthorizationError(f"SubjectAccessReview: {err}") from None
        status = answer.get("status") or {}
        return status if isinstance(status, dict) else {}

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None


def delegated_authorizer(app: web.Application, kubeconfig: str, always_allow_paths: Sequence[str],
                         allowed_ttl: float, denied_ttl: float) -> DelegatedAuthorizer:
    """The authorizer, its session closed with the app."""
    authorizer = DelegatedAuthorizer(load_client_config(kubeconfig), always_allow_paths, allowed_ttl, denied_ttl)

    async def session(app: web.Application) -> AsyncIterator[None]:
        yield
        await authorizer.close()

    app.cleanup_ctx.append(session)
    return authorizer
