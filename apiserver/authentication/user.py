"""user.Info: the identity the authenticators give a request, and the well-known users and groups."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ANONYMOUS = "system:anonymous"
UNAUTHENTICATED = "system:unauthenticated"
AUTHENTICATED = "system:authenticated"
MASTERS = "system:masters"  # the privileged group: every request of its members is authorized
UNSECURED = "system:unsecured"  # whoever talks to a server that authenticates nobody (upstream's insecure port)

CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


@dataclass(frozen=True)
class UserInfo:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def with_authenticated_group(self) -> UserInfo:
        """The user with `system:authenticated` added, as upstream's AuthenticatedGroupAdder does."""
        if AUTHENTICATED in self.groups or self.name == ANONYMOUS or UNAUTHENTICATED in self.groups:
            return self
        return UserInfo(self.name, self.uid, (*self.groups, AUTHENTICATED), self.extra)

    def to_dict(self) -> dict[str, Any]:
        """authentication.k8s.io/v1 UserInfo, empty fields left out."""
        info: dict[str, Any] = {"username": self.name}
        if self.uid:
            info["uid"] = self.uid
        if self.groups:
            info["groups"] = list(self.groups)
        if self.extra:
            info["extra"] = {key: list(values) for key, values in self.extra.items()}
        return info


ANONYMOUS_USER = UserInfo(ANONYMOUS, groups=(UNAUTHENTICATED,))
UNSECURED_USER = UserInfo(UNSECURED, groups=(MASTERS, AUTHENTICATED))
