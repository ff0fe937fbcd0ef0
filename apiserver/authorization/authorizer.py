"""authorizer.Attributes and the authorizers of `--authorization-mode`: a chain asked in order, the first
decision that is not "no opinion" wins (upstream's union), `system:masters` allowed before any of them.
RBAC (apiserver/rbac) reads the app's roles and bindings."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from apiserver.authentication.user import MASTERS, UserInfo


class Decision(enum.Enum):
    DENY = 0
    ALLOW = 1
    NO_OPINION = 2


@dataclass(frozen=True)
class Attributes:
    """What a request asks to do (upstream's RequestInfo with the user): a resource request names a verb of the
    API (get, list, watch, create, update, patch, delete, deletecollection) on a resource, a non-resource request
    the lower-case HTTP method on a path."""

    user: UserInfo
    verb: str
    path: str
    resource_request: bool = False
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""


class Authorizer(Protocol):
    def authorize(self, attributes: Attributes) -> tuple[Decision, str]:
        """The decision and, for a denial, the reason appended to the 403's message ("" for none)."""
        ...


class AsyncAuthorizer(Protocol):
    """An authorizer that asks elsewhere (delegated authorization)."""

    async def authorize(self, attributes: Attributes) -> tuple[Decision, str]:
        ...


AnyAuthorizer = Authorizer | AsyncAuthorizer


async def authorize(authorizer: AnyAuthorizer, attributes: Attributes) -> tuple[Decision, str]:
    """Ask either kind of authorizer."""
    result = authorizer.authorize(attributes)
    if isinstance(result, tuple):
        return result
    return await result


class AlwaysAllow:
    def authorize(self, attributes: Attributes) -> tuple[Decision, str]:
        return Decision.ALLOW, ""


class AlwaysDeny:
    def authorize(self, attributes: Attributes) -> tuple[Decision, str]:
        return Decision.NO_OPINION, "Everything is forbidden."


class PrivilegedGroups:
    """Members of these groups may do anything, whatever the other authorizers say."""

    def __init__(self, groups: Sequence[str] = (MASTERS,)) -> None:
        self.groups = frozenset(groups)

    def authorize(self, attributes: Attributes) -> tuple[Decision, str]:
        allowed = not self.groups.isdisjoint(attributes.user.groups)
        return (Decision.ALLOW, "") if allowed else (Decision.NO_OPINION, "")


class Union:
    """Authorizers asked in order: the first that allows or denies decides; the reasons of those with no opinion
    are joined for the 403."""

    def __init__(self, authorizers: Sequence[Authorizer]) -> None:
        self.authorizers = tuple(authorizers)

    def authorize(self, attributes: Attributes) -> tuple[Decision, str]:
        reasons = []
        for authorizer in self.authorizers:
            decision, reason = authorizer.authorize(attributes)
            if decision is not Decision.NO_OPINION:
                return decision, reason
            if reason:
                reasons.append(reason)
        return Decision.NO_OPINION, "\n".join(reasons)


def _rbac(app: web.Application) -> Authorizer:
    from apiserver.rbac.authorizer import RBACAuthorizer  # imports the kinds, which import this module's users

    return RBACAuthorizer(app)


MODES: dict[str, Callable[[web.Application], Authorizer]] = {
    "AlwaysAllow": lambda app: AlwaysAllow(), "AlwaysDeny": lambda app: AlwaysDeny(), "RBAC": _rbac}


def parse_modes(value: str) -> tuple[str, ...]:
    """`--authorization-mode`: comma-separated modes, each known and given once."""
    modes = tuple(m.strip() for m in value.split(",") if m.strip())
    if not modes:
        raise ValueError("at least one authorization-mode must be passed")
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"authorization-mode {mode!r} is not a valid mode (known: {', '.join(MODES)})")
    if len(set(modes)) != len(modes):
        raise ValueError(f"authorization-mode {value!r} has mode specified more than once")
    return modes


def new_authorizer(modes: Sequence[str], app: web.Application) -> Authorizer | None:
    """The request authorizer of these modes; None when every request is allowed (AlwaysAllow first: nothing to
    ask, so nothing is installed)."""
    if modes[0] == "AlwaysAllow":
        return None
    return Union([PrivilegedGroups(), *(MODES[mode](app) for mode in modes)])
